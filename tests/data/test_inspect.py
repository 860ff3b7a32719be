"""`aria inspect-tokens`, the CLI's one-line error contract, and its defaults."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.recordings import write_recording
from typer.testing import CliRunner

from aria_cli import __version__
from aria_cli.cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "inspect-tokens" in r.output


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_every_command_option_defaults_to_what_the_core_defaults_to():
    """The CLI (aria_cli.cli) spells its defaults out (it imports the torch-heavy core only inside a command, so `aria --help`
    stays instant): an option named like a field of the command's config must default to the same value."""
    import dataclasses
    import inspect

    from aria_cli import cli
    from aria_cli.agents.learned import AgentConfig
    from aria_cli.evaluation.evaluate import EvalConfig
    from aria_cli.games.record import record_game
    from aria_cli.play.run import PlayConfig
    from aria_cli.policy.train import PolicyTrainConfig
    from aria_cli.quickstart import QuickstartConfig
    from aria_cli.tokenizer.train import TokenizerTrainConfig
    from aria_cli.world_model.train import WorldModelTrainConfig

    def config_defaults(cls) -> dict:
        return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}

    def signature_defaults(fn) -> dict:
        return {n: p.default for n, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}

    cores = {
        cli.record: [signature_defaults(record_game)],
        cli.train_vqvae: [config_defaults(TokenizerTrainConfig)],
        cli.train_wm: [config_defaults(WorldModelTrainConfig)],
        cli.train_policy: [config_defaults(PolicyTrainConfig)],
        cli.eval_: [config_defaults(EvalConfig)],
        cli.play: [config_defaults(PlayConfig), config_defaults(AgentConfig)],
        cli.quickstart: [config_defaults(QuickstartConfig)],
    }
    checked = 0
    for command, defaults in cores.items():
        for name, default in signature_defaults(command).items():
            for core in defaults:
                if name in core:
                    as_str = isinstance(default, Path) or isinstance(core[name], Path)
                    want = str(core[name]) if as_str else core[name]
                    got = str(default) if as_str else default
                    assert got == want, f"{command.__name__} --{name.replace('_', '-')}: CLI {got!r}, core {want!r}"
                    checked += 1
    assert checked >= 30  # the names do line up: this compares most options, not a handful


def test_inspect_tokens_shows_summary_and_steps(tmp_path):
    p = write_recording(tmp_path / "r.jsonl", n_steps=30, level_every=10)
    r = runner.invoke(app, ["inspect-tokens", str(p), "--steps", "5:9", "--checkpoints", str(tmp_path / "none")])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "tst1" in out and "30 actions" in out and "3 of 5" in out
    assert "steps 5:9 of 30" in out and "ACTION6" in out
    assert "run `aria train-vqvae`" in out


def test_inspect_tokens_json_lists_every_step(tmp_path):
    p = write_recording(tmp_path / "r.jsonl", n_steps=12)
    out = tmp_path / "tokens.json"
    r = runner.invoke(app, ["inspect-tokens", str(p), "--json", str(out), "--checkpoints", str(tmp_path)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert len(data["steps"]) == 12 and data["game"] == "tst1"
    assert data["steps"][2]["action"] == "ACTION6" and data["steps"][2]["cell"] < 64


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "no such file"),
        ("", "empty recording"),
        ("{broken\n", ":1: not valid JSON"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_a_nonzero_exit(tmp_path, content, expected):
    p = tmp_path / "r.jsonl"
    if content is not None:
        p.write_text(content)
    r = runner.invoke(app, ["inspect-tokens", str(p)])
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0]
    assert "Traceback" not in r.output


def test_bad_step_range_is_a_one_line_error(tmp_path):
    p = write_recording(tmp_path / "r.jsonl", n_steps=3)
    r = runner.invoke(app, ["inspect-tokens", str(p), "--steps", "a:b"])
    assert r.exit_code == 1 and "--steps must look like START:END" in r.stderr


def test_the_installed_aria_script_prints_no_traceback_for_a_user_mistake(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "aria_cli", "inspect-tokens", str(tmp_path / "missing.jsonl")],
        capture_output=True, text=True,
    )
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "no such file" in r.stderr and "Traceback" not in r.stderr
