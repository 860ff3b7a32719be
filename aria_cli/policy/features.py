"""Frozen world-model features for the policy heads, computed once and cached.

For every step that has an action, the world model reads the *masked* window (action tokens replaced
by MASK) and we keep the hidden state at the masked [ACT] slot (the frame summary) and at the frame's
64 code positions. Windows are the world model's evaluation windows (aria_cli.world_model.data.eval_windows:
one step of overlap), so every step after an episode's first is read with the step before it in view,
as the agent, whose context slides, always reads it.

The cache (`checkpoints/policy/features/`, `training.checkpoints.policy_features_dir`) is keyed by the token cache's fingerprint (recordings,
tokenizer, vocabulary), the world model's weights and the window size: retraining the world model or
changing the data invalidates it by itself. The 64 cell states per step are most of it (a corpus of
150,000 steps: 5 GB), so they go to `cells.npy`, written as they are extracted and memory-mapped when
read; a split of them (`StepFeatures.take`) is a view of rows, read batch by batch. `features.json`,
written last, is the commit point.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aria_cli.common import atomic, ui
from aria_cli.training import checkpoints as ck
from aria_cli.vocab import FRAME_TOKENS, N_CELLS, Vocab, mask_actions

FEATURES_VERSION = 4  # 3: cells in their own memory-mapped .npy; 4: click points


def checkpoint_fingerprint(folder: Path) -> str:
    """Content hash of a checkpoint folder's config and weight files."""
    files = sorted(p for p in Path(folder).glob("*") if p.suffix in (".json", ".safetensors") and p.is_file())
    return ck.files_fingerprint([(p.name, p) for p in files])


class Rows:
    """Rows `idx` of a memory-mapped array, read only when indexed: a split of the cell states that costs
    no memory until a batch reads it."""

    def __init__(self, base: np.ndarray, idx: np.ndarray):
        self.base, self.idx = base, np.asarray(idx, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.idx)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.idx), *self.base.shape[1:])

    def __getitem__(self, rows) -> np.ndarray:
        return np.asarray(self.base[self.idx[rows]])


def _take_rows(a, idx: np.ndarray):
    if isinstance(a, Rows):
        return Rows(a.base, a.idx[idx])
    return Rows(a, idx) if isinstance(a, np.memmap) else a[idx]


@dataclass
class StepFeatures:
    summary: np.ndarray  # (N, H) float16: hidden state at the masked [ACT] slot
    cells: np.ndarray | Rows  # (N, 64, H) float16: hidden states at the 64 code positions (often memory-mapped)
    types: np.ndarray  # (N,) action type taken
    locs: np.ndarray  # (N,) location (cell, or 64 = NULL)
    points: np.ndarray  # (N,) where in its cell a click landed (vocab.click_point), -1 for other actions
    prev_types: np.ndarray  # (N,) previous action in the episode, -1 at its start
    prev_locs: np.ndarray
    episode: np.ndarray  # (N,) index into the token cache's episodes
    key: str = ""
    # (N,) row of the previous step of the same episode (the row itself at an episode's first step).
    # Derived from the row order, not cached.
    prev: np.ndarray = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.prev is None:
            self.prev = previous_rows(self.episode)

    def __len__(self) -> int:
        return len(self.types)

    def take(self, idx: np.ndarray) -> StepFeatures:
        """The rows `idx`; a previous step that is not among them becomes the row itself (no change)."""
        idx = np.asarray(idx, dtype=np.int64)
        where = np.full(len(self), -1, dtype=np.int64)
        where[idx] = np.arange(len(idx))
        prev = where[self.prev[idx]]
        prev = np.where(prev >= 0, prev, np.arange(len(idx)))
        return StepFeatures(*(_take_rows(getattr(self, f), idx) for f in _ARRAYS), key=self.key, prev=prev)


