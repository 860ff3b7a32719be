"""What a seen game's val run shows that its training run never did: the cell-level novelty of val files (issue 27).

    .venv/bin/python benchmarks/bench_seen_val_cells.py --train RUNS/recordings:explore-seed0 \
        --val RUNS/recordings:random-seed0 --val RUNS_S1/recordings:explore-seed1

Training is every game's `<game>-<RUN>.jsonl` under the --train folder (aria bench's layout,
DIR/<game>/<game>-<agent>-seed<s>.jsonl), pooled over games as the tokenizer pools them. For each
--val set (the same games' `<RUN>` files) it prints the share of val cell occurrences no training frame
holds, and the share of val frames whose every cell some training frame holds: what a tokenizer that
decodes every training cell exactly reaches at most in frames exact, whatever its training. No model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cell_coverage import frame_cells  # noqa: E402  (a recording's distinct cells, and each frame's)


def folder_run(value: str) -> tuple[Path, str]:
    folder, _, run = value.rpartition(":")
    if not folder or not run:
        raise argparse.ArgumentTypeError(f"{value!r}: expected FOLDER:RUN, e.g. runs/recordings:explore-seed0")
    return Path(folder), run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=folder_run, required=True, help="FOLDER:RUN of the training files.")
    ap.add_argument("--val", type=folder_run, action="append", required=True, help="FOLDER:RUN of a val set (repeatable).")
    args = ap.parse_args()
    folder, run = args.train
    games = sorted(p.name for p in folder.iterdir() if (p / f"{p.name}-{run}.jsonl").is_file())
    known: set[bytes] = set()
    for g in games:
        known.update(frame_cells([folder / g / f"{g}-{run}.jsonl"])[0])
    print(f"training: {len(games)} games' {run} runs, {len(known):,} distinct cells")
    for vfolder, vrun in args.val:
        new = cells = frames = clean = 0
        worst = []
        for g in games:
            f = vfolder / g / f"{g}-{vrun}.jsonl"
            if not f.is_file():
                continue
            distinct, inverse = frame_cells([f])
            is_new = np.array([c not in known for c in distinct], dtype=bool)[inverse]
            new, cells = new + int(is_new.sum()), cells + is_new.size
            frames, clean = frames + len(is_new), clean + int((~is_new.any(axis=1)).sum())
            worst.append((float(is_new.mean()), g))
        worst.sort(reverse=True)
        print(f"val {vrun} ({len(worst)} games, {frames:,} frames): {new / max(cells, 1):.2%} of cells new to training, "
              f"{clean / max(frames, 1):.1%} of frames with no new cell; most new: "
              + ", ".join(f"{g} {v:.1%}" for v, g in worst[:5]))


if __name__ == "__main__":
    main()
