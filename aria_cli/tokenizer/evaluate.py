"""A trained tokenizer measured on recordings it was not trained on (`aria eval-tokenizer`).

    aria eval-tokenizer --data other-games --checkpoints checkpoints [--train-data recordings] [--json out.json]

Every frame of every recording under `--data` is encoded and decoded; identical frames are merged with
their counts, as the tokenizer's own val metrics are, so the figures read like metrics.json's: pixel
accuracy, frames exact, non-background pixel accuracy, overall and per game (tokenizer.metrics.per_game).
With `--train-data` (the recordings the tokenizer was trained on) it also reports the share of cells no
training frame contains: where a game draws patches training never showed, that share says how much the
tokenizer had to guess.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import find_recordings
from aria_cli.data.token_cache import read_usable, relative_key
from aria_cli.tokenizer.data import CellSet, FrameCounter, FrameSet, collect_frames, merge_frame_sets
from aria_cli.tokenizer.metrics import cells_unseen, evaluate_tokenizer, per_game
from aria_cli.tokenizer.model import load_tokenizer


def recording_frames(data_dir: Path, skip_bad: bool = False) -> dict[str, FrameSet]:
    """game → its distinct frames with counts, gathered file by file (memory holds distinct frames only)."""
    data_dir = Path(data_dir)
    by_game: dict[str, FrameCounter] = {}
    for path in find_recordings(data_dir):
        rec = read_usable(path, skip_bad)
        if rec is None:
            continue
        by_game.setdefault(rec.game, FrameCounter()).add(np.stack([s.frame for s in rec.steps]), relative_key(path, data_dir))
    if not by_game:
        raise AriaError(f"no usable recordings under {data_dir.resolve()} (every file was empty or bad)")
    return {game: by_game[game].frame_set() for game in sorted(by_game)}


def training_cells(train_data: Path, skip_bad: bool = False) -> CellSet:
    """The distinct cells of the frames a tokenizer trained on `train_data` learned from (its train split)."""
    return CellSet.from_frames(collect_frames(train_data, skip_bad).train)


def evaluate_recordings(checkpoints: Path, data_dir: Path, train_data: Path | None = None, device: str = "cpu",
                        skip_bad: bool = False) -> dict:  # fmt: skip
    """The tokenizer under `checkpoints` on every frame under `data_dir`: metrics.json's val figures
    (same names), overall and in "games". "val_cells_unseen" is None without `train_data`."""
    tok = load_tokenizer(checkpoints, device=device)
    by_game = recording_frames(data_dir, skip_bad)
    train_cells = training_cells(train_data, skip_bad) if train_data is not None else None
    everything = merge_frame_sets(list(by_game.values()))
    cells = CellSet.from_frames(everything)
    ev = evaluate_tokenizer(tok.model, cells, everything, device)
    games = per_game(tok.model, train_cells, by_game, device)
    return {
        "val_pixel_acc": ev.pixel_acc,
        "val_frame_exact": ev.frame_exact,
        "val_foreground_pixel_acc": ev.foreground_acc,
        "val_pixel_acc_network": ev.network_pixel_acc,  # the decoder alone, without its memory
        "val_frame_exact_network": ev.network_frame_exact,
        "decoder_memory_entries": ev.memory_entries,
        "val_cells_unseen": cells_unseen(train_cells, cells) if train_cells is not None else None,
        "val_frames": everything.total,
        "val_frames_distinct": len(everything.frames),
        "val_files": len(everything.files),
        "codebook_used": ev.codebook_used,
        "games": games,
        "data": str(Path(data_dir)),
        "train_data": None if train_data is None else str(Path(train_data)),
        "tokenizer": tok.fingerprint,
    }
