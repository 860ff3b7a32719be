"""How many of held-out games' 8x8 cells a corpus of other games contains, as the corpus grows (issue 27).

    .venv/bin/python benchmarks/bench_cell_coverage.py --held-out HELD --corpus RUNS/recordings

A cell-local tokenizer decodes a cell it never saw as the nearest one it knows, so on games it was not
trained on its accuracy follows the share of their cells that no training frame contains. This counts
that share (over cell occurrences in every frame of HELD's recordings) for training sets of the first
N games of CORPUS (one folder per game, games in a fixed order drawn with `--seed`; held-out games
skipped), and the distinct cells such a set holds: what a codebook would need to keep them all apart.
No model is trained; it reads recordings only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aria_cli.data.recordings import find_recordings, iter_steps  # noqa: E402
from aria_cli.data.splits import draw_fold, recording_games  # noqa: E402
from aria_cli.tokenizer.cells import frames_to_cells, unique_cells  # noqa: E402


def distinct_cells(files: list[Path]) -> tuple[list[bytes], np.ndarray]:
    """The distinct 8x8 cells of every frame of `files` (as bytes) and how often each occurs."""
    frames = np.stack([s.frame for p in files for s in iter_steps(p)]).astype(np.uint8)
    cells, inverse = unique_cells(frames_to_cells(frames))
    return [c.tobytes() for c in cells], np.bincount(inverse, minlength=len(cells))


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
    for i, g in enumerate(order, 1):
        known.update(distinct_cells(find_recordings(args.corpus / g))[0])
        if i not in sizes:
            continue
        new = {h: (counts[np.array([k not in known for k in keys])].sum(), counts.sum())
               for h, (keys, counts) in unseen.items()}  # fmt: skip
        share = sum(n for n, _ in new.values()) / sum(c for _, c in new.values())
        print(f"{i:>6} {len(known):>15,} {100 * share:>18.2f}%")
    print("per held-out game, with every corpus game: " + ", ".join(f"{h} {100 * n / c:.1f}%" for h, (n, c) in new.items()))
    print(f"{time.time() - t:.0f} s")


if __name__ == "__main__":
    main()
