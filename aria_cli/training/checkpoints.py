"""Every checkpoint folder and file name, once; saving a checkpoint folder as one unit.

    CHECKPOINTS/
      vqvae/          config.json, model.safetensors (best), metrics.json, metrics.jsonl, reconstructions.png
      vqvae/last/     config.json, model.safetensors, train_state.pt
      world_model/    best/, last/ (config.json + model.safetensors or adapter.safetensors; last/ also
                      train_state.pt), cache/ (token cache), metrics.json, metrics.jsonl, curves.png
      policy/         config.json, model.safetensors (best), metrics.json, metrics.jsonl, features/
      policy/last/    config.json, model.safetensors, train_state.pt
      quickstart.json which inputs each stage of `aria quickstart` was trained on

The tokenizer's and the policy's best model sit at their stage folder's top (config.json and
model.safetensors, each replaced atomically); their config does not change within a run, so a kill
between the two leaves either model whole, or (a new run of another size) a pair that does not load and
says so in one line naming the file.

A checkpoint folder (`last/`, `best/`) changes as one unit: `save_folder` writes every file into
`.NAME.partial/`, renames that to `.NAME.complete/` once all are on disk, and only then swaps it in for
`NAME/`. A kill at any moment leaves either the old folder or the new one whole: `recover` (run by
every trainer before it reads or writes a folder) drops a `.partial` folder and finishes the swap of a
`.complete` one, and removes temporary files left by `aria_cli.common.atomic`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from aria_cli.common.errors import CheckpointError

TOKENIZER = "vqvae"
WORLD_MODEL = "world_model"
POLICY = "policy"
BEST = "best"
LAST = "last"
TOKEN_CACHE = "cache"
FEATURES = "features"
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
STATE_FILE = "train_state.pt"
METRICS_FILE = "metrics.json"
METRICS_LOG = "metrics.jsonl"
CURVES_FILE = "curves.png"  # the world model's training curves
RECONSTRUCTIONS_FILE = "reconstructions.png"  # the tokenizer's worst val reconstructions
QUICKSTART_FILE = "quickstart.json"  # which inputs each stage of `aria quickstart` was trained on

# Test hook: the n-th save of a folder named `last` in this process stops between two of its files (or,
# with stage "swap", after the new folder is complete but before it is swapped in), writes READY_FILE
# and waits to be killed. Only tests set it (tests/training/test_kill.py).
PAUSE_ENV = "ARIA_TEST_PAUSE_SAVE"  # "READY_FILE:N:STAGE", STAGE = files | swap
_saves_of_last = 0


def tokenizer_dir(checkpoints: Path) -> Path:
    return Path(checkpoints) / TOKENIZER


def world_model_dir(checkpoints: Path) -> Path:
    return Path(checkpoints) / WORLD_MODEL


def world_model_best(checkpoints: Path) -> Path:
    return world_model_dir(checkpoints) / BEST


def world_model_folder(checkpoints: Path) -> Path:
    """The world model the later stages read (`world_model/best`); names the command to run when it is missing."""
    folder = world_model_best(checkpoints)
    if not (folder / CONFIG_FILE).exists():
        raise CheckpointError(f"no world model under {folder}: run `aria train-wm` first")
    return folder


def token_cache_dir(checkpoints: Path) -> Path:
    return world_model_dir(checkpoints) / TOKEN_CACHE


def policy_dir(checkpoints: Path) -> Path:
    return Path(checkpoints) / POLICY


def policy_features_dir(checkpoints: Path) -> Path:
    return policy_dir(checkpoints) / FEATURES


def last_dir(stage_dir: Path) -> Path:
    return Path(stage_dir) / LAST


def file_sha256(path: Path) -> str:
    """What "this input changed" means everywhere (recordings, checkpoints): a content hash.

    Not size + mtime: a copied or re-recorded folder keeps its content and gets new times (a needless
    rebuild), and a file rewritten within the clock's resolution keeps its size and time (a stale
    result, the worse fault). Hashing the recordings costs well under a second per hundred MB.
    """
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def files_fingerprint(named: list[tuple[str, Path]]) -> str:
    """One hash over (name, content hash) pairs, in the order given."""
    h = hashlib.sha256()
    for name, path in named:
        h.update(f"{name}\0{file_sha256(path)}\n".encode())
    return h.hexdigest()


def read_config(path: Path, what: str, command: str) -> dict:
    """A checkpoint's config.json as a dict; unreadable or not an object is one line naming the file and the
    command that rewrites it."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable {what} config ({e}); retrain with `{command}`") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: not a {what} config; retrain with `{command}`")
    return raw


def _partial(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.partial"


def _complete(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.complete"


def _old(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.old"


def recover(folder: Path) -> None:
    """Make `folder` whole after a kill during `save_folder`, and remove leftover temporary files."""
    folder = Path(folder)
    if _partial(folder).exists():
        shutil.rmtree(_partial(folder))
    if _complete(folder).exists():
        _swap_in(folder)
    if _old(folder).exists():
        shutil.rmtree(_old(folder))
    for parent in (folder, folder.parent):
        if parent.is_dir():
            for tmp in parent.glob(".*.tmp"):  # common.atomic's temporary files
                tmp.unlink(missing_ok=True)


def save_folder(folder: Path, writers: list[Callable[[Path], None]]) -> None:
    """Write a checkpoint folder as one unit: each `writer(tmp_folder)` writes its files into a new
    folder, which then replaces `folder` (see the module docstring)."""
    global _saves_of_last
    folder = Path(folder)
    recover(folder)
    part = _partial(folder)
    part.mkdir(parents=True)
    pause = _pause_point(folder)
    for i, write in enumerate(writers):
        if i == 1 and pause == "files":
            _wait_to_be_killed()
        write(part)
    for p in part.iterdir():
        if p.is_file() and not p.is_symlink():  # a writer's subfolders (of links, say) land with the rename
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    part.rename(_complete(folder))
    if pause == "swap":
        _wait_to_be_killed()
    _swap_in(folder)
    shutil.rmtree(_old(folder), ignore_errors=True)


def _swap_in(folder: Path) -> None:
    if folder.exists():
        if _old(folder).exists():
            shutil.rmtree(_old(folder))
        folder.rename(_old(folder))
    _complete(folder).rename(folder)


def _pause_point(folder: Path) -> str | None:
    global _saves_of_last
    spec = os.environ.get(PAUSE_ENV)
    if not spec or folder.name != LAST:
        return None
    _saves_of_last += 1
    _, n, stage = spec.rsplit(":", 2)
    return stage if _saves_of_last == int(n) else None


def _wait_to_be_killed() -> None:
    ready = Path(os.environ[PAUSE_ENV].rsplit(":", 2)[0])
    ready.write_text(str(os.getpid()))
    while True:
        time.sleep(1)
