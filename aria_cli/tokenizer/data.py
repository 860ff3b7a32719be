"""The tokenizer's training data: every frame of every recording, de-duplicated per split, and the
batches a step trains on (each distinct cell encoded once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import find_recordings, iter_steps
from aria_cli.data.splits import assign_split
from aria_cli.data.token_cache import read_usable, relative_key
from aria_cli.tokenizer.cells import frames_to_cells, unique_cells
from aria_cli.training.checkpoints import files_fingerprint
from aria_cli.vocab import CELL_PIXELS, GRID, N_CELLS


@dataclass
class FrameSet:
    """Distinct frames of one split, with how often each occurs."""

    frames: np.ndarray  # (U, 64, 64) uint8
    counts: np.ndarray  # (U,) int64
    files: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    @classmethod
    def from_frames(cls, frames: list[np.ndarray], files: list[str]) -> FrameSet:
        if not frames:
            return cls(np.zeros((0, 64, 64), np.uint8), np.zeros(0, np.int64), files)
        stacked = np.ascontiguousarray(np.concatenate(frames), dtype=np.uint8)
        keys = stacked.reshape(len(stacked), -1).view(np.dtype((np.void, stacked[0].size))).ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return cls(stacked[first], np.bincount(inverse.reshape(-1)).astype(np.int64), files)


@dataclass
class CellSet:
    """Distinct 8x8 cells of a FrameSet: what the model trains and is measured on."""

    cells: np.ndarray  # (C, 8, 8) uint8
    counts: np.ndarray  # (C,) occurrences over all frames (frame counts included)
    frame_cells: np.ndarray  # (U, 64) index into `cells` for each distinct frame

    @classmethod
    def from_frames(cls, fs: FrameSet) -> CellSet:
        cells, inverse = unique_cells(frames_to_cells(fs.frames))
        counts = np.bincount(inverse, weights=np.repeat(fs.counts, N_CELLS), minlength=len(cells))
        return cls(cells, counts.astype(np.int64), inverse.reshape(-1, N_CELLS))


@dataclass
class TrainingData:
    train: FrameSet
    val: FrameSet
    val_is_train: bool  # no game had two files, so val metrics are measured on the training frames
    fingerprint: str  # of the files' contents (checkpoints.files_fingerprint): a resumed run warns when it changed
    val_by_game: dict[str, FrameSet] = field(default_factory=dict)  # the val frames again, per game


def frame_sample(fs: FrameSet, n: int, seed: int) -> FrameSet:
    """`fs` itself, or a fixed sample of `n` of its distinct frames (each with its count) when it has more."""
    if len(fs.frames) <= n:
        return fs
    pick = np.sort(np.random.default_rng([seed, 2]).choice(len(fs.frames), size=n, replace=False))
    return FrameSet(fs.frames[pick], fs.counts[pick], fs.files)


class FrameCounter:
    """Distinct frames and their counts, added file by file: memory holds each distinct frame once, never
    every frame read nor the copies np.unique makes of them."""

    def __init__(self) -> None:
        self.counts: dict[bytes, int] = {}
        self.files: list[str] = []

    def add(self, frames: np.ndarray, file: str) -> None:
        flat = np.ascontiguousarray(frames, dtype=np.uint8).reshape(len(frames), -1)
        for row in flat:
            key = row.tobytes()
            self.counts[key] = self.counts.get(key, 0) + 1
        self.files.append(file)

    def frame_set(self) -> FrameSet:
        """The FrameSet, in FrameSet.from_frames' order (by content: bytes sort as np.unique sorts them).
        Empties the counter as it goes, so the frames are never held twice (most frames of a game differ)."""
        keys = sorted(self.counts)
        frames = np.empty((len(keys), 64, 64), dtype=np.uint8)
        counts = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            frames[i] = np.frombuffer(key, dtype=np.uint8).reshape(64, 64)
            counts[i] = self.counts.pop(key)
            keys[i] = None  # the last reference: the bytes are freed now
        return FrameSet(frames, counts, list(self.files))


def merge_frame_sets(sets: list[FrameSet]) -> FrameSet:
    """One FrameSet of several (a frame in two of them counts twice), in FrameSet.from_frames' order."""
    files = [f for fs in sets for f in fs.files]
    if not sets:
        return FrameSet.from_frames([], files)
    stacked = np.concatenate([fs.frames for fs in sets])
    keys = stacked.reshape(len(stacked), -1).view(np.dtype((np.void, 64 * 64))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    counts = np.bincount(inverse.reshape(-1), weights=np.concatenate([fs.counts for fs in sets]), minlength=len(first))
    return FrameSet(stacked[first], counts.astype(np.int64), files)


def _games(paths: list[Path], data_dir: Path) -> list[tuple[str, Path, str | None]]:
    """(key, path, game) of each recording, the game read from its first line with a frame (None: no
    such line), so the split (by game) is known before any file is read whole."""
    out = []
    for path in paths:
        first = next(iter_steps(path, skip_bad=True), None)
        out.append((relative_key(path, data_dir), path, first.game if first is not None else None))
    return out


@dataclass
class _Counted:
    train: FrameCounter
    by_game: dict[str, FrameCounter]  # the val files of each game (every file's when val_is_train)
    val_is_train: bool
    val_files: list[str]
    used: list[tuple[str, Path]]
    dropped: set[str]  # files in the split that proved unusable once read whole


def _count(games: list, skip_bad: bool) -> _Counted:
    split = assign_split((key, game) for key, _, game in games if game is not None)
    val_is_train = "val" not in split.values()  # no game has two files
    out = _Counted(FrameCounter(), {}, val_is_train, [], [], set())
    for key, path, game in games:
        rec = read_usable(path, skip_bad)  # raises the reader's error for a bad file without --skip-bad
        if rec is None or game is None:
            if key in split:
                out.dropped.add(key)
            continue
        out.used.append((key, path))
        frames = np.stack([s.frame for s in rec.steps])
        del rec
        if split[key] == "train":
            out.train.add(frames, key)
        else:
            out.val_files.append(key)
        if val_is_train or split[key] == "val":
            out.by_game.setdefault(game, FrameCounter()).add(frames, key)
    return out


def collect_frames(data_dir: Path, skip_bad: bool = False) -> TrainingData:
    """Every frame of every recording under `data_dir`, de-duplicated per split, one file at a time."""
    data_dir = Path(data_dir)
    games = _games(find_recordings(data_dir), data_dir)
    c = _count(games, skip_bad)
    if c.dropped:  # a file that mixes games (--skip-bad) had counted in the split: split without it
        c = _count([g for g in games if g[0] not in c.dropped and g[2] is not None], skip_bad)
    if not c.used:
        raise AriaError(f"no usable recordings under {data_dir.resolve()} (every file was empty or bad)")
    train = c.train.frame_set()
    val_by_game = {game: c.by_game.pop(game).frame_set() for game in sorted(c.by_game)}
    val = train if c.val_is_train else merge_frame_sets(list(val_by_game.values()))
    val.files = train.files if c.val_is_train else c.val_files
    return TrainingData(train, val, c.val_is_train, files_fingerprint(c.used), val_by_game)


@dataclass
class CellBatch:
    """One training step's frames, each distinct cell of them once, and the decoder's context noise."""

    frames: torch.Tensor  # (B, 64, 64)
    index: np.ndarray  # (B,) which distinct training frames they are
    cells: torch.Tensor  # (U, 8, 8) the distinct cells of these frames
    where: torch.Tensor  # (B, 64) index into `cells` of each position
    uses: torch.Tensor  # (U,) how often each distinct cell occurs in the batch
    replace: torch.Tensor | None = None  # (B, 8, 8) code the decoder sees instead, -1 = its own
    keep: torch.Tensor | None = None  # (B*64*64,) 1 where a pixel's cell kept its code (scored), else 0


class Batches:
    """Training frames and their distinct cells on the device; draws the frames of each step.

    A frame is drawn with probability ∝ count ** sample_power, times `exact_weight` while the last step
    that drew it decoded it exactly (every scored pixel right): a frame the model has learned gives its turn to
    one it has not, so the steps go where the errors are (and a learned frame still comes back now and
    then, to be caught if it is forgotten). `missed` (one bool per distinct frame) is what a resumed run
    restores."""

    def __init__(self, fs: FrameSet, cells: CellSet, batch_size: int, sample_power: float, device: str,
                 exact_weight: float = 1.0):
        self.frames = torch.from_numpy(fs.frames).to(device)
        self.cells = torch.from_numpy(cells.cells).to(device)
        self.frame_cells = cells.frame_cells
        self.base = sampling_probs(fs.counts, sample_power)
        self.exact_weight = exact_weight
        self.missed = np.ones(len(fs.frames), dtype=bool)  # not decoded exactly when last drawn (or never drawn)
        self.size = batch_size
        self.device = device

    @property
    def probs(self) -> np.ndarray:
        if self.exact_weight == 1.0:
            return self.base
        p = self.base * np.where(self.missed, 1.0, self.exact_weight)
        return p / p.sum()

    def mark(self, batch: CellBatch, missed: np.ndarray) -> None:
        """Note which frames of `batch` the step just taken got wrong (`missed`, one bool per frame)."""
        self.missed[batch.index] = missed

    def draw(self, rng: np.random.Generator, noise: float = 0.0, codebook_size: int = 0, seed: int = 0) -> CellBatch:
        """The frames of one step (see the class doc), and with `noise` > 0 that share of cells shown a random
        code: drawn from a generator seeded by `seed` alone, so a resumed run draws the same."""
        probs = self.probs
        idx = rng.choice(len(probs), size=self.size, p=probs)
        uniq, inverse = np.unique(self.frame_cells[idx], return_inverse=True)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)  # noqa: E731
        frames = self.frames[t(idx)]
        batch = CellBatch(frames, idx, self.cells[t(uniq)], t(inverse.reshape(len(idx), N_CELLS)), t(np.bincount(inverse.ravel())))
        if noise > 0:
            gen = torch.Generator().manual_seed(seed)
            noisy = (torch.rand(len(frames), GRID, GRID, generator=gen) < noise).to(frames.device)
            random_codes = torch.randint(0, codebook_size, noisy.shape, generator=gen).to(frames.device)
            batch.replace = torch.where(noisy, random_codes, -1)
            keep = (~noisy).repeat_interleave(CELL_PIXELS, 1).repeat_interleave(CELL_PIXELS, 2)
            batch.keep = keep.reshape(-1).float()
        return batch


def sampling_probs(counts: np.ndarray, power: float) -> np.ndarray:
    p = counts.astype(np.float64) ** power
    return p / p.sum()
