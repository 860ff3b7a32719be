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

N_COLOURS = 16


@dataclass(frozen=True)
class Scores:
    pixel_acc: float  # over every pixel of every frame
    frame_exact: float  # share of frames with no wrong pixel
    foreground_acc: float | None  # over pixels whose colour is not their frame's most common; None: there are none
    wrong_per_frame: np.ndarray  # (N,) wrong pixels of each frame


def background_colours(frames: np.ndarray) -> np.ndarray:
    """(N, H, W) colours 0-15 → (N,) each frame's most common colour (the lowest on a tie)."""
    flat = np.asarray(frames, dtype=np.int64).reshape(len(frames), -1)
    per_frame = np.bincount((flat + N_COLOURS * np.arange(len(flat))[:, None]).ravel(), minlength=N_COLOURS * len(flat))
    return per_frame.reshape(len(flat), N_COLOURS).argmax(1)


def reconstruction_scores(decoded: np.ndarray, frames: np.ndarray, counts: np.ndarray | None = None) -> Scores:
    """Scores of `decoded` against the true `frames` (both (N, H, W)); each frame counts `counts[i]`
    times (distinct frames with their occurrences; default once each)."""
    decoded, frames = np.asarray(decoded), np.asarray(frames)
    if decoded.shape != frames.shape or frames.ndim != 3:
        raise ValueError(f"decoded {decoded.shape} and frames {frames.shape} must be the same (N, H, W)")
    counts = np.ones(len(frames), np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    pixels = frames.shape[1] * frames.shape[2]
    total = max(int(counts.sum()), 1)
    wrong = decoded != frames
    wrong_per_frame = wrong.sum(axis=(1, 2))
    fg = frames != background_colours(frames)[:, None, None]
    fg_total = int((fg.sum(axis=(1, 2)) * counts).sum())
    fg_wrong = int(((wrong & fg).sum(axis=(1, 2)) * counts).sum())
    return Scores(
        pixel_acc=1.0 - float((wrong_per_frame * counts).sum()) / (pixels * total),
        frame_exact=float(counts[wrong_per_frame == 0].sum()) / total,
        foreground_acc=1.0 - fg_wrong / fg_total if fg_total else None,
        wrong_per_frame=wrong_per_frame,
    )


def cells_new_share(train_ids: np.ndarray, val_ids: np.ndarray, val_counts: np.ndarray) -> float:
    """Share of val cell occurrences whose content no training cell has: `train_ids`/`val_ids` are
    content ids of distinct cells (equal id, equal pixels), `val_counts` how often each val cell occurs."""
    new = ~np.isin(val_ids, train_ids)
    return float(np.asarray(val_counts)[new].sum()) / max(int(np.asarray(val_counts).sum()), 1)
