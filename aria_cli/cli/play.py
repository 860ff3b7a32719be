"""Commands that play: play, bench, quickstart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aria_cli.cli.app import (
    DEFAULT_CHECKPOINTS,
    DEFAULT_DATA,
    CheckpointsOpt,
    DataOpt,
    DeviceOpt,
    EnvDirOpt,
    ForceOpt,
    SeedOpt,
    command,
    console,
)
from aria_cli.common.errors import AriaError
from aria_cli.common.ui import print_error

# The learned agents' options that `aria play` and `aria bench` share.
TemperatureOpt = Annotated[float, typer.Option("--temperature", min=0.0, help="Sampling temperature over the candidates' scores (0: always the best).")]
LevelWeightOpt = Annotated[float, typer.Option("--level-weight", help="Weight of log P(level) in the score.")]
LeadOpt = Annotated[float, typer.Option("--lead-p", min=0.0, max=1.0, help="world-model: take the action the models give at least this probability before exploring (0: off).")]
AdaptEveryOpt = Annotated[int, typer.Option("--adapt-every", min=0, help="world-model: adapt an in-memory copy of the world model to the game every N actions (0: off).")]
AdaptStepsOpt = Annotated[int, typer.Option("--adapt-steps", min=0, help="world-model: gradient steps per adaptation round (0: off).")]
WmChangeOpt = Annotated[int, typer.Option("--wm-change", min=0, help="world-model: ask the world model P(frame changes) for the top N candidates, blended with the explorer's by online calibration (0: off).")]
WmNoveltyOpt = Annotated[int, typer.Option("--wm-novelty", min=0, help="world-model: ask the world model P(new state) for the top N candidates, blended with the explorer's by online calibration (0: off).")]
LearnWinsOpt = Annotated[int, typer.Option("--learn-wins", min=0, help="world-model: after each level it completes, N gradient steps of an in-memory copy of the policy heads on the fewest actions that won this game's levels (0: off).")]


# --------------------------------------------------------------------------- playing
@command("play")
def play(
    games: Annotated[list[str], typer.Argument(help="Game id(s), e.g. qmaz (see `aria games`).")],
    agent: Annotated[
        list[str] | None,
        typer.Option("--agent", help="world-model | policy | explore | random (repeatable) \\[default: world-model]."),
    ] = None,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    environments_dir: EnvDirOpt = None,
    online: Annotated[bool, typer.Option("--online", help="Download official games (needs a network).")] = False,
    max_actions: Annotated[int, typer.Option("--max-actions", help="Action budget per game (RESETs count).")] = 1000,
    seed: Annotated[list[int] | None, typer.Option("--seed", help="Random seed (repeatable) \\[default: 0].")] = None,
    render: Annotated[
        str, typer.Option("--render", help="live | none \\[default: live on a terminal, none otherwise].")
    ] = "auto",
    record: Annotated[bool, typer.Option("--record/--no-record", help="Save the run as a toolkit recording.")] = True,
    record_dir: Annotated[Path, typer.Option("--record-dir", help="Where recordings of runs go.")] = Path("runs"),
    gif: Annotated[Path | None, typer.Option("--gif", help="Write an animated GIF of the run.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON.")] = None,
    temperature: TemperatureOpt = 0.5,
    level_weight: LevelWeightOpt = 1.0,
    lead_p: LeadOpt = 0.9,
    adapt_every: AdaptEveryOpt = 0,
    adapt_steps: AdaptStepsOpt = 2,
    wm_change: WmChangeOpt = 0,
    wm_novelty: WmNoveltyOpt = 0,
    learn_wins: LearnWinsOpt = 0,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """Play games with an agent through the arc-agi toolkit; several games/agents/seeds → a comparison."""
    from aria_cli.play.run import PlayConfig
    from aria_cli.play.run import play as core

    core(PlayConfig(
        games=games, agents=agent or ["world-model"], seeds=seed or [0], checkpoints=checkpoints,
        environments_dir=environments_dir, online=online, max_actions=max_actions, render=render, record=record,
        record_dir=record_dir, gif=gif, json_out=json_out, device=device, temperature=temperature,
        level_weight=level_weight, lead_p=lead_p, adapt_every=adapt_every, adapt_steps=adapt_steps,
        wm_change=wm_change, wm_novelty=wm_novelty, learn_wins=learn_wins, force=force,
    ))  # fmt: skip


@command("bench")
def bench(
    ctx: typer.Context,
    env_dir: Annotated[
        Path | None, typer.Argument(help="An environments folder (<game>/<version>/...) \\[default: the bundled games].")
    ] = None,
    game: Annotated[list[str] | None, typer.Option("--game", help="Only this game (repeatable).")] = None,
    games_file: Annotated[Path | None, typer.Option("--games-file", help="Only the games in this file, one a line.")] = None,
    agent: Annotated[
        list[str] | None, typer.Option("--agent", help="explore | random | world-model | policy (repeatable) \\[default: explore].")
    ] = None,
    seed: Annotated[list[int] | None, typer.Option("--seed", help="Random seed (repeatable) \\[default: 0].")] = None,
    seeds: Annotated[str | None, typer.Option("--seeds", help="Seeds as a range or list: 0-4, or 0,3,7.")] = None,
    max_actions: Annotated[int, typer.Option("--max-actions", help="Action budget per run (RESETs count).")] = 1000,
    jobs: Annotated[int, typer.Option("--jobs", min=0, show_default=False, help="Worker processes \\[default: the machine's cores].")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Results folder \\[default: runs/bench-<UTC time>].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Finish the bench in --out, skipping the runs it has.")] = False,
    shard: Annotated[str | None, typer.Option("--shard", help="I/N: run only share I (0-based) of N of the runs.")] = None,
    merge: Annotated[
        list[Path] | None,
        typer.Option("--merge", help="Join results folders into --out (repeatable): the shards of one bench, or "
                     "benches to compare; a learned agent played under other options or models is kept apart, e.g. "
                     "world-model(wm-change=8), world-model@ck210."),
    ] = None,
    run_timeout: Annotated[
        float, typer.Option("--run-timeout", help="Seconds before a run is stopped as hung (what it played is kept).")
    ] = 600.0,
    record: Annotated[bool, typer.Option("--record/--no-record", help="Save each run as a toolkit recording.")] = True,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    device: Annotated[str, typer.Option("--device", help="cpu | cuda | auto, for the learned agents.")] = "cpu",
    temperature: TemperatureOpt = 0.5,
    level_weight: LevelWeightOpt = 1.0,
    lead_p: LeadOpt = 0.9,
    adapt_every: AdaptEveryOpt = 0,
    adapt_steps: AdaptStepsOpt = 2,
    wm_change: WmChangeOpt = 0,
    wm_novelty: WmNoveltyOpt = 0,
    learn_wins: LearnWinsOpt = 0,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 3 when any run failed (every run failing exits 1 regardless).")] = False,
) -> None:
    """Agents × seeds on every game of a folder, in worker processes: table, summary.json, bench.png."""
    from aria_cli.play import bench as core

    if merge:
        if env_dir is not None:  # `--merge A B` reads B as ENV_DIR, which merging does not use: B would be left out
            raise AriaError(f"--merge takes one results folder each: --merge {merge[-1]} --merge {env_dir} "
                            "(ENV_DIR is not used when merging)")  # fmt: skip
        given = [p.opts[0] for p in ctx.command.params if p.name not in ("merge", "out", "env_dir", "strict")
                 and ctx.get_parameter_source(p.name).name == "COMMANDLINE"]  # typer may vendor its own click
        if given:
            raise AriaError(f"--merge joins finished results folders as they are; {', '.join(given)} "
                            f"{'does' if len(given) == 1 else 'do'} not apply to it (bench each folder with "
                            f"{'it' if len(given) == 1 else 'them'}, then merge)")  # fmt: skip
        folder, result = core.merge(list(merge), out)
    else:
        seed_list = (seed or []) + (core.parse_seeds(seeds) if seeds else [])
        folder, result = core.bench(core.BenchConfig(
            env_dir=env_dir, games=game or [], games_file=games_file, agents=agent or ["explore"],
            seeds=seed_list or [0], max_actions=max_actions, jobs=jobs, out=out, resume=resume, shard=shard,
            run_timeout=run_timeout, record=record, checkpoints=checkpoints, device=device,
            temperature=temperature, level_weight=level_weight, lead_p=lead_p, adapt_every=adapt_every, adapt_steps=adapt_steps, wm_change=wm_change, wm_novelty=wm_novelty,
            learn_wins=learn_wins,
        ))  # fmt: skip
    for table in result.tables(show_errors=True):
        console.print(table)
    console.print(f"results: {folder}/ (summary.json, table.txt, bench.png, runs.jsonl)")
    failed = sum(1 for r in result.runs if r.error)
    if failed:
        print_error(f"{failed} of {len(result.runs)} runs failed; their errors are in the table")
    if result.runs and failed == len(result.runs):
        raise typer.Exit(1)
    if strict and failed:  # a game's own crash leaves the results whole, so only a caller who asks fails on it
        raise typer.Exit(3)


@command("quickstart")
def quickstart(
    data: DataOpt = DEFAULT_DATA,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    full: Annotated[bool, typer.Option("--full", help="The full-size run: more episodes, no time caps.")] = False,
    wm_minutes: Annotated[float, typer.Option("--wm-minutes", help="World-model training budget (quick run).")] = 4.5,
    max_actions: Annotated[int, typer.Option("--max-actions", help="Actions per game in the play stage.")] = 1000,
    backbone: Annotated[
        str | None,
        typer.Option("--backbone", help="World-model backbone (default: tiny; with --full, train-wm's default "
                     "for the device: smollm2-360m on a GPU)."),
    ] = None,
    device: DeviceOpt = "auto",
    seed: SeedOpt = 0,
) -> None:
    """The whole pipeline on the bundled games, offline: record → tokenizer → world model → policy → eval → play."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.quickstart import QuickstartConfig
    from aria_cli.quickstart import quickstart as core

    check_writable(checkpoints, "--checkpoints", folder=True)
    check_writable(data, "--data", folder=True)

    core(QuickstartConfig(data=data, checkpoints=checkpoints, full=full, wm_minutes=wm_minutes,
                          max_actions=max_actions, backbone=backbone, device=device, seed=seed))
