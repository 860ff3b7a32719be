"""The `aria` command line: a table of contents over the core modules.

Each command parses its options and calls one core function; the work (and everything a test needs)
lives in the modules it imports. Imports are inside the commands so `aria --help` stays instant.
User mistakes raise `AriaError`, printed here as one line with a non-zero exit.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from aria_cli import __version__
from aria_cli.errors import AriaError
from aria_cli.ui import console, print_error

app = typer.Typer(
    name="aria",
    help="Learn a world model of ARC-AGI-3 games from recorded play, and play with it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)

# Options shared by several commands are spelled the same everywhere.
DataOpt = Annotated[Path, typer.Option("--data", help="Recordings folder (searched recursively for *.jsonl).")]
CheckpointsOpt = Annotated[Path, typer.Option("--checkpoints", help="Checkpoints folder.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
SkipBadOpt = Annotated[
    bool, typer.Option("--skip-bad", help="Skip recording lines that do not parse, and report how many per file.")
]
EnvDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--environments-dir",
        help="An arc-agi environments folder (<game>/<version>/...) to search before the bundled games; "
        "default: $ENVIRONMENTS_DIR.",
    ),
]
DEFAULT_DATA = Path("recordings")
DEFAULT_CHECKPOINTS = Path("checkpoints")


def command(*args, **kwargs):
    """`app.command`, plus the one-line error contract for every command."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            try:
                return fn(*a, **k)
            except AriaError as e:
                print_error(str(e))
                raise typer.Exit(e.exit_code) from None
            except KeyboardInterrupt:
                print_error("interrupted")
                raise typer.Exit(130) from None

        return app.command(*args, **kwargs)(wrapper)

    return deco


def _version(value: bool) -> None:
    if value:
        console.print(f"aria {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Learn a world model of ARC-AGI-3 games from recorded play, and play with it."""


# --------------------------------------------------------------------------- games and recording
@command("games")
def games(environments_dir: EnvDirOpt = None) -> None:
    """List the games aria can run: yours (--environments-dir or $ENVIRONMENTS_DIR), then the bundled ones."""
    from aria_cli.game_adapter import list_games
    from aria_cli.games import games_table

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
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the recordings [default: recordings/GAME].")] = None,
    environments_dir: EnvDirOpt = None,
) -> None:
    """Record the demonstrator playing a bundled game, as arc-agi toolkit recordings (episode i uses seed+i)."""
    from aria_cli.record import record_game

    paths = record_game(game, episodes=episodes, noise=noise, seed=seed, out_dir=out, environments_dir=environments_dir)
    console.print(f"recorded {len(paths)} episodes of {game} in {paths[0].parent}; look at one with: aria inspect-tokens {paths[0]}")


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
    from aria_cli import inspect_tokens as core

    ins = core.inspect_recording(file, checkpoints, skip_bad=skip_bad)
    console.print(core.summary_panel(ins))
    console.print(core.steps_table(ins, core.parse_step_range(steps, ins.episode.n_actions)))
    if json_out is not None:
        core.write_json(ins, json_out)
        console.print(f"wrote {json_out}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
