"""What the bundled demonstrations allow on qtgl's location gates (issue 6): the best top-1 accuracy any
predictor can reach on the val split, printed beside the 40% gate.

    .venv/bin/python benchmarks/bench_gate_ceilings.py                     # the quickstart's recordings/
    .venv/bin/python benchmarks/bench_gate_ceilings.py --data other/recordings

qtgl is lights-out. The demonstrator clicks the tiles of the board's fewest-clicks solution in a random
order (people click them in any order), so a predictor that solves the board perfectly can still only
guess which of the k remaining tiles comes next: 1/k. Averaged over val clicks (0 for the noisy clicks
outside the solution), that is the ceiling of `action_loc_acc` and `policy_loc_acc` on qtgl.

The board is read from the frame the click was chosen on (tiles are 8x8 cells: dark, lit or hole), and
each level's flip pattern from the game file, so the figure needs no game state beyond the recording.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

from aria_cli.demonstrators import lights_out_solution
from aria_cli.recordings import find_recordings, read_recording
from aria_cli.splits import assign_split
from aria_cli.token_cache import relative_key
from aria_cli.vocab import CELL_PIXELS, CLICK, GRID

ROOT = Path(__file__).resolve().parents[1]

GATE = 0.40


def qtgl_module():
    path = next((ROOT / "aria_cli" / "environments" / "qtgl").glob("*/qtgl.py"))
    spec = importlib.util.spec_from_file_location("qtgl_game", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def board(frame: np.ndarray, game) -> dict[tuple[int, int], bool]:
    """(row, col) of every tile on the board → lit, from the colours of its 8x8 cell."""
    rows = game.BOARD_H // CELL_PIXELS
    cells = frame[: rows * CELL_PIXELS].reshape(rows, CELL_PIXELS, GRID, CELL_PIXELS).transpose(0, 2, 1, 3)
    tiles = {}
    for r in range(rows):
        for c in range(GRID):
            n = np.bincount(cells[r, c].ravel(), minlength=16)
            off, on = n[game.C_OFF], n[game.C_ON] + n[game.C_ON_CORE]
            if off + on > CELL_PIXELS**2 // 2:
                tiles[(r, c)] = on > off
    return tiles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("recordings"), help="Recordings folder (default: recordings).")
    args = ap.parse_args()
    game = qtgl_module()
    paths = find_recordings(args.data)
    recs = {relative_key(p, args.data): read_recording(p) for p in paths}
    split = assign_split((k, r.game) for k, r in recs.items())
    clicks = in_solution = 0
    ceiling = 0.0
    for key, rec in recs.items():
        if rec.game != "qtgl" or split[key] != "val":
            continue
        for before, after in zip(rec.steps, rec.steps[1:], strict=False):  # the action taken on `before`'s frame
            if after.action != CLICK:
                continue
            clicks += 1
            level = min(before.levels_completed, len(game.LEVELS) - 1)
            sol = lights_out_solution(board(before.frame, game), game.PATTERNS[game.LEVELS[level][2]])
            if sol and (after.y // CELL_PIXELS, after.x // CELL_PIXELS) in sol:
                in_solution += 1
                ceiling += 1.0 / len(sol)
    if not clicks:
        sys.exit(f"no qtgl clicks in the val split of {args.data}")
    print(f"qtgl val clicks: {clicks} ({100 * in_solution / clicks:.1f}% on a tile of the board's fewest-clicks solution)")
    print(f"ceiling of top-1 click-cell accuracy: {100 * ceiling / clicks:.1f}%   gate > {100 * GATE:.0f}%   "
          f"{'reachable' if ceiling / clicks > GATE else 'NOT reachable by any predictor on these demonstrations'}")


if __name__ == "__main__":
    main()
