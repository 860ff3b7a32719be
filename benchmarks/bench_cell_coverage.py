"""How many of held-out games' 8x8 cells a corpus of other games contains, as the corpus grows (issue 27).

    .venv/bin/python benchmarks/bench_cell_coverage.py --held-out HELD --corpus RUNS/recordings

A cell-local tokenizer decodes a cell it never saw as the nearest one it knows, so on games it was not
trained on its accuracy follows the share of their cells that no training frame contains. This counts
that share (over cell occurrences in every frame of HELD's recordings) for training sets of the first
N games of CORPUS (one folder per game, games in a fixed order drawn with `--seed`; held-out games
skipped), and the distinct cells such a set holds: what a codebook would need to keep them all apart.
With every corpus game it also prints the cell-local ceiling: the held-out pixel accuracy if every
known cell decoded exactly and each new one as its nearest known cell (fewest differing pixels), what
a codebook holding every training cell, with a decoder that reads only the cell's own code, reaches at
best; and the share of held-out cells whose colour pattern (the shape, colours renamed) is new too.
No model is trained; it reads recordings only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aria_cli.data.recordings import find_recordings, iter_steps  # noqa: E402
from aria_cli.data.splits import draw_fold, recording_games  # noqa: E402
from aria_cli.tokenizer.cells import frames_to_cells, unique_cells  # noqa: E402


def frame_cells(files: list[Path]) -> tuple[list[bytes], np.ndarray]:
    """The distinct 8x8 cells of every frame of `files` (as bytes) and, per frame, the index of each of its 64."""
    frames = np.stack([s.frame for p in files for s in iter_steps(p)]).astype(np.uint8)
    cells, inverse = unique_cells(frames_to_cells(frames))
    return [c.tobytes() for c in cells], inverse.reshape(len(frames), -1)


def distinct_cells(files: list[Path]) -> tuple[list[bytes], np.ndarray]:
    """The distinct 8x8 cells of every frame of `files` (as bytes) and how often each occurs."""
    cells, inverse = frame_cells(files)
    return cells, np.bincount(inverse.ravel(), minlength=len(cells))


def colour_pattern(cells: np.ndarray) -> np.ndarray:
    """(N, 64) cells with their colours renamed 0, 1, 2, ... in order of first appearance: the shape
    without its colours (a red-on-blue square and a green-on-black one give the same pattern)."""
    present = cells[:, :, None] == np.arange(16, dtype=np.uint8)  # (N, 64, 16)
    first = np.where(present.any(axis=1), present.argmax(axis=1), 64)  # first pixel of each colour
    rank = np.argsort(np.argsort(first, axis=1, kind="stable"), axis=1).astype(np.uint8)
    return np.take_along_axis(rank, cells.astype(np.int64), axis=1)


def nearest_known_pixels(known: np.ndarray, cells: np.ndarray, batch: int = 256) -> np.ndarray:
    """For each of `cells` (N, 64) the most pixels any of `known` (K, 64) shares with it, all uint8."""
    def one_hot(c: np.ndarray) -> torch.Tensor:
        return torch.nn.functional.one_hot(torch.from_numpy(c.astype(np.int64)), 16).flatten(1).float()

    k = one_hot(known)
    best = [(one_hot(cells[i : i + batch]) @ k.T).amax(dim=1) for i in range(0, len(cells), batch)]
    return torch.cat(best).round().long().numpy() if best else np.zeros(0, dtype=np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--held-out", type=Path, required=True, help="recordings of the held-out games")
    ap.add_argument("--corpus", type=Path, required=True, help="recordings of other games, DIR/<game>/*.jsonl")
    ap.add_argument("--sizes", default="10,25,50,100,150", help="training-set sizes in games (and all of them)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the order games join the training set")
    args = ap.parse_args()

    t = time.time()
    file_games = {f: recording_games(f) for f in find_recordings(args.held_out)}
    held = sorted({g for gs in file_games.values() for g in gs})
    unseen = {g: distinct_cells([f for f, gs in file_games.items() if g in gs]) for g in held}
    games = sorted(p.name for p in args.corpus.iterdir() if p.is_dir() and p.name not in held)
    order = draw_fold(games, len(games), args.seed)
    sizes = {int(n) for n in args.sizes.split(",") if int(n) < len(order)} | {len(order)}
    print(f"{len(held)} held-out games, {len(order)} corpus games")
    print(f"{'games':>6} {'distinct cells':>15} {'held-out cells new':>19}")
    known: set[bytes] = set()
    new: dict[str, tuple[int, int]] = {}
    for i, g in enumerate(order, 1):
        known.update(distinct_cells(find_recordings(args.corpus / g))[0])
        if i not in sizes:
            continue
        new = {h: (counts[np.array([k not in known for k in keys])].sum(), counts.sum())
               for h, (keys, counts) in unseen.items()}  # fmt: skip
        share = sum(n for n, _ in new.values()) / sum(c for _, c in new.values())
        print(f"{i:>6} {len(known):>15,} {100 * share:>18.2f}%")
    print("per held-out game, with every corpus game: " + ", ".join(f"{h} {100 * n / c:.1f}%" for h, (n, c) in new.items()))
    known_cells = np.frombuffer(b"".join(sorted(known)), dtype=np.uint8).reshape(-1, 64)
    patterns = {p.tobytes() for p in colour_pattern(known_cells)}
    right, total, new_pattern = {}, {}, {}
    for h, (keys, counts) in unseen.items():
        is_new = np.array([k not in known for k in keys])
        cells = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, 64)
        right[h] = 64 * counts[~is_new].sum() + (nearest_known_pixels(known_cells, cells[is_new]) * counts[is_new]).sum()
        total[h] = 64 * counts.sum()
        new_pattern[h] = counts[[p.tobytes() not in patterns for p in colour_pattern(cells)]].sum()
    cells_total = sum(t // 64 for t in total.values())
    print(f"{len(patterns):,} colour patterns among the corpus's cells; held-out cells whose pattern is new: "
          f"{100 * sum(new_pattern.values()) / cells_total:.2f}% (the rest of the new cells are known shapes in new colours)")
    acc = 100 * sum(right.values()) / sum(total.values())
    print(f"cell-local ceiling with every corpus game (new cells as their nearest known one): {acc:.2f}% of pixels")
    print("per held-out game: " + ", ".join(f"{h} {100 * right[h] / total[h]:.2f}%" for h in held))
    print(f"{time.time() - t:.0f} s")


if __name__ == "__main__":
    main()
