"""What the bundled demonstrations allow on the click games' location gates (issue 6): the best top-1
accuracy a predictor can reach on the val split, printed beside the 40% gate, for qtgl and qmix.

    .venv/bin/python benchmarks/bench_gate_ceilings.py                     # the quickstart's recordings/
    .venv/bin/python benchmarks/bench_gate_ceilings.py --data other/recordings

qtgl is lights-out. The demonstrator clicks the tiles of the board's fewest-clicks solution in a random
order (people click them in any order), so a predictor that solves the board perfectly can still only
guess which of the k remaining tiles comes next: 1/k. Averaged over val clicks (0 for the noisy clicks
outside the solution), that is the ceiling of `action_loc_acc` and `policy_loc_acc` on qtgl.
The board is read from the frame the click was chosen on (tiles are 8x8 cells: dark, lit or hole), and
each level's flip pattern from the game file, so the figure needs no game state beyond the recording.

qmix is a Latin square. The demonstrator goes to the wrong tile nearest the cursor (ties broken at
random) and clicks it when it is two or more steps away, so the ceiling is 1/(tied tiles) per click.
Which tiles are wrong depends on the completion it aims for, so each val recording is replayed through
the toolkit from the seed in its name (`aria record`'s `<game>-seed<S>-noise<N>.jsonl`) and the game's
own state read at every click; a replay whose frames differ from the recording's is left out and
counted. Beside the ceiling: what the visible rule "click the grey (empty) tile nearest the cursor"
scores, a figure any model that reads the frame could reach.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import numpy as np

from aria_cli.data.recordings import find_recordings, read_recording
from aria_cli.data.splits import assign_split
from aria_cli.data.token_cache import relative_key
from aria_cli.games.planners import lights_out_solution, nearest_tiles, qmix_next_tiles, qmix_tile_at
from aria_cli.games.session import GameSession
from aria_cli.vocab import CELL_PIXELS, CLICK, GRID

ROOT = Path(__file__).resolve().parents[1]

GATE = 0.40


def qtgl_module():
    path = next((ROOT / "aria_cli" / "games" / "environments" / "qtgl").glob("*/qtgl.py"))
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


def qtgl_ceiling(recs: dict, split: dict) -> tuple[int, int, float]:
    """(val clicks, clicks on a solution tile, summed chance of guessing the demonstrator's next tile)."""
    game = qtgl_module()
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
    return clicks, in_solution, ceiling


def qmix_clicks(rec) -> list[tuple[tuple[int, int], list, list]] | None:
    """Replay a qmix recording from the seed in its name; for each click: (the tile clicked, the wrong
    tiles nearest the cursor, the grey tiles nearest the cursor). None when it cannot be replayed."""
    seed = re.search(r"-seed(\d+)", rec.path.name)
    if seed is None:
        return None
    out = []
    with GameSession(rec.game, seed=int(seed.group(1))) as session:
        game = session.engine_game
        for step in rec.steps[1:]:  # the first line is the game's start
            if step.action == CLICK:
                grey = [(r, c) for r in range(game.n) for c in range(game.n) if game.values[r][c] == 0]
                tile = qmix_tile_at(game, step.x, step.y)
                out.append((tile, qmix_next_tiles(game), nearest_tiles(grey, tuple(game.cursor))))
            if (session.step(step.action, step.x, step.y).frame != step.frame).any():
                return None
    return out


def qmix_ceiling(recs: dict, split: dict) -> tuple[int, int, float, float, int]:
    """(val clicks, clicks on a nearest wrong tile, summed chance of guessing it, summed chance of the
    nearest-grey-tile rule, val recordings left out because they cannot be replayed)."""
    clicks, left_out = [], 0
    for key, rec in recs.items():
        if rec.game == "qmix" and split[key] == "val":
            replayed = qmix_clicks(rec)
            left_out += replayed is None
            clicks += replayed or []
    nearest = sum(tile in ties for tile, ties, _ in clicks)
    ceiling = sum((tile in ties) / len(ties) for tile, ties, _ in clicks if ties)
    rule = sum((tile in grey) / len(grey) for tile, _, grey in clicks if grey)
    return len(clicks), nearest, ceiling, rule, left_out


def _verdict(ceiling: float) -> str:
    return f"gate > {100 * GATE:.0f}%   " + ("reachable" if ceiling > GATE else
                                              "NOT reachable by any predictor on these demonstrations")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("recordings"), help="Recordings folder (default: recordings).")
    args = ap.parse_args()
    paths = find_recordings(args.data)
    recs = {relative_key(p, args.data): read_recording(p) for p in paths}
    split = assign_split((k, r.game) for k, r in recs.items())

    clicks, in_solution, ceiling = qtgl_ceiling(recs, split)
    if clicks:
        print(f"qtgl val clicks: {clicks} ({100 * in_solution / clicks:.1f}% on a tile of the board's fewest-clicks solution)")
        print(f"  ceiling of top-1 click-cell accuracy: {100 * ceiling / clicks:.1f}%   {_verdict(ceiling / clicks)}")
    else:
        print(f"qtgl: no val clicks in {args.data}")

    clicks, nearest, ceiling, rule, left_out = qmix_ceiling(recs, split)
    skipped = f"; {left_out} val recordings left out (no seed in the name, or the replay differs)" if left_out else ""
    if clicks:
        print(f"qmix val clicks: {clicks} ({100 * nearest / clicks:.1f}% on a wrong tile nearest the cursor{skipped})")
        print(f"  ceiling of top-1 click-cell accuracy: {100 * ceiling / clicks:.1f}%   {_verdict(ceiling / clicks)}")
        print(f"  the rule 'click the grey tile nearest the cursor': {100 * rule / clicks:.1f}%")
    else:
        print(f"qmix: no val clicks in {args.data}{skipped}")


if __name__ == "__main__":
    main()
