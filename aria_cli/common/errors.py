"""User-facing errors.

Anything a user can cause (bad input file, missing checkpoint, bad option) raises an `AriaError`.
The CLI prints its message as one line and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations

from pathlib import Path


class AriaError(Exception):
    """An error caused by the user's input or set-up, with a message that says how to fix it."""

    exit_code = 1


class RecordingError(AriaError):
    """A recording line that does not parse or does not fit the format; names file and line."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class CheckpointError(AriaError):
    """A checkpoint that is missing, corrupt, or from an incompatible configuration."""


class GameError(AriaError):
    """A game that cannot be found, loaded, or stepped."""
