"""Terminal output shared by every command: one console, progress bars, one-line errors."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# soft_wrap: an error message stays one line however narrow the terminal.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)


def print_warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False)


def progress(*extra_columns, transient: bool = False) -> Progress:
    """A progress bar with count, rate-friendly ETA, and any extra text columns (loss, acc, ...)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        *extra_columns,
        console=console,
        transient=transient,
    )


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"
