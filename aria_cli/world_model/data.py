"""Windows of token trajectories for the world model: aligned to step boundaries, padded into batches.

An episode in the token cache is GAME_START followed by blocks, one per observed frame:
`[FRAME] vq_0..vq_63 [ACT] <TYPE> <LOC> [LEVEL_COMPLETE]?` (the last block is a bare frame). A
window is `context_steps` consecutive blocks (fewer at an episode's ends); the window that starts
at block 0 also carries GAME_START. Windows never cut a block, so every frame in a window is whole
and every action sits with the frame it answers. A window that stops before the episode's end also
takes the next block's [FRAME] token: the level decision after its last action (LEVEL_COMPLETE or
FRAME) is then always in view, never only when it is positive.

Training windows start at a per-episode random offset that changes every epoch (seeded by
(seed, epoch), so a resumed run sees exactly the same windows). Evaluation windows (`eval_windows`)
start at 0 and overlap by one step: each window's first step is context only (`Windows.scored`), so
every step after an episode's first is scored exactly once and with the step before it in view, as
the agent always has it. Without the overlap a quarter of the steps (with the tiny model's 4-step
windows) would be predicted blind: no previous frame, no previous action.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from aria_cli.vocab import N_CELLS


@dataclass
class Windows:
    """Windows as parallel arrays of absolute token ranges into `cache.tokens`."""

    episode: np.ndarray  # (N,) index into cache.episodes
    start: np.ndarray  # (N,) absolute token index
    end: np.ndarray  # (N,) absolute token index (exclusive)
    # (N,) offset from `start` of the first input position whose prediction counts in metrics; the
    # tokens before it are context, scored in the window before. 0 for training windows.
    scored: np.ndarray | None = None

    def __post_init__(self):
        if self.scored is None:
            self.scored = np.zeros_like(self.start)

    def __len__(self) -> int:
        return len(self.episode)

    def take(self, idx) -> Windows:
        return Windows(self.episode[idx], self.start[idx], self.end[idx], self.scored[idx])

    @property
    def n_tokens(self) -> int:
        return int((self.end - self.start).sum())


@dataclass
class Batch:
    tokens: torch.Tensor  # (B, L) int64, base-0, padded with 0 after each window's end
    valid: torch.Tensor  # (B, L) bool
    games: list[str]
    scored: torch.Tensor  # (B, L) bool: valid input positions whose predictions count in metrics

    @property
    def n_tokens(self) -> int:
        return int(self.valid.sum())

    def to(self, device) -> Batch:
        return Batch(self.tokens.to(device), self.valid.to(device), self.games, self.scored.to(device))


def block_bounds(entry) -> np.ndarray:
    """Token offsets (relative to the episode start) where each frame block begins, plus the episode end."""
    fo = np.asarray(entry.frame_offsets, dtype=np.int64)
    return np.append(fo, entry.end - entry.start)


def episode_windows(entry, context_steps: int, offset: int = 0, overlap: int = 0) -> list[tuple[int, int, int]]:
    """(start, end, scored) token offsets (relative to the episode) of one episode's windows: `offset`
    shifts the block grid; with `overlap`, each window after the first repeats the last `overlap` blocks
    of the one before as context, and `scored` (relative to the window) is where its own blocks begin."""
    bounds = block_bounds(entry)
    n_blocks = len(bounds) - 1
    if overlap:
        stride = context_steps - overlap
        if stride < 1:
            raise ValueError(f"overlap {overlap} leaves no new step in windows of {context_steps}")
        ends = [*range(context_steps, n_blocks, stride), n_blocks]
        pairs = [(0 if i == 0 else ends[i - 1] - overlap, b) for i, b in enumerate(ends)]
    else:
        cuts = sorted({0, *range(offset if offset > 0 else context_steps, n_blocks, context_steps), n_blocks})
        pairs = list(itertools.pairwise(cuts))
    out = []
    for a, b in pairs:
        start = 0 if a == 0 else int(bounds[a])  # the first window keeps GAME_START
        end = int(bounds[b]) + (1 if b < n_blocks else 0)  # + the next [FRAME]: see the module docstring
        scored = 0 if a == 0 or not overlap else int(bounds[a + overlap]) - start
        out.append((start, end, scored))
    return out


def make_windows(
    cache, episode_ids, context_steps: int, rng: np.random.Generator | None = None, overlap: int = 0
) -> Windows:
    """Windows over the given episodes; with `rng`, each episode's block grid starts at a random offset;
    with `overlap`, see `episode_windows`."""
    ep, st, en, sc = [], [], [], []
    for i in episode_ids:
        entry = cache.episodes[i]
        offset = int(rng.integers(0, context_steps)) if rng is not None else 0
        for s, e, k in episode_windows(entry, context_steps, offset, overlap):
            ep.append(i)
            st.append(entry.start + s)
            en.append(entry.start + e)
            sc.append(k)
    return Windows(*(np.array(a, dtype=np.int64) for a in (ep, st, en, sc)))


def eval_windows(cache, episode_ids, context_steps: int) -> Windows:
    """The windows every metric is computed on (see the module docstring): one step of overlap, so every
    step is scored once with its previous step in view. A model of one step per window has no room for
    context and gets the plain windows."""
    return make_windows(cache, episode_ids, context_steps, overlap=1 if context_steps > 1 else 0)


def sample_windows(windows: Windows, max_tokens: int, seed: int) -> Windows:
    """`windows`, or a fixed random sample of them holding at most `max_tokens` tokens (kept in their
    original order): validation on a big corpus would otherwise cost more than the training it checks."""
    if not max_tokens or windows.n_tokens <= max_tokens:
        return windows
    order = np.random.default_rng([seed, 3]).permutation(len(windows))
    lengths = (windows.end - windows.start)[order]
    keep = order[np.cumsum(lengths) <= max_tokens]
    return windows.take(np.sort(keep if len(keep) else order[:1]))


def epoch_order(n_windows: int, global_batch: int, seed: int, epoch: int, n_batches: int | None = None) -> np.ndarray:
    """A shuffled order of window indices for one epoch, `n_batches` global batches long (default: enough
    for every window), wrapping around when there are fewer windows, so every rank gets the same number of
    batches (no DDP rank waits forever). Windows start at a random offset each epoch, so their number
    varies a little from epoch to epoch while the steps per epoch, fixed at the start, must not."""
    rng = np.random.default_rng([seed, epoch, 1])
    perm = rng.permutation(n_windows)
    n_batches = -(-n_windows // global_batch) if n_batches is None else n_batches
    return np.resize(perm, n_batches * global_batch)


def epoch_windows(cache, episode_ids, context_steps: int, seed: int, epoch: int) -> Windows:
    return make_windows(cache, episode_ids, context_steps, np.random.default_rng([seed, epoch, 0]))


def collate(cache, windows: Windows) -> Batch:
    lengths = windows.end - windows.start
    width = int(lengths.max())
    tokens = np.zeros((len(windows), width), dtype=np.int64)
    valid = np.zeros((len(windows), width), dtype=bool)
    scored = np.zeros((len(windows), width), dtype=bool)
    for r, (s, e, k) in enumerate(zip(windows.start, windows.end, windows.scored, strict=True)):
        tokens[r, : e - s] = cache.tokens[s:e]
        valid[r, : e - s] = True
        scored[r, k : e - s] = True
    games = [cache.episodes[i].game for i in windows.episode]
    return Batch(torch.from_numpy(tokens), torch.from_numpy(valid), games, torch.from_numpy(scored))


def batches(cache, windows: Windows, batch_size: int, order: np.ndarray | None = None):
    """Yield collated batches of `batch_size` windows in `order` (default: as given)."""
    order = np.arange(len(windows)) if order is None else order
    for i in range(0, len(order), batch_size):
        yield collate(cache, windows.take(order[i : i + batch_size]))


def mask_some_windows(tokens: torch.Tensor, share: float, rng: np.random.Generator, v=None) -> torch.Tensor | None:
    """The model's input for a batch in which a random `share` of windows have every action token replaced
    by MASK — exactly the policy's view (aria_cli.vocab.mask_actions). Training on some masked windows
    teaches the MASK embedding and makes the policy's contexts ones the backbone has seen; there the
    model must predict each action from the frames alone, which is the policy's task. The targets stay
    the true tokens. None when no window is drawn (the input is then the targets themselves).
    `v`: the tokens' base-0 layout (aria_cli.vocab.Vocab; default: the seed's).
    """
    rows = np.flatnonzero(rng.random(tokens.shape[0]) < share)
    if share <= 0 or len(rows) == 0:
        return None
    from aria_cli.vocab import Vocab

    v = v or Vocab()
    out = tokens.clone()
    sub = out[rows]
    is_action = v.is_action_token(sub)
    out[rows] = torch.where(is_action, torch.full_like(sub, v.mask), sub)
    return out


def cell_code_counts(cache, episode_ids) -> np.ndarray:
    """(64, code slots): how often each VQ code appears at each cell over the given episodes' frames."""
    counts = np.zeros((N_CELLS, cache.vocab.n_codes), dtype=np.int64)
    for i in episode_ids:
        entry = cache.episodes[i]
        fo = np.asarray(entry.frame_offsets, dtype=np.int64)
        codes = cache.tokens[entry.start + fo[:, None] + 1 + np.arange(N_CELLS)]
        np.add.at(counts, (np.broadcast_to(np.arange(N_CELLS), codes.shape), codes), 1)
    return counts
