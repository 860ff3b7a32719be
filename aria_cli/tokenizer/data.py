"""The tokenizer's training data: every frame of every recording, de-duplicated per split, and the
batches a step trains on (each distinct cell encoded once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import find_recordings
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


def collect_frames(data_dir: Path, skip_bad: bool = False) -> TrainingData:
    """Every frame of every recording under `data_dir`, de-duplicated per split."""
    data_dir = Path(data_dir)
    paths = find_recordings(data_dir)
    per_file: list[tuple[str, str, np.ndarray]] = []
    used: list[tuple[str, Path]] = []
    for path in paths:
        rec = read_usable(path, skip_bad)
        if rec is None:
            continue
        key = relative_key(path, data_dir)
        used.append((key, path))
        per_file.append((key, rec.game, np.stack([s.frame for s in rec.steps])))
    if not per_file:
        raise AriaError(f"no usable recordings under {data_dir.resolve()} (every file was empty or bad)")
    split = assign_split((key, game) for key, game, _ in per_file)
    parts: dict[str, tuple[list, list]] = {"train": ([], []), "val": ([], [])}
    for key, _, frames in per_file:
        parts[split[key]][0].append(frames)
        parts[split[key]][1].append(key)
    train = FrameSet.from_frames(*parts["train"])
    val = FrameSet.from_frames(*parts["val"])
    val_is_train = val.total == 0
    if val_is_train:
        val = train
    by_game: dict[str, tuple[list, list]] = {}
    for key, game, frames in per_file:
        if val_is_train or split[key] == "val":
            by_game.setdefault(game, ([], []))[0].append(frames)
            by_game[game][1].append(key)
    val_by_game = {game: FrameSet.from_frames(*by_game[game]) for game in sorted(by_game)}
    return TrainingData(train, val, val_is_train, files_fingerprint(used), val_by_game)


@dataclass
class CellBatch:
    """One training step's frames, each distinct cell of them once, and the decoder's context noise."""

    frames: torch.Tensor  # (B, 64, 64)
    cells: torch.Tensor  # (U, 8, 8) the distinct cells of these frames
    where: torch.Tensor  # (B, 64) index into `cells` of each position
    uses: torch.Tensor  # (U,) how often each distinct cell occurs in the batch
    replace: torch.Tensor | None = None  # (B, 8, 8) code the decoder sees instead, -1 = its own
    keep: torch.Tensor | None = None  # (B*64*64,) 1 where a pixel's cell kept its code (scored), else 0


class Batches:
    """Training frames and their distinct cells on the device; draws the frames of each step."""

    def __init__(self, fs: FrameSet, cells: CellSet, batch_size: int, sample_power: float, device: str):
        self.frames = torch.from_numpy(fs.frames).to(device)
        self.cells = torch.from_numpy(cells.cells).to(device)
        self.frame_cells = cells.frame_cells
        self.probs = sampling_probs(fs.counts, sample_power)
        self.size = batch_size
        self.device = device

    def draw(self, rng: np.random.Generator, noise: float = 0.0, codebook_size: int = 0, seed: int = 0) -> CellBatch:
        """The frames of one step (∝ count ** sample_power), and with `noise` > 0 that share of cells shown
        a random code: drawn from a generator seeded by `seed` alone, so a resumed run draws the same."""
        idx = rng.choice(len(self.probs), size=self.size, p=self.probs)
        uniq, inverse = np.unique(self.frame_cells[idx], return_inverse=True)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)  # noqa: E731
        frames = self.frames[t(idx)]
        batch = CellBatch(frames, self.cells[t(uniq)], t(inverse.reshape(len(idx), N_CELLS)), t(np.bincount(inverse.ravel())))
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
