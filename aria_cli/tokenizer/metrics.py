"""Measuring the tokenizer: pixel and frame accuracy over the val frames (per game too), the picture of
its worst reconstructions, and the final metrics.json."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from aria_cli.common import atomic, ui
from aria_cli.common.palette import diff_to_rgb, frame_grid, save_png
from aria_cli.tokenizer.cells import decode_network, encode_cells, unique_cells
from aria_cli.tokenizer.data import CellSet, FrameSet, frame_sample
from aria_cli.tokenizer.model import VQVAE, load_model
from aria_cli.tokenizer.scores import cells_new_share, code_ambiguity, reconstruction_scores
from aria_cli.training.checkpoints import METRICS_FILE
from aria_cli.training.checkpoints import RECONSTRUCTIONS_FILE as PICTURE_FILE

FRAME_PIXELS = 64 * 64
TRAIN_MEASURED = 16384  # distinct training frames measured at the end (all of them when fewer)


@dataclass
class Evaluation:
    pixel_acc: float  # over every frame (duplicates counted)
    frame_exact: float  # share of frames with zero wrong pixels (duplicates counted)
    pixel_acc_distinct: float  # over distinct frames
    foreground_acc: float | None  # over pixels that are not their frame's most common colour (tokenizer.scores)
    codebook_used: float  # share of the codebook used by these frames
    wrong_per_frame: np.ndarray  # (U,) wrong pixels of each distinct frame
    reconstructions: np.ndarray  # (U, 64, 64)
    codes: np.ndarray  # (U, 64) each distinct frame's codes
    network_pixel_acc: float  # the two headline figures as the decoder network alone gives them
    network_frame_exact: float  # (equal to them without a decoder memory)
    memory_entries: int  # of the decoder memory that took part (0: none)


@torch.no_grad()
def evaluate_tokenizer(model: VQVAE, cells: CellSet, fs: FrameSet, device: str) -> Evaluation:
    """Encode and decode every distinct frame (with the model's decoder memory when it has one); accuracies
    count each frame as often as it occurs."""
    was_training = model.training
    model.eval()
    codes = encode_cells(model, cells.cells, device)[cells.frame_cells]  # (U, 64)
    network = decode_network(model, codes, device)
    model.train(was_training)
    decoded = network if model.memory is None else model.memory.recall(codes, network)
    scores = reconstruction_scores(decoded, fs.frames, fs.counts)
    alone = scores if model.memory is None else reconstruction_scores(network, fs.frames, fs.counts)
    wrong_frame = scores.wrong_per_frame
    return Evaluation(
        pixel_acc=scores.pixel_acc,
        frame_exact=scores.frame_exact,
        foreground_acc=scores.foreground_acc,
        pixel_acc_distinct=1.0 - float(wrong_frame.sum()) / (FRAME_PIXELS * max(len(wrong_frame), 1)),
        codebook_used=len(np.unique(codes)) / model.config.codebook_size,
        wrong_per_frame=wrong_frame,
        reconstructions=decoded,
        codes=codes,
        network_pixel_acc=alone.pixel_acc,
        network_frame_exact=alone.frame_exact,
        memory_entries=model.memory.entries if model.memory is not None else 0,
    )


def per_game(model: VQVAE, train_cells: CellSet | None, by_game: dict[str, FrameSet], device: str) -> dict[str, dict]:
    """Val accuracy of each game, and the share of its val cells that no training frame contains (None
    without `train_cells`).

    One overall figure hides where a tokenizer falls short: a game whose boards are drawn in tiles
    that do not line up with the 8-pixel cells keeps producing cells never seen in training, and a
    code that depends only on its own cell can get such a cell only approximately right.
    """
    out = {}
    for game, fs in by_game.items():
        cells = CellSet.from_frames(fs)
        ev = evaluate_tokenizer(model, cells, fs, device)
        out[game] = {
            "val_pixel_acc": ev.pixel_acc,
            "val_frame_exact": ev.frame_exact,
            "val_foreground_pixel_acc": ev.foreground_acc,
            "val_cells_unseen": cells_unseen(train_cells, cells) if train_cells is not None else None,
            "val_frames": fs.total,
        }
    return out


def write_reconstructions(path: Path, fs: FrameSet, ev: Evaluation, n: int = 8) -> Path:
    """Val frames | reconstructions | wrong pixels: the worst frames first, then the most common."""
    order = np.lexsort((-fs.counts, -ev.wrong_per_frame))[:n]
    rows = [[fs.frames[i], ev.reconstructions[i], diff_to_rgb(fs.frames[i], ev.reconstructions[i], 4)] for i in order]
    labels = [f"{int(ev.wrong_per_frame[i])} wrong" for i in order]
    img = frame_grid(rows, col_labels=["val frame", "reconstruction", "wrong pixels"], row_labels=labels, scale=4)
    return save_png(img, path)


def final_metrics(d, data, train_cells, val_cells, state, device, wall, quiet) -> dict:
    # Minutes on a corpus of 100,000s of frames: say what is going on.
    with nullcontext() if quiet else ui.console.status(f"measuring the best model (epoch {state.best_epoch}) on "
                                                       f"all {len(data.val.frames):,} distinct val frames"):  # fmt: skip
        best, _ = load_model(d, device=device)
        val = evaluate_tokenizer(best, val_cells, data.val, device)
        # The training-frame diagnostics on a fixed sample: a full pass over a big corpus would take longer than training.
        train_fs = frame_sample(data.train, TRAIN_MEASURED, seed=0)
        train_cs = train_cells if train_fs is data.train else CellSet.from_frames(train_fs)
        train = evaluate_tokenizer(best, train_cs, train_fs, device)
        write_reconstructions(d / PICTURE_FILE, data.val, val)
        games = per_game(best, train_cells, data.val_by_game, device)
        # What the codes allow at all (scores.code_ambiguity): the decoder network reaches one cell per context
        # block, its memory (tokenizer.memory) as far as its widest window.
        reach = max([best.config.context_blocks, *(best.memory.tables if best.memory is not None else ())])
        limit = code_ambiguity(train.codes.reshape(-1, 8, 8), train_cs.frame_cells, train_fs.counts, reach)
    metrics = {
        "val_pixel_acc": val.pixel_acc,
        "val_frame_exact": val.frame_exact,
        "val_foreground_pixel_acc": val.foreground_acc,
        "val_cells_unseen": cells_unseen(train_cells, val_cells) if not data.val_is_train else 0.0,
        "val_pixel_acc_distinct_frames": val.pixel_acc_distinct,
        "val_pixel_acc_network": val.network_pixel_acc,  # the decoder alone, without its memory
        "val_frame_exact_network": val.network_frame_exact,
        "decoder_memory_entries": val.memory_entries,
        "codebook_used": val.codebook_used,
        "codebook_used_train": train.codebook_used,
        "train_pixel_acc": train.pixel_acc,
        "train_frame_exact": train.frame_exact,
        "train_frame_exact_network": train.network_frame_exact,
        "train_cells_ambiguous": limit.cells,
        "train_frame_exact_ceiling": limit.frames_exact_ceiling,
        "train_frames": data.train.total,
        "val_frames": data.val.total if not data.val_is_train else 0,
        "train_frames_distinct": len(data.train.frames),
        "train_frames_measured": len(train_fs.frames),  # distinct frames behind train_pixel_acc and the ceiling
        "val_frames_distinct": len(data.val.frames) if not data.val_is_train else 0,
        "train_cells_distinct": len(train_cells.cells),
        "train_files": len(data.train.files),
        "val_files": len(data.val.files) if not data.val_is_train else 0,
        "val_measured_on": "train" if data.val_is_train else "val",
        "games": games,
        "codebook_size": best.config.codebook_size,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "steps": state.step,
        "stop_reason": state.stop_reason,
        "seconds": round(state.seconds, 2),
        "wall_seconds": round(wall, 2),
        "device": device,
        "train_config": state.train_config,
        "model_config": best.config.to_dict(),
    }
    atomic.write_json(d / METRICS_FILE, metrics)
    if not quiet:
        ui.console.print(
            f"val pixel accuracy {ui.pct(val.pixel_acc, 3)}, frames exact {ui.pct(val.frame_exact, 1)}, "
            f"non-background pixels {_pct(val.foreground_acc, 3)}, "
            f"codebook used {ui.pct(val.codebook_used, 1)} (best epoch {state.best_epoch}, {_ended(state)}, "
            f"{state.seconds:.0f} s) → {d} (model, {METRICS_FILE}, {PICTURE_FILE})"
        )
        if metrics["decoder_memory_entries"]:
            ui.console.print(decoder_alone(metrics))
        if limit.cells:
            ui.console.print(f"{ui.pct(limit.cells, 2)} of training cells share their code and its neighbourhood with "
                             f"other content: with these codes at most {ui.pct(limit.frames_exact_ceiling, 1)} of "
                             "training frames can decode exactly (more codes: --codebook-size)")
        ui.console.print(games_table(games, "train" if data.val_is_train else "val"))
    return metrics


def decoder_alone(m: dict) -> str:
    """The line that gives a memory's figures (metrics.json's or eval-tokenizer's `m`) as the network alone has them."""
    return (f"the decoder alone, without the memory of {m['decoder_memory_entries']:,} training neighbourhoods: "
            f"{ui.pct(m['val_pixel_acc_network'], 3)}, frames exact {ui.pct(m['val_frame_exact_network'], 1)}")


def games_table(games: dict[str, dict], split: str) -> Table:
    t = Table(title=f"tokenizer per game ({split} frames)", title_justify="left")
    for name in ("game", "frames", "pixel acc", "frames exact", "non-background acc", "cells new to training"):
        t.add_column(name, justify="left" if name == "game" else "right")
    for game, m in games.items():
        new = "—" if split == "train" else ui.pct(m["val_cells_unseen"], 2)
        t.add_row(game, str(m["val_frames"]), ui.pct(m["val_pixel_acc"], 3), ui.pct(m["val_frame_exact"], 1),
                  _pct(m["val_foreground_pixel_acc"], 3), new)
    return t


def _pct(x: float | None, digits: int) -> str:
    return "—" if x is None else ui.pct(x, digits)


def cells_unseen(train_cells: CellSet, val_cells: CellSet) -> float:
    """Share of val cell occurrences that no training frame contains."""
    return cells_new_share(*_content_ids(train_cells, val_cells), val_cells.counts)


def frame_cells_seen(train_cells: CellSet, val_cells: CellSet) -> np.ndarray:
    """(U, 64): whether each cell of each distinct val frame has content some training frame contains."""
    train_ids, val_ids = _content_ids(train_cells, val_cells)
    return np.isin(val_ids, train_ids)[val_cells.frame_cells]


def _content_ids(train_cells: CellSet, val_cells: CellSet) -> tuple[np.ndarray, np.ndarray]:
    """Content ids of the distinct training and val cells (equal id, equal pixels)."""
    _, ids = unique_cells(np.concatenate([train_cells.cells, val_cells.cells]))
    return ids[: len(train_cells.cells)], ids[len(train_cells.cells) :]


def _ended(state) -> str:
    """How the run ended, for people: "all 24 epochs", "stopped early at epoch 9", ..."""
    return {"epochs": f"all {state.epoch} epochs", "early stop": f"stopped early at epoch {state.epoch}",
            "perfect": f"every val pixel right at epoch {state.epoch}"}.get(state.stop_reason, f"epoch {state.epoch}")
