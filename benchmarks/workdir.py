"""A benchmark's work folder: the one the user names (kept), else a temporary one removed when the
benchmark exits, so that repeated runs of `make bench` do not fill the disk."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def work_folder(prefix: str, keep: Path | None = None) -> Path:
    """`keep` (created if needed) when given; else a new temporary folder, removed at exit (an error or
    Ctrl-C included)."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return keep
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
