"""The world-model agent's knobs (`AgentConfig`) compared on a list of games, in worker processes.

    .venv/bin/python benchmarks/bench_agent_config.py --checkpoints CK --games-file GAMES \
        --environments-dir ../shared/realgames/environment_files --actions 2000 --seeds 0,1 \
        --config default --config wm_type_weight=2 --config temperature=0.25,wm_type_weight=2 --config explore

Each `--config` is `default`, `explore` (the baseline agent), or `key=value[,key=value]` of
`aria_cli.agents.learned.AgentConfig`. Every (config, game) pair is one job of a pool of `--jobs`
processes (each plays the game's seeds through `aria_cli.play.compare`, the engine of `aria play` and
`aria bench`, on one torch thread). Prints, per config: levels summed over games for each seed, the
games won, the official score (each game's best seed, mean over the games that have baselines) and
ms/action; then levels per game. `--json OUT` keeps every run (one object a line).

`aria bench` takes the options users set most (`--temperature`, `--level-weight`, learning inside
the game); this script takes any `AgentConfig` field, for choosing the defaults. Choose them on
games the models and the comparison you report do not share (RESULTS.md §7: chosen on 30 games unseen
by the 50-game models, reported on the 29 held-out games the 210-game models never saw).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from rich.table import Table

from aria_cli.agents.learned import AgentConfig, learned_agent_factories
from aria_cli.common.ui import console
from aria_cli.play.compare import compare
from aria_cli.play.score import best_score


def parse_config(text: str) -> dict:
    """`default` -> {}, `explore` -> {"agent": "explore"}, `a=1,b=0.5` -> AgentConfig overrides."""
    if text in ("default", "explore"):
        return {} if text == "default" else {"agent": "explore"}
    fields = {f.name: f.type for f in dataclasses.fields(AgentConfig)}
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"--config {text!r}: {key!r} is not an AgentConfig field ({', '.join(fields)})")
        try:
            out[key] = (int if fields[key] in (int, "int") else float)(value)
        except ValueError:
            raise SystemExit(f"--config {text!r}: {key} needs a number, got {value!r}") from None
    return out


def play(checkpoints: str, config: dict, game: str, seeds: list[int], actions: int, env_dir: str | None) -> list[dict]:
    """One game, every seed, one config: the runs as dicts."""
    agent = config.get("agent", "world-model")
    extra = {} if agent == "explore" else learned_agent_factories(Path(checkpoints), "cpu", AgentConfig(**config))
    result = compare([game], [agent], max_actions=actions, seeds=seeds, extra_agents=extra,
                     environments_dir=Path(env_dir) if env_dir else None, show_progress=False)
    return [{"game": r.game, "seed": r.seed, "levels": r.levels_completed, "win_levels": r.win_levels,
             "won": r.won, "error": r.error, "score": r.score, "ms_per_action": r.ms_per_action, "actions_to_level": r.actions_to_level}
            for r in result.runs]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", type=Path, required=True)
    ap.add_argument("--games-file", type=Path, help="one game id a line [default: the bundled games]")
    ap.add_argument("--environments-dir", type=Path, default=None, help="a toolkit games folder [default: bundled]")
    ap.add_argument("--config", action="append", default=None, help="default | explore | key=value,... (repeatable)")
    ap.add_argument("--actions", type=int, default=2000)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    games = args.games_file.read_text().split() if args.games_file else ["qmaz", "qtgl", "qmix", "qpsh"]
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.config or ["default"]
    configs = {name: parse_config(name) for name in names}
    env = str(args.environments_dir) if args.environments_dir else None
    runs: dict[str, list[dict]] = defaultdict(list)
    t0 = time.time()
    with ProcessPoolExecutor(args.jobs) as pool:
        jobs = {pool.submit(play, str(args.checkpoints), cfg, g, seeds, args.actions, env): name
                for name, cfg in configs.items() for g in games}  # fmt: skip
        for i, done in enumerate(as_completed(jobs), 1):
            runs[jobs[done]] += done.result()
            console.print(f"[dim]{i}/{len(jobs)} game-configs played, {time.time() - t0:.0f} s[/dim]")
    if args.json:
        with args.json.open("w") as fh:
            for name, rs in runs.items():
                for r in rs:
                    fh.write(json.dumps({"config": name, **r}) + "\n")

    summary = Table(title=f"{len(games)} games, {args.actions} actions, seeds {args.seeds}")
    summary.add_column("config", overflow="fold")
    for col in ("levels per seed", "won per seed", "official score (best seed)", "ms/action"):
        summary.add_column(col, justify="right")
    for name in names:
        rs = runs[name]
        by_seed = [[r for r in rs if r["seed"] == s] for s in seeds]
        best = [best_score([r["score"] for r in rs if r["game"] == g])[0] for g in games]
        scored = [b for b in best if b is not None]
        summary.add_row(
            name,
            ", ".join(str(sum(r["levels"] for r in s)) for s in by_seed),
            ", ".join(str(sum(r["won"] for r in s)) for s in by_seed),
            f"{np.mean(scored):.3f}" if scored else "-",
            f"{np.mean([r['ms_per_action'] for r in rs]):.1f}",
        )
    console.print(summary)
    per_game = Table(title="levels per game (seeds summed)")
    per_game.add_column("game")
    for name in names:
        per_game.add_column(name, justify="right", overflow="fold")
    for g in games:
        per_game.add_row(g, *(str(sum(r["levels"] for r in runs[n] if r["game"] == g)) for n in names))
    console.print(per_game)
    failed = [(n, r) for n in names for r in runs[n] if r["error"]]
    for name, r in failed:
        console.print(f"[red]{name} {r['game']} seed {r['seed']} failed: {r['error']}[/red]")


if __name__ == "__main__":
    main()
