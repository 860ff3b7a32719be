"""`aria eval`: the JSON schema, the gates, the replay picture, and --strict's exit code."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from aria_cli.cli import app

runner = CliRunner()
WM_KEYS = {"frame_acc", "copy_frame_acc", "replay_true_codes_pixel_acc", "changed_acc", "action_type_acc", "action_loc_acc", "level_precision",
           "level_recall", "perplexity", "policy_type_acc", "policy_loc_acc", "gates"}


def _eval(pipeline, tmp_path, *extra):
    out = tmp_path / "eval.json"
    args = ["eval", "--all-games", "--data", str(pipeline.data), "--checkpoints", str(pipeline.checkpoints),
            "--json", str(out), "--out", str(tmp_path / "eval"), "--device", "cpu", "--replay-steps", "3", *extra]
    return runner.invoke(app, args), out


def test_eval_json_has_every_metric_per_game_as_fractions(pipeline, tmp_path):
    r, out = _eval(pipeline, tmp_path)
    assert r.exit_code == 0, r.output
    games = json.loads(out.read_text())["games"]
    assert set(games) == {"qtgl", "qmaz"}
    for game, m in games.items():
        assert WM_KEYS <= set(m), game
        for k in WM_KEYS - {"gates", "perplexity"}:
            assert m[k] is None or 0.0 <= m[k] <= 1.0, (game, k)
        assert all(isinstance(v, bool) for v in m["gates"].values())
    assert games["qmaz"]["action_loc_acc"] is None and games["qmaz"]["policy_loc_acc"] is None
    assert "action_loc_acc" not in games["qmaz"]["gates"]  # no clicks: the location gates do not apply
    assert games["qtgl"]["action_loc_acc"] is not None and "policy_loc_acc" in games["qtgl"]["gates"]
    assert 0.0 <= games["qtgl"]["policy_point_acc"] <= 1.0 and games["qmaz"]["policy_point_acc"] is None


def test_eval_shows_the_gate_table_and_writes_replay_pictures(pipeline, tmp_path):
    r, _ = _eval(pipeline, tmp_path)
    assert "decision gates" in r.output and ("PASS" in r.output or "FAIL" in r.output)
    img = Image.open(tmp_path / "eval" / "qtgl.png")
    assert img.width > 256 * 3


def test_strict_exits_non_zero_when_a_gate_fails(pipeline, tmp_path):
    impossible = tmp_path / "gates.toml"
    impossible.write_text("[gates]\nframe_acc = 1.0\n")  # strictly above 100%: always fails
    r, _ = _eval(pipeline, tmp_path, "--strict", "--gates", str(impossible))
    assert r.exit_code == 3


def test_strict_passes_when_every_gate_passes(pipeline, tmp_path):
    trivial = tmp_path / "gates.toml"
    trivial.write_text("[gates]\n" + "".join(f"{k} = 0.0\n" for k in
                       ("frame_acc", "action_type_acc", "action_loc_acc", "policy_type_acc", "policy_loc_acc")))
    r, out = _eval(pipeline, tmp_path, "--strict", "--gates", str(trivial))
    games = json.loads(out.read_text())["games"]
    failed = [(g, k) for g, m in games.items() for k, v in m["gates"].items() if not v]
    assert r.exit_code == (3 if failed else 0), failed


def test_unknown_game_is_one_line(pipeline, tmp_path):
    r = runner.invoke(app, ["eval", "--game", "nope", "--data", str(pipeline.data), "--checkpoints",
                            str(pipeline.checkpoints), "--device", "cpu"])
    assert r.exit_code == 1 and "--game nope" in r.stderr


def test_missing_checkpoints_name_the_command_to_run(tmp_path, recording_dir):
    r = runner.invoke(app, ["eval", "--data", str(recording_dir), "--checkpoints", str(tmp_path / "none")])
    assert r.exit_code == 1 and "aria train-wm" in r.stderr


def test_replay_scores_the_true_next_codes_decoded(pipeline):
    """The replay's ceiling decodes the codes of the very frame it is scored against: the same as the
    tokenizer reconstructing that frame (so the figure is the tokenizer's error, no world model in it)."""
    from aria_cli.data.token_cache import build_token_cache
    from aria_cli.evaluation.evaluate import demo_replay
    from aria_cli.policy.features import world_model_folder
    from aria_cli.tokenizer import model as vqvae
    from aria_cli.world_model.model import WorldModel

    tokenizer = vqvae.load_tokenizer(pipeline.checkpoints, device="cpu")
    wm = WorldModel.load(world_model_folder(pipeline.checkpoints), device="cpu")
    cache = build_token_cache(pipeline.data, pipeline.checkpoints, device="cpu")
    ids = [i for i, e in enumerate(cache.episodes) if e.game == "qmaz"][:2]
    r = demo_replay(wm, tokenizer, cache, pipeline.data, ids, 4, np.random.default_rng(0))
    assert r["steps"] == 4
    nexts = np.stack([actual_next for _, actual_next, _ in r["examples"]])
    reconstructed = tokenizer.decode(tokenizer.encode(nexts))
    assert r["true_codes_pixel_acc"] == pytest.approx(float((reconstructed == nexts).mean()))


def test_replay_steps_zero_skips_the_replay_and_reports_everything_else(pipeline, tmp_path):
    # The option allows 0; it used to crash after computing every metric.
    out = tmp_path / "eval.json"
    r = runner.invoke(app, ["eval", "--data", str(pipeline.data), "--checkpoints", str(pipeline.checkpoints),
                            "--json", str(out), "--out", str(tmp_path / "eval"), "--device", "cpu",
                            "--replay-steps", "0"])
    assert r.exit_code == 0, r.output
    games = json.loads(out.read_text())["games"]
    for m in games.values():
        assert m["replay_steps"] == 0 and m["replay_pixel_acc"] is None
        assert 0.0 <= m["frame_acc"] <= 1.0 and "frame_acc" in m["gates"]
    assert not (tmp_path / "eval").exists()  # no steps, no pictures