def previous_rows(episode: np.ndarray) -> np.ndarray:
    """Row of each step's predecessor, given rows in time order within each episode (itself at a start)."""
    rows = np.arange(len(episode), dtype=np.int64)
    same = np.zeros(len(episode), dtype=bool)
    same[1:] = episode[1:] == episode[:-1]
    return np.where(same, rows - 1, rows)


_ARRAYS = ("summary", "cells", "types", "locs", "points", "prev_types", "prev_locs", "episode")


def window_steps(tokens: np.ndarray, v: Vocab = Vocab()) -> np.ndarray:
    """Positions of the [FRAME] tokens in a base-0 window (of layout `v`) followed by a whole frame and an action."""
    pos = np.flatnonzero(tokens == v.frame)
    return pos[pos + FRAME_TOKENS + 2 < len(tokens)]


def scored_steps(tokens: np.ndarray, scored: int, v: Vocab) -> np.ndarray:
    """The steps of one window that `extract` keeps: the steps before `scored` are the previous window's."""
    pos = window_steps(tokens, v)
    return pos[pos >= scored]


def _rows_per_window(cache, windows, v: Vocab) -> np.ndarray:
    """How many steps each window contributes (what `extract` keeps), from the tokens alone."""
    counts = np.zeros(len(windows), dtype=np.int64)
    for k, (s, e, scored) in enumerate(zip(windows.start, windows.end, windows.scored, strict=True)):
        counts[k] = len(scored_steps(np.asarray(cache.tokens[s:e]), scored, v))
    return counts


@torch.no_grad()
def extract(wm, cache, episode_ids: list[int], batch_size: int = 8, progress=None, cells_path: Path | None = None
            ) -> StepFeatures:  # fmt: skip
    """Features of every action step of the given episodes (see the module docstring). With `cells_path`,
    the cell states are written there as a .npy while they are computed (never all in memory)."""
    from aria_cli.world_model.data import batches, eval_windows

    # The windows the metrics use: every step after an episode's first has the step before it in its context.
    windows = eval_windows(cache, episode_ids, wm.config.context_steps)
    n_rows = int(_rows_per_window(cache, windows, wm.v0).sum())
    out = {f: [] for f in _ARRAYS if f != "cells"}
    cells, at = None, 0
    task = progress.add_task("policy features", total=len(windows)) if progress is not None else None
    for w0, batch in zip(range(0, len(windows), batch_size), batches(cache, windows, batch_size), strict=True):
        tok = batch.tokens.numpy()
        masked = torch.from_numpy(mask_actions(wm.v0, tok)).to(wm.device)
        hidden = wm.hidden_states(masked).float().cpu().numpy()
        if cells is None:
            shape = (n_rows, N_CELLS, hidden.shape[-1])
            cells = (np.lib.format.open_memmap(cells_path, mode="w+", dtype=np.float16, shape=shape)
                     if cells_path is not None and n_rows else np.empty(shape, np.float16))  # fmt: skip
        for r in range(len(tok)):
            n = int(batch.valid[r].sum())
            row = tok[r, :n]
            pos = scored_steps(row, windows.scored[w0 + r], wm.v0)
            if len(pos) == 0:
                continue
            act = pos + FRAME_TOKENS  # the masked [ACT] slot: it has seen the whole frame
            out["summary"].append(hidden[r, act].astype(np.float16))
            cells[at : at + len(pos)] = hidden[r, pos[:, None] + 1 + np.arange(N_CELLS)]
            at += len(pos)
            out["types"].append(row[act + 1] - wm.v0.type0)
            out["locs"].append(row[act + 2] - wm.v0.loc0)
            entry = cache.episodes[windows.episode[w0 + r]]
            step = np.searchsorted(entry.frame_offsets, windows.start[w0 + r] - entry.start + pos)
            out["points"].append(np.asarray(entry.click_points, dtype=np.int64)[step])
            out["episode"].append(np.full(len(pos), windows.episode[w0 + r]))
        if task is not None:
            progress.advance(task, len(tok))
    if cells is None:
        cells = np.zeros((0, N_CELLS, 1), np.float16)
    if isinstance(cells, np.memmap):
        cells.flush()
    elif cells_path is not None:  # nothing to map: an ordinary (empty) .npy
        with open(cells_path, "wb") as f:
            np.save(f, cells)
    feats = {f: np.concatenate(v) if v else np.zeros((0,)) for f, v in out.items()}
    # Previous action within the episode (windows are in episode order, steps in time order).
    prev = previous_rows(feats["episode"])
    first = prev == np.arange(len(prev))
    prev_t = np.where(first, -1, feats["types"][prev]).astype(np.int64)
    prev_l = np.where(first, -1, feats["locs"][prev]).astype(np.int64)
    return StepFeatures(
        summary=feats["summary"],
        cells=cells,
        types=feats["types"].astype(np.int64),
        locs=feats["locs"].astype(np.int64),
        points=feats["points"].astype(np.int64),
        prev_types=prev_t,
        prev_locs=prev_l,
        episode=feats["episode"].astype(np.int64),
    )


