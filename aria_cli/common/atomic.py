"""Atomic file writes: a reader (or a crash) never sees a half-written file.

Everything aria writes that another run reads back (checkpoints, caches, metrics) goes through here:
write to a temporary file in the same folder, fsync, then `os.replace` onto the final name. Files get
the mode any new file would (0666 less the umask). A write that fails (a read-only folder, a full
disk) is a `WriteError` naming the path; `check_writable` says so before a command starts its work.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aria_cli.common.errors import AriaError


class WriteError(AriaError):
    """An output that cannot be written: names the path and the reason."""


# What libraries' save functions raise instead of an OSError when the disk fills or a write fails
# (torch.save: "unexpected pos", "file write failed"; safetensors: an I/O error of its own).
_WRITE_FAILURES = ("unexpected pos", "write failed", "No space left", "File too large", "Os {", "I/O error")


def _umask() -> int:
    try:  # Linux says it without changing it (os.umask can only read it by setting it, process-wide)
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def _write_error(path: Path, e: BaseException) -> WriteError | None:
    """The one-line error for a failed write to `path`, or None when `e` is not about writing."""
    if isinstance(e, OSError):
        where = Path(e.filename) if e.filename and not Path(e.filename).name.startswith(f".{path.name}.") else path
        return WriteError(f"{where}: cannot write ({e.strerror or e})")
    text = str(e)
    if isinstance(e, RuntimeError | ValueError) and any(s in text for s in _WRITE_FAILURES) or \
            type(e).__name__ == "SafetensorError":
        return WriteError(f"{path}: cannot write ({' '.join(text.split())[:160]}; is the disk full?)")
    return None


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed.
    A failure to write (OSError, or a save function's own I/O error) becomes a WriteError naming `path`."""
    path = Path(path)
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600, and a library's writer may make the file anew
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except Exception as e:
        err = _write_error(path, e)
        if err is None:
            raise
        raise err from e
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def check_writable(path: str | Path, option: str, folder: bool = False) -> None:
    """Before the work starts: can `path` (a file, or with `folder` a folder) be written? Creates nothing.
    Raises WriteError naming the option and the path."""
    path = Path(path)
    if path.is_dir() and not folder:
        raise WriteError(f"{option} {path}: is a folder; name a file")
    if path.exists() and not path.is_dir() and folder:
        raise WriteError(f"{option} {path}: is a file; name a folder")
    where = path if folder and path.is_dir() else path.parent
    while not where.exists() and where != where.parent:  # the folders to create start below `where`
        where = where.parent
    if not where.is_dir():
        raise WriteError(f"{option} {path}: {where} is not a folder")
    try:  # the permission bits do not say (root, read-only mounts): try it
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as e:
        raise WriteError(f"{option} {path}: cannot write in {where} ({e.strerror or e})") from None


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Atomic write through a library's own save function (`writer(tmp_path)`), e.g. safetensors or PIL."""
    with atomic_path(path) as tmp:
        writer(tmp)


def append_line(path: str | Path, line: str) -> None:
    """Append one line (metrics.jsonl); a single small write+fsync, so a crash loses at most this line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())
