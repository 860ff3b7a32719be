"""The CLI's error contract for outputs: every destination is checked before the work starts, and a write
that fails anyway (a full disk) or any other refusal of the file system is one line naming the path.

Tests run as root, which ignores permission bits, so an unwritable destination here is one under a
regular file (`blocked/...`): the file system refuses that to root too. (tests/common/test_atomic.py
also checks a folder root cannot write in, where there is one.)
"""

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from aria_cli.cli import app

runner = CliRunner()


@pytest.fixture
def blocked(tmp_path):
    f = tmp_path / "blocked"
    f.write_text("a regular file, where a folder would have to be")
    return f


def _refused(r, option, path):
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1, r.output
    assert r.stderr.startswith(f"error: {option} {path}: "), r.stderr


def test_every_command_checks_its_outputs_before_it_starts(tmp_path, blocked, recording_dir):
    # No checkpoints exist here: each command would fail on them later, so the error seen proves the
    # destination was checked first (eval used to compute every metric, then die writing --json).
    out = blocked / "sub" / "out"
    rec = next(recording_dir.rglob("*.jsonl"))
    ck = ["--checkpoints", str(tmp_path / "none")]
    cases = [
        (["eval", "--data", str(recording_dir), *ck, "--json", str(out)], "--json"),
        (["eval", "--data", str(recording_dir), *ck, "--out", str(out)], "--out"),
        (["play", "qtgl", "--render", "none", *ck, "--json", str(out)], "--json"),
        (["play", "qtgl", "--render", "none", *ck, "--gif", str(out)], "--gif"),
        (["play", "qtgl", "--render", "none", *ck, "--record-dir", str(out)], "--record-dir"),
        (["inspect-tokens", str(rec), *ck, "--json", str(out)], "--json"),
        (["eval-tokenizer", "--data", str(recording_dir), *ck, "--json", str(out)], "--json"),
        (["record", "qtgl", "--episodes", "1", "--out", str(out)], "--out"),
        (["distill", str(rec), "--out", str(out)], "--out"),
        (["distill", str(rec), "--out", str(tmp_path / "distilled"), "--json", str(out)], "--json"),
        (["train-vqvae", "--data", str(recording_dir), "--checkpoints", str(out)], "--checkpoints"),
        (["tokenize", "--data", str(recording_dir), "--checkpoints", str(out)], "--checkpoints"),
        (["train-wm", "--data", str(recording_dir), "--checkpoints", str(out)], "--checkpoints"),
        (["train-policy", "--data", str(recording_dir), "--checkpoints", str(out)], "--checkpoints"),
        (["quickstart", "--data", str(tmp_path / "rec"), "--checkpoints", str(out)], "--checkpoints"),
    ]
    for args, option in cases:
        r = runner.invoke(app, args)
        _refused(r, option, out)
        assert f"{blocked} is not a folder" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked", "recordings"]  # nothing was made


def test_a_file_option_naming_a_folder_and_a_folder_option_naming_a_file(tmp_path, blocked, recording_dir):
    r = runner.invoke(app, ["play", "qtgl", "--render", "none", "--agent", "random", "--json", str(tmp_path)])
    _refused(r, "--json", tmp_path)
    assert "is a folder; name a file" in r.stderr
    r = runner.invoke(app, ["eval", "--data", str(recording_dir), "--out", str(blocked)])
    _refused(r, "--out", blocked)
    assert "is a file; name a folder" in r.stderr


def test_an_input_the_file_system_refuses_is_one_line_naming_it(tmp_path, recording_dir):
    # --gates naming a folder: the OSError reaches the CLI (aria_cli.cli.app), which names the path instead of a traceback.
    r = runner.invoke(app, ["eval", "--data", str(recording_dir), "--gates", str(tmp_path)])
    assert r.exit_code == 1 and r.stderr.strip() == f"error: {tmp_path}: Is a directory"


def test_a_full_disk_while_writing_the_result_is_one_line_naming_it(tmp_path):
    # A real write failure (no small file system to fill here): RLIMIT_FSIZE makes the kernel refuse
    # writes past 200 bytes with EFBIG, as ENOSPC would, in the aria process only. --json passes the
    # check (an empty probe file) and then fails for real after the run.
    out = tmp_path / "run.json"
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200)); from aria_cli.cli import app; "
            "sys.argv = ['aria'] + sys.argv[1:]; app()")
    r = subprocess.run([sys.executable, "-c", code, "play", "qtgl", "--agent", "random", "--max-actions", "3",
                        "--render", "none", "--no-record", "--json", str(out)],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == f"error: {out}: cannot write (File too large)"
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary
