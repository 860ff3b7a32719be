"""The trained stack: tokenizer → world model → policy, and the one check that they still fit together.

Each stage records what it was trained on: the world model its tokenizer's fingerprint
(`tokenizer_fingerprint` in world_model/best/config.json), the policy its world model's
(`world_model_checkpoint` in policy/config.json). Retraining an earlier stage makes the later ones
silently wrong (a world model reading another tokenizer's codes), so everything that loads trained
models for use — eval, play, the learned agents, train-policy — calls `check_stack` first: a mismatch
is one line naming the stage to retrain, or, with --force, a warning.

It lives beside the stages rather than in any one of them because it reads all three checkpoints; the
stages stay independent of each other and the consumers (evaluation, play, agents) sit above it.
"""

from __future__ import annotations

from pathlib import Path

from aria_cli.common import ui
from aria_cli.common.errors import CheckpointError
from aria_cli.training.checkpoints import (
    CONFIG_FILE,
    files_fingerprint,
    policy_dir,
    read_config,
    tokenizer_dir,
    world_model_folder,
)

FORCE_HINT = "or pass --force to use them anyway"


class StaleStackError(CheckpointError):
    """A stage trained on another version of the stage before it."""


def world_model_fingerprint(folder: Path) -> str:
    """What a policy records about the world model it was trained on: a content hash of its checkpoint."""
    from aria_cli.policy.features import checkpoint_fingerprint

    return checkpoint_fingerprint(folder)


def models_fingerprint(checkpoints: Path) -> str:
    """One content hash of the trained stack's configs and weights (tokenizer, world model, policy heads):
    what `aria bench` records, so that runs of other models are never resumed into or merged as the same
    agent's. Training metrics and caches are left out: they change without the models changing."""
    checkpoints = Path(checkpoints)  # paths and files only: `aria bench`'s parent process never loads torch
    folders = {"vqvae": tokenizer_dir(checkpoints), "world_model": world_model_folder(checkpoints),
               "policy": policy_dir(checkpoints)}  # fmt: skip
    return files_fingerprint([(f"{stage}/{f.name}", f) for stage, folder in folders.items()
                              for f in sorted(Path(folder).glob("*"))
                              if f.is_file() and (f.name == CONFIG_FILE or f.suffix == ".safetensors")])  # fmt: skip


def stale_stages(checkpoints: Path, policy: bool = True) -> list[str]:
    """One message per stage trained on something other than what is now under `checkpoints` (empty: all fit).

    Stages that predate the fingerprints (nothing recorded) pass. Missing checkpoints raise the usual
    CheckpointError naming the command to run."""
    from aria_cli.tokenizer import model as vqvae
    from aria_cli.training.checkpoints import policy_dir
    from aria_cli.world_model.model import WorldModel

    checkpoints = Path(checkpoints)
    wm_folder = world_model_folder(checkpoints)
    # A damaged file changes a fingerprint too: name it as damaged, not as another stage's.
    _check_weights(vqvae.vqvae_dir(checkpoints), "aria train-vqvae")
    _check_weights(wm_folder, "aria train-wm")
    stale = []
    recorded = WorldModel.config_of(wm_folder)[0].tokenizer_fingerprint
    if recorded and recorded != vqvae.tokenizer_fingerprint(checkpoints):
        stale.append(f"the world model in {wm_folder} was trained with another tokenizer than the one in "
                     f"{vqvae.vqvae_dir(checkpoints)}: retrain it with `aria train-wm`, then `aria train-policy`")
    if policy:
        recorded = _policy_config(policy_dir(checkpoints)).get("world_model_checkpoint")
        if recorded and recorded != world_model_fingerprint(wm_folder):
            stale.append(f"the policy in {policy_dir(checkpoints)} was trained on another world model than the one "
                         f"in {wm_folder}: retrain it with `aria train-policy`")
    return stale


def check_stack(checkpoints: Path, force: bool = False, policy: bool = True) -> None:
    """Refuse a stale stack (StaleStackError, one line); with `force`, warn and go on. A world model and a
    tokenizer of different token layouts (codebook sizes) are refused even with `force`: the codes do not fit."""
    check_layouts(checkpoints)
    stale = stale_stages(checkpoints, policy=policy)
    if stale and not force:
        raise StaleStackError(f"{'; '.join(stale)} ({FORCE_HINT})")
    for message in stale:
        ui.print_warning(f"--force: {message}")


def check_layouts(checkpoints: Path) -> None:
    """The world model reads the token layout the tokenizer writes (aria_cli.vocab: it follows the codebook size)."""
    from aria_cli.tokenizer import model as vqvae
    from aria_cli.vocab import check_layout
    from aria_cli.world_model.model import WorldModel

    wm_folder = world_model_folder(checkpoints)
    n_codes = WorldModel.config_of(wm_folder)[0].n_codes
    check_layout(n_codes, vqvae.tokenizer_vocab(checkpoints).n_codes, wm_folder, f"the tokenizer in {vqvae.vqvae_dir(checkpoints)}")


def _check_weights(folder: Path, command: str) -> None:
    """Each safetensors file in `folder` is whole (its header read, its size checked; no weights loaded)."""
    from safetensors import safe_open

    for path in sorted(Path(folder).glob("*.safetensors")):
        try:
            with safe_open(str(path), "np"):
                pass
        except Exception as e:  # noqa: BLE001 — safetensors raises several types for a damaged file
            msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise CheckpointError(f"{path}: cannot load ({msg}); retrain with `{command}`") from None


def _policy_config(folder: Path) -> dict:
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"no policy under {folder}: run `aria train-policy` first")
    return read_config(path, "policy", "aria train-policy")
