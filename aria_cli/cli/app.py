"""The `aria` app: the Typer object, the options several commands share, and the error contract.

Each command parses its options and calls one core function; the work (and everything a test needs)
lives in the modules it imports. Imports are inside the commands so `aria --help` stays instant.
User mistakes raise `AriaError`, printed here as one line with a non-zero exit; so is an `OSError` (an
unreadable input, an unwritable output, a full disk), named by its path. Commands check that their
outputs can be written (`atomic.check_writable`) before they start the work.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from aria_cli import __version__
from aria_cli.common.errors import AriaError
from aria_cli.common.ui import console, print_error

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
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Use the checkpoints even when a stage was trained on another version of the one before it "
    "(a warning says which).")]
ReportToOpt = Annotated[
    str,
    typer.Option("--report-to", help="none | tensorboard | wandb | mlflow: also send each epoch's metrics.jsonl line "
                 "to this experiment tracker (its package is an extra: pip install 'aria-cli[tensorboard]')."),
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
            except OSError as e:  # the file system's refusal (permissions, full disk): a set-up problem
                print_error(f"{e.filename}: {e.strerror}" if e.filename else (e.strerror or str(e)))
                raise typer.Exit(1) from None
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
