"""The online explorer against random play on every bundled game, at a fixed action budget.

For each bundled game, agent and seed: play from the first frame until WIN or the budget, through
the real arc-agi toolkit (aria_cli.play.compare). Prints the comparison table, then per agent the levels
completed summed over games and the agent's own ms/action (act + observe, the game's time apart).

Targets (issue 8): `explore` completes clearly more levels than `random`; the agent costs
<= 30 ms/action on 2 CPU cores. (The learned `world-model` agent is compared by `aria play
--agent world-model --agent explore --agent random`, once checkpoints exist.)

Also the explorer's parts alone: segmentation ms per frame (target < 2 ms) and one change-predictor
update (target: a few ms), which the suite no longer times.

Run: .venv/bin/python benchmarks/bench_explore.py [--max-actions 4000] [--seeds 0,1,2] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from aria_cli.common.ui import console
from aria_cli.games.adapter import list_games
from aria_cli.play.compare import compare

MS_TARGET = 30.0
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _best_ms(fn, repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * min(times)


def component_timings() -> None:
    """Segmentation of a tiled board and of a noisy frame, and a synchronous change-predictor update."""
    from helpers.explore_games import tiled_board

    from aria_cli.explore import ActionHistory, ChangePredictor, PredictorConfig, action_candidates, segment
    from aria_cli.explore.change_predictor import candidate_features

    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 16, (64, 64), dtype=np.uint8)
    for name, frame in (("tiled board", tiled_board()), ("random pixels", noisy)):
        console.print(f"segmentation, {name}: {_best_ms(lambda f=frame: segment(f)):.2f} ms/frame (target < 2)")
    pred = ChangePredictor(PredictorConfig(train_every=16, buffer=4096), seed=0)
    frame = tiled_board()
    cands, seg = action_candidates(frame, (6,))
    feats = candidate_features(frame, seg, cands, ActionHistory())
    worst = 0.0
    for i in range(64):
        pred.add(feats[i % len(feats)], bool(i % 3 == 0))
        t = time.perf_counter()
        pred.maybe_train()
        worst = max(worst, time.perf_counter() - t)
    console.print(f"change predictor: {pred.updates} updates, slowest {1000 * worst:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-actions", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--agents", default="explore,random")
    ap.add_argument("--games", default="", help="comma-separated (default: every bundled game)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    component_timings()
    games = args.games.split(",") if args.games else [g.game for g in list_games() if g.source == "bundled"]
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    result = compare(games, args.agents.split(","), max_actions=args.max_actions, seeds=seeds)
    console.print(result.table())
    totals = result.totals()
    for agent, tot in totals.items():
        ok = "ok" if tot["ms_per_action"] <= MS_TARGET else "OVER TARGET"
        console.print(
            f"{agent:>8}: {tot['levels']:.1f} of {tot['win_levels']:.0f} levels (mean over seeds, summed over "
            f"games); {tot['ms_per_action']:.2f} ms/action (target <= {MS_TARGET:.0f}: {ok})"
        )
    if "explore" in totals and "random" in totals:
        better = totals["explore"]["levels"] > totals["random"]["levels"]
        console.print(f"explore beats random: {'yes' if better else 'NO'}")
    console.print(f"wall time {time.perf_counter() - t0:.0f} s ({len(result.runs)} runs)")
    if args.json:
        result.write_json(args.json)
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