def features_key(cache, wm_folder: Path, context_steps: int) -> str:
    payload = json.dumps([FEATURES_VERSION, cache.fingerprint, checkpoint_fingerprint(wm_folder), context_steps])
    return hashlib.sha256(payload.encode()).hexdigest()


def load_or_extract(wm, wm_folder: Path, cache, folder: Path, progress=None) -> tuple[StepFeatures, bool]:
    """Cached features when the key matches, otherwise extract and cache them. Returns (features, reused)."""
    from safetensors.numpy import load_file, save_file

    key = features_key(cache, wm_folder, wm.config.context_steps)
    meta, data, cells = folder / "features.json", folder / "features.safetensors", folder / "cells.npy"
    if meta.exists() and data.exists() and cells.exists():
        try:
            if json.loads(meta.read_text()).get("key") == key:
                arrays = load_file(str(data))
                feats = StepFeatures(**{f: arrays[f] for f in _ARRAYS if f != "cells"},
                                     cells=np.load(cells, mmap_mode="r"), key=key)  # fmt: skip
                if feats.cells.shape[0] == len(feats):
                    return feats, True
        except Exception:  # noqa: BLE001 — a damaged cache (bad JSON, truncated or incomplete arrays): rebuild it
            pass
    meta.unlink(missing_ok=True)  # the old commit point goes first: a crash below leaves no stale pair
    made: list[StepFeatures] = []
    atomic.write_with(cells, lambda tmp: made.append(
        extract(wm, cache, list(range(len(cache.episodes))), progress=progress, cells_path=tmp)))
    feats = made[0]
    feats.key = key
    feats.cells = np.load(cells, mmap_mode="r")
    arrays = {f: np.ascontiguousarray(getattr(feats, f)) for f in _ARRAYS if f != "cells"}
    atomic.write_with(data, lambda p: save_file(arrays, str(p)))
    atomic.write_json(meta, {"key": key, "steps": len(feats), "version": FEATURES_VERSION})
    return feats, False


world_model_folder = ck.world_model_folder  # where the policy's callers have always found it


def load_features(data: Path, checkpoints: Path, device: str, skip_bad: bool = False):
    """The token cache, the frozen world model, its cached features (built when stale), and each game's
    action set: what train-policy and eval score the heads on."""
    from aria_cli.data.token_cache import build_token_cache
    from aria_cli.policy.metrics import game_action_sets
    from aria_cli.world_model.model import WorldModel

    wm_folder = world_model_folder(checkpoints)
    cache = build_token_cache(data, checkpoints, skip_bad=skip_bad, device=device)
    wm = WorldModel.load(wm_folder, device=device)
    for p in wm.parameters():
        p.requires_grad_(False)
    with ui.progress(transient=True) as prog:
        feats, reused = load_or_extract(wm, wm_folder, cache, ck.policy_features_dir(checkpoints), prog)
    return cache, wm, feats, reused, game_action_sets(cache, data)
