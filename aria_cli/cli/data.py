"""Commands over games and recordings: games, record, distill, inspect-tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aria_cli.cli.app import (
    DEFAULT_CHECKPOINTS,
    CheckpointsOpt,
    EnvDirOpt,
    SeedOpt,
    SkipBadOpt,
    command,
    console,
)
from aria_cli.common.errors import AriaError


# --------------------------------------------------------------------------- games and recording
@command("games")
def games(environments_dir: EnvDirOpt = None) -> None:
    """List the games aria can run: yours (--environments-dir or $ENVIRONMENTS_DIR), then the bundled ones."""
    from aria_cli.games.adapter import list_games
    from aria_cli.games.catalog import games_table

    console.print(games_table(list_games(environments_dir)))


@command("record")
def record(
    game: Annotated[str, typer.Argument(help="A bundled game id (see `aria games`), e.g. qmaz.")],
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Episodes to record, one file each.")] = 10,
    noise: Annotated[
        float,
        typer.Option("--noise", min=0.0, max=0.99, help="Share of actions that stray from the plan (exploring, slips, resets)."),
    ] = 0.05,
    seed: SeedOpt = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the recordings \\[default: recordings/GAME].")] = None,
    environments_dir: EnvDirOpt = None,
) -> None:
    """Record the demonstrator playing a bundled game, as arc-agi toolkit recordings (episode i uses seed+i)."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.games.record import default_out_dir, record_game

    check_writable(out or default_out_dir(game), "--out", folder=True)
    paths = record_game(game, episodes=episodes, noise=noise, seed=seed, out_dir=out, environments_dir=environments_dir)
    console.print(f"recorded {len(paths)} episodes of {game} in {paths[0].parent}; look at one with: aria inspect-tokens {paths[0]}")


@command("distill")
def distill(
    runs: Annotated[list[Path], typer.Argument(help="Recordings of play (.jsonl files or folders of them).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the distilled recordings (<out>/<game>/...).")],
    environments_dir: EnvDirOpt = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed the runs were played with (default: -seed<N> in the file name, else 0).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the per-level results as JSON.")] = None,
) -> None:
    """Turn recordings of play into clean demonstrations: the shortest observed way through each completed level, replayed."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.games.distill import distill as core
    from aria_cli.games.distill import result_table

    check_writable(out, "--out", folder=True)
    if json_out is not None:
        check_writable(json_out, "--json")
    def show(r) -> None:
        if r.levels:
            console.print(result_table(r))
        if r.output is not None:
            console.print(f"wrote {r.output}" + (f" ({r.message})" if r.message else ""))
        else:
            console.print(f"{r.source}: {r.message}; nothing written")

    results = core(runs, out, environments_dir=environments_dir, seed=seed, on_result=show)
    if json_out is not None:
        from aria_cli.common import atomic

        atomic.write_json(json_out, [r.to_json() for r in results])
        console.print(f"wrote {json_out}")
    written = [r for r in results if r.output is not None]
    if not written:
        raise AriaError(f"nothing distilled: none of the {len(results)} recordings has a level that replays to a win")
    console.print(f"distilled {len(written)} of {len(results)} recordings into {out}")


# --------------------------------------------------------------------------- recordings and tokens
@command("inspect-tokens")
def inspect_tokens(
    file: Annotated[Path, typer.Argument(help="A .jsonl recording.")],
    steps: Annotated[str, typer.Option("--steps", help="START:END steps to list.")] = "0:20",
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    skip_bad: SkipBadOpt = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the steps and tokens as JSON.")] = None,
) -> None:
    """Show what one recording becomes: steps, actions, cells, level markers, and VQ codes."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.data import inspect as core

    if json_out is not None:
        check_writable(json_out, "--json")
    ins = core.inspect_recording(file, checkpoints, skip_bad=skip_bad)
    console.print(core.summary_panel(ins))
    console.print(core.steps_table(ins, core.parse_step_range(steps, ins.episode.n_actions)))
    if json_out is not None:
        core.write_json(ins, json_out)
        console.print(f"wrote {json_out}")
