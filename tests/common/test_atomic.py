"""Atomic writes: the umask decides the mode, and a write that fails is one line naming the path."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from aria_cli.common import atomic
from aria_cli.common.atomic import WriteError, check_writable


def test_files_get_the_mode_the_umask_gives_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "a.json", "{}")
        # safetensors writes its file anew (it came out 0600 whatever the umask)
        atomic.write_with(tmp_path / "a.safetensors", lambda tmp: save_file({"x": np.zeros(2)}, str(tmp)))
        os.umask(0o077)
        atomic.write_text(tmp_path / "b.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "a.safetensors").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o600


def test_a_folder_that_is_a_file_is_one_error_naming_the_path(tmp_path):
    # Tests run as root, which ignores permission bits; a parent that is a regular file fails for root too.
    (tmp_path / "taken").write_text("a file")
    target = tmp_path / "taken" / "out.json"
    with pytest.raises(WriteError, match="cannot write") as e:
        atomic.write_json(target, {"a": 1})
    assert str(tmp_path / "taken") in str(e.value) and "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


@pytest.mark.parametrize("kind", ["json", "torch", "safetensors"])
def test_a_full_disk_is_one_error_naming_the_file_whatever_library_writes_it(tmp_path, kind):
    # A real write failure without a small file system to fill: RLIMIT_FSIZE makes the kernel refuse
    # writes past 1 kB (EFBIG, as ENOSPC would), in a child process so the limit ends with it.
    # torch.save reports it as "RuntimeError: ... unexpected pos", safetensors as its own SafetensorError.
    code = f"""
import resource, signal, sys, torch
from pathlib import Path
from safetensors.torch import save_file
from aria_cli.common import atomic
from aria_cli.common.atomic import WriteError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
t = {{"w": torch.zeros(10000)}}
path = Path(sys.argv[1])
writers = {{"json": lambda: atomic.write_json(path, list(range(1000))),
            "torch": lambda: atomic.write_with(path, lambda p: torch.save(t, p)),
            "safetensors": lambda: atomic.write_with(path, lambda p: save_file(t, str(p)))}}
try:
    writers["{kind}"]()
except WriteError as e:
    print(e)
    sys.exit(3)
"""
    target = tmp_path / "out.bin"
    r = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 3, r.stderr
    assert r.stdout.startswith(f"{target}: cannot write (") and r.stdout.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary left behind


def test_check_writable_says_what_is_wrong_before_anything_is_written(tmp_path):
    (tmp_path / "taken").write_text("a file")
    cases = {
        (tmp_path, "--json", False): "is a folder; name a file",
        (tmp_path / "taken", "--out", True): "is a file; name a folder",
        (tmp_path / "taken" / "sub" / "x.json", "--json", False): f"{tmp_path / 'taken'} is not a folder",
    }
    for (path, option, folder), message in cases.items():
        with pytest.raises(WriteError) as e:
            check_writable(path, option, folder=folder)
        assert str(e.value) == f"{option} {path}: {message}"
    check_writable(tmp_path / "new" / "deeper" / "x.json", "--json")  # folders to be made are fine
    check_writable(tmp_path / "new", "--out", folder=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # and checking creates nothing


def unwritable_folder() -> Path | None:
    """A folder this process cannot create files in, even as root (which ignores permission bits): /proc."""
    proc = Path("/proc")
    try:
        (proc / "aria-probe").write_text("")
    except OSError:
        return proc
    return None


@pytest.mark.skipif(unwritable_folder() is None, reason="no folder here refuses new files to this user")
def test_check_writable_tries_the_folder_rather_than_trusting_permission_bits():
    with pytest.raises(WriteError, match=r"^--json /proc/out.json: cannot write in /proc \("):
        check_writable(Path("/proc/out.json"), "--json")
