"""The world-model agent's knobs (`AgentConfig`) compared on a list of games, in worker processes.

    .venv/bin/python benchmarks/bench_agent_config.py --checkpoints CK --games-file GAMES \
        --environments-dir ../shared/realgames/environment_files --actions 2000 --seeds 0,1 \
        --config default --config wm_type_weight=2 --config temperature=0.25,wm_type_weight=2 --config explore

Each `--config` is `default`, `explore` (the baseline agent), or `key=value[,key=value]` of
`aria_cli.agents.learned.AgentConfig`. Every (config, game) pair is one job of a pool of `--jobs`
processes (each plays the game's seeds through `aria_cli.play.compare`, the engine of `aria play` and
`aria bench`, on one torch thread). The configs are the agents of one `ComparisonResult`: its table
(levels per game and config, the official score of each game's best seed, ms/action, errors, totals
with their range over seeds), then each config's levels for each seed. `--json OUT` writes the
comparison (every run, summary and totals) as `aria play --json` does.

`aria bench` takes the options users set most (`--temperature`, `--level-weight`, learning inside
the game); this script takes any `AgentConfig` field, for choosing the defaults. Choose them on
games the models and the comparison you report do not share (RESULTS.md §7: chosen on 30 games unseen
by the 50-game models, reported on the 29 held-out games the 210-game models never saw).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from aria_cli.agents.learned import AgentConfig, learned_agent_factories
from aria_cli.common.errors import AriaError
from aria_cli.common.ui import console
from aria_cli.play.bench import BenchConfig, parse_seeds, select_games
from aria_cli.play.compare import ComparisonResult, RunResult, compare


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


def play(checkpoints: str, name: str, config: dict, game: str, seeds: list[int], actions: int,
         env_dir: str | None) -> list[RunResult]:
    """One game, every seed, one config: the runs, each under the config's name as its agent."""
    agent = config.get("agent", "world-model")
    extra = {} if agent == "explore" else learned_agent_factories(Path(checkpoints), "cpu", AgentConfig(**config))
    result = compare([game], [agent], max_actions=actions, seeds=seeds, extra_agents=extra,
                     environments_dir=Path(env_dir) if env_dir else None, show_progress=False)
    return [dataclasses.replace(r, agent=name) for r in result.runs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", type=Path, required=True)
    ap.add_argument("--games-file", type=Path, help="one game id a line, # comments [default: every game of the folder]")
    ap.add_argument("--environments-dir", type=Path, default=None, help="a toolkit games folder [default: bundled]")
    ap.add_argument("--config", action="append", default=None, help="default | explore | key=value,... (repeatable)")
    ap.add_argument("--actions", type=int, default=2000)
    ap.add_argument("--seeds", default="0", help="0-4 or 0,3,7, as aria bench --seeds")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    try:  # the games and seeds as `aria bench` reads them (comments in the games file, unknown games named)
        games = select_games(BenchConfig(env_dir=args.environments_dir, games_file=args.games_file))
        seeds = parse_seeds(args.seeds)
    except AriaError as e:
        raise SystemExit(str(e)) from None
    names = args.config or ["default"]
    configs = {name: parse_config(name) for name in names}
    env = str(args.environments_dir) if args.environments_dir else None
    runs: list[RunResult] = []
    t0 = time.time()
    with ProcessPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(play, str(args.checkpoints), name, cfg, g, seeds, args.actions, env)
                for name, cfg in configs.items() for g in games]  # fmt: skip
        for i, done in enumerate(as_completed(jobs), 1):
            runs += done.result()
            console.print(f"[dim]{i}/{len(jobs)} game-configs played, {time.time() - t0:.0f} s[/dim]")
    runs.sort(key=lambda r: (games.index(r.game), names.index(r.agent), seeds.index(r.seed)))
    result = ComparisonResult(games, names, seeds, args.actions, runs)
    if args.json:
        result.write_json(args.json)
    console.print(result.table(show_errors=True))
    for name, tot in result.totals().items():
        per_seed = ", ".join(f"seed {s}: {n}" for s, n in (tot["levels_by_seed"] or {}).items())
        console.print(f"{name}: levels {per_seed or 'per seed: some runs missing'}")


if __name__ == "__main__":
    main()
