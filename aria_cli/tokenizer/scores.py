"""Scores of a tokenizer's reconstructions beyond one pixel accuracy (tokenizer.metrics reports them).

Most pixels of a real frame are background, so pixel accuracy can be high while every sprite is
wrong. `reconstruction_scores` also reports the share of frames decoded exactly (a frame that never
decodes exactly can never be compared with the real one) and the accuracy on non-background pixels
(those whose colour differs from their frame's most common colour); `cells_new_share` tells how much
of a val set is content the tokenizer never saw in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aria_cli.tokenizer.memory import neighbourhood_hashes, window_majority
from aria_cli.vocab import CELL_PIXELS

N_COLOURS = 16


@dataclass(frozen=True)
class Scores:
    pixel_acc: float  # over every pixel of every frame
    frame_exact: float  # share of frames with no wrong pixel
    foreground_acc: float | None  # over pixels whose colour is not their frame's most common; None: there are none
    wrong_per_frame: np.ndarray  # (N,) wrong pixels of each frame


CHUNK = 2048  # frames scored at a time: memory stays bounded on corpora of 100,000s of distinct frames


def background_colours(frames: np.ndarray) -> np.ndarray:
    """(N, H, W) colours 0-15 → (N,) each frame's most common colour (the lowest on a tie)."""
    frames = np.asarray(frames)
    out = np.empty(len(frames), np.int64)
    for i in range(0, len(frames), CHUNK):
        flat = frames[i : i + CHUNK].reshape(-1, frames[0].size).astype(np.int64)
        per_frame = np.bincount((flat + N_COLOURS * np.arange(len(flat))[:, None]).ravel(), minlength=N_COLOURS * len(flat))
        out[i : i + CHUNK] = per_frame.reshape(len(flat), N_COLOURS).argmax(1)
    return out


def reconstruction_scores(decoded: np.ndarray, frames: np.ndarray, counts: np.ndarray | None = None) -> Scores:
    """Scores of `decoded` against the true `frames` (both (N, H, W)); each frame counts `counts[i]`
    times (distinct frames with their occurrences; default once each)."""
    decoded, frames = np.asarray(decoded), np.asarray(frames)
    if decoded.shape != frames.shape or frames.ndim != 3:
        raise ValueError(f"decoded {decoded.shape} and frames {frames.shape} must be the same (N, H, W)")
    counts = np.ones(len(frames), np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    pixels = frames.shape[1] * frames.shape[2]
    total = max(int(counts.sum()), 1)
    wrong_per_frame = np.empty(len(frames), np.int64)
    fg_total = fg_wrong = 0
    for i in range(0, len(frames), CHUNK):
        f, n = frames[i : i + CHUNK], counts[i : i + CHUNK]
        wrong = decoded[i : i + CHUNK] != f
        wrong_per_frame[i : i + CHUNK] = wrong.sum(axis=(1, 2))
        fg = f != background_colours(f)[:, None, None]
        fg_total += int((fg.sum(axis=(1, 2)) * n).sum())
        fg_wrong += int(((wrong & fg).sum(axis=(1, 2)) * n).sum())
    return Scores(
        pixel_acc=1.0 - float((wrong_per_frame * counts).sum()) / (pixels * total),
        frame_exact=float(counts[wrong_per_frame == 0].sum()) / total,
        foreground_acc=1.0 - fg_wrong / fg_total if fg_total else None,
        wrong_per_frame=wrong_per_frame,
    )


def cell_pixel_acc(decoded: np.ndarray, frames: np.ndarray, counts: np.ndarray, cells: np.ndarray) -> float | None:
    """Pixel accuracy over the 8x8 cells where `cells` (N, 64, token order) is True, each frame counting
    `counts[i]` times; None when there are none."""
    n, h, w = frames.shape
    c = CELL_PIXELS
    wrong = (np.asarray(decoded) != np.asarray(frames)).reshape(n, h // c, c, w // c, c).sum(axis=(2, 4)).reshape(n, -1)
    weight = np.asarray(cells, dtype=bool) * np.asarray(counts, dtype=np.int64)[:, None]
    total = int(weight.sum())
    return 1.0 - float((wrong * weight).sum()) / (c * c * total) if total else None


def cells_new_share(train_ids: np.ndarray, val_ids: np.ndarray, val_counts: np.ndarray) -> float:
    """Share of val cell occurrences whose content no training cell has: `train_ids`/`val_ids` are
    content ids of distinct cells (equal id, equal pixels), `val_counts` how often each val cell occurs."""
    new = ~np.isin(val_ids, train_ids)
    return float(np.asarray(val_counts)[new].sum()) / max(int(np.asarray(val_counts).sum()), 1)


@dataclass(frozen=True)
class Ambiguity:
    cells: float  # share of cell occurrences no decoder can get right from these codes
    frames_exact_ceiling: float  # share of frames with no such cell: the most frames any decoder gets exact


def code_ambiguity(codes: np.ndarray, cell_ids: np.ndarray, counts: np.ndarray, radius: int) -> Ambiguity:
    """What the codes alone allow. A decoder that sees the codes within `radius` cells of a cell (its
    receptive field) must decode one content for one such neighbourhood; where different cells share
    a code and its whole neighbourhood, all but the most common are wrong whatever the decoder learns.
    `codes` (N, G, G) per frame, `cell_ids` (N, G*G) content id of each cell, `counts` (N,) frame occurrences."""
    codes = np.asarray(codes, dtype=np.int64)
    n, g, _ = codes.shape
    ids = np.asarray(cell_ids, dtype=np.int64).reshape(-1)
    weights = np.repeat(np.asarray(counts, dtype=np.float64), g * g)
    # Windows as 64-bit hashes: at radius 4 a window is 81 codes, gigabytes over a corpus's cells.
    _, majority, hood = window_majority(neighbourhood_hashes(codes, radius), ids, weights)
    wrong = (majority[hood] != ids).reshape(n, g * g)
    total = max(int(weights.sum()), 1)
    return Ambiguity(
        cells=float(weights[wrong.ravel()].sum()) / total,
        frames_exact_ceiling=float(np.asarray(counts)[~wrong.any(1)].sum()) / max(int(np.sum(counts)), 1),
    )
