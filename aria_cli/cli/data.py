"""Commands over games and recordings: games, record, distill, split, inspect-tokens."""

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


@command("split")
def split(
    recordings: Annotated[list[Path], typer.Argument(help="Recordings (.jsonl files or folders of them), e.g. a bench's recordings/.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the split: train/, held-out/ (links), held-out-games.txt, split.json.")],
    hold_out: Annotated[int, typer.Option("--hold-out", min=0, help="Hold out this many of the recordings' games, drawn with --seed.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the --hold-out draw (the same seed and games give the same fold).")] = 0,
    game: Annotated[list[str] | None, typer.Option("--game", help="Hold out this game (repeatable).")] = None,
    games_file: Annotated[Path | None, typer.Option("--games-file", help="Hold out the games in this file, one a line.")] = None,
) -> None:
    """Hold whole games out of a corpus: train on train/, then play held-out-games.txt with `aria bench --games-file`."""
    from rich.table import Table

    from aria_cli.common.ui import progress
    from aria_cli.data.splits import named_games, split_by_games

    with progress(transient=True) as bar:
        r = split_by_games(recordings, out, named_games(game or [], games_file), size=hold_out, seed=seed, progress=bar)
    table = Table(title=f"split of {', '.join(r.sources)}", title_justify="left")
    for col in ("side", "games", "recordings", "folder"):
        table.add_column(col, justify="right" if col in ("games", "recordings") else "left")
    table.add_row("train", str(len(r.train_games)), str(r.train_files), f"{out}/train")
    table.add_row("held out", str(len(r.held_out_games)), str(r.held_out_files), f"{out}/held-out")
    console.print(table)
    console.print("held out: " + " ".join(r.held_out_games))
    if r.unreadable_files:
        console.print(f"{r.unreadable_files} recordings have no line with a frame: their game is unknown, so neither side has them")
    console.print(f"then: aria train-vqvae --data {out}/train ...; aria bench ENV_DIR --games-file {out}/held-out-games.txt ...")


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
