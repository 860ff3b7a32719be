"""The online explorer against random play on every bundled game, at a fixed action budget.

For each bundled game, agent and seed: play from the first frame until WIN or the budget, through
the real arc-agi toolkit (aria_cli.play.compare). Prints the comparison table, then per agent the levels
completed summed over games and the agent's own ms/action (act + observe, the game's time apart).

Targets (issue 8): `explore` completes clearly more levels than `random`; the agent costs
<= 30 ms/action on 2 CPU cores. (The learned `world-model` agent is compared by `aria play
--agent world-model --agent explore --agent random`, once checkpoints exist.)

Run: .venv/bin/python benchmarks/bench_explore.py [--max-actions 4000] [--seeds 0,1,2] [--json FILE]
"""

from __future__ import annotations

import argparse
import time

from aria_cli.common.ui import console
from aria_cli.games.adapter import list_games
from aria_cli.play.compare import compare

MS_TARGET = 30.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-actions", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--agents", default="explore,random")
    ap.add_argument("--games", default="", help="comma-separated (default: every bundled game)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
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
