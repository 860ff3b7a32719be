"""A stale stack (a stage retrained under the ones trained on it) is refused by every command that loads
it, naming the stage to retrain; --force runs it with a warning. Damaged checkpoint files are one line
naming the file; a damaged policy-features cache is rebuilt. All on a copy of the miniature pipeline,
with the earlier stage really retrained."""

import dataclasses
import json
import shutil

import pytest
from helpers.pipeline import VQVAE_CONFIG, WM_ARCH
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.common.errors import CheckpointError
from aria_cli.policy.features import load_features
from aria_cli.stack import models_fingerprint, stale_stages
from aria_cli.tokenizer.train import train_vqvae
from aria_cli.world_model.model import WorldModel
from aria_cli.world_model.train import WorldModelTrainConfig, train_world_model

runner = CliRunner()


@pytest.fixture
def checkpoints(pipeline, tmp_path):
    """A private copy of the pipeline's checkpoints, to retrain or damage."""
    ck = tmp_path / "checkpoints"
    shutil.copytree(pipeline.checkpoints, ck)
    return ck


def _eval(pipeline, ck, tmp_path, *extra):
    return runner.invoke(app, ["eval", "--data", str(pipeline.data), "--checkpoints", str(ck), "--device", "cpu",
                               "--out", str(tmp_path / "eval"), "--replay-steps", "2", *extra])


def _play(ck, agent="world-model", *extra):
    return runner.invoke(app, ["play", "qtgl", "--agent", agent, "--checkpoints", str(ck), "--device", "cpu",
                               "--render", "none", "--no-record", "--max-actions", "3", *extra])


def _one_line(r, *needles):
    assert r.exit_code == 1, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output, r.output
    for n in needles:
        assert n in r.stderr, r.stderr


def test_the_trained_pipeline_fits_together(pipeline):
    assert stale_stages(pipeline.checkpoints) == []


def test_the_models_fingerprint_follows_the_weights_not_the_training_records(checkpoints):
    """What `aria bench` records of the models it played: a copy is the same models, rewritten metrics are
    too, and a change in any stage's weights is not."""
    from aria_cli.training.checkpoints import policy_dir

    before = models_fingerprint(checkpoints)
    (policy_dir(checkpoints) / "metrics.json").write_text("{}")
    assert models_fingerprint(checkpoints) == before
    weights = policy_dir(checkpoints) / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 1  # one bit of the last weight
    weights.write_bytes(bytes(raw))
    assert models_fingerprint(checkpoints) != before


def test_a_retrained_tokenizer_is_refused_by_eval_play_and_train_policy_until_forced(pipeline, checkpoints, tmp_path):
    train_vqvae(pipeline.data, checkpoints, dataclasses.replace(VQVAE_CONFIG, seed=1), quiet=True)
    wm = checkpoints / "world_model" / "best"
    for r in (_eval(pipeline, checkpoints, tmp_path), _play(checkpoints)):
        _one_line(r, f"the world model in {wm} was trained with another tokenizer", "`aria train-wm`", "--force")
    r = runner.invoke(app, ["train-policy", "--data", str(pipeline.data), "--checkpoints", str(checkpoints),
                            "--epochs", "1", "--device", "cpu"])
    _one_line(r, "another tokenizer", "`aria train-wm`")

    r = _eval(pipeline, checkpoints, tmp_path, "--force")
    assert r.exit_code == 0, r.output
    assert "warning: --force: the world model" in r.stderr and "decision gates" in r.output
    r = _play(checkpoints, "world-model", "--force")
    assert r.exit_code == 0, r.output
    assert "warning: --force: the world model" in r.stderr and "levels" in r.output


def test_a_policy_over_another_world_model_is_refused_until_forced(pipeline, checkpoints, tmp_path):
    train_world_model(WorldModelTrainConfig(data=pipeline.data, checkpoints=checkpoints, epochs=1, context_steps=4,
                                    batch_size=4, arch=WM_ARCH, show=False, time_budget=0, device="cpu", seed=1))
    assert stale_stages(checkpoints, policy=False) == []  # the new world model fits the tokenizer
    policy = checkpoints / "policy"
    for r in (_eval(pipeline, checkpoints, tmp_path), _play(checkpoints, "policy")):
        _one_line(r, f"the policy in {policy} was trained on another world model", "`aria train-policy`")
    r = _play(checkpoints, "policy", "--force")
    assert r.exit_code == 0, r.output
    assert "warning: --force: the policy" in r.stderr


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_world_model_is_one_line_naming_the_file_in_eval_play_and_train_policy(
        pipeline, checkpoints, tmp_path):
    weights = checkpoints / "world_model" / "best" / "model.safetensors"
    _truncate(weights)
    train = runner.invoke(app, ["train-policy", "--data", str(pipeline.data), "--checkpoints", str(checkpoints),
                                "--epochs", "1", "--device", "cpu"])
    for r in (_eval(pipeline, checkpoints, tmp_path), _play(checkpoints), train):
        _one_line(r, f"{weights}: cannot load", "`aria train-wm`")
    with pytest.raises(CheckpointError, match=f"^{weights}: cannot load .*; retrain with `aria train-wm`$"):
        WorldModel.load(weights.parent)  # the loader itself, for callers that skip the stack check


def test_a_world_model_config_without_arch_names_the_file(pipeline, checkpoints, tmp_path):
    config = checkpoints / "world_model" / "best" / "config.json"
    raw = json.loads(config.read_text())
    del raw["arch"]
    config.write_text(json.dumps(raw))
    for r in (_eval(pipeline, checkpoints, tmp_path), _play(checkpoints)):  # damaged, not "another world model"
        _one_line(r, f"{config}: not a valid world-model config ('arch' is missing)", "`aria train-wm`")


@pytest.mark.parametrize("damage", ["truncate", "bad json", "missing arrays"])
def test_a_damaged_policy_features_cache_is_rebuilt(pipeline, checkpoints, damage):
    from safetensors.numpy import save_file

    folder = checkpoints / "policy" / "features"
    if damage == "truncate":
        _truncate(folder / "features.safetensors")
    elif damage == "bad json":
        (folder / "features.json").write_text("[1, 2")
    else:
        import numpy as np

        save_file({"summary": np.zeros((1, 2), np.float16)}, str(folder / "features.safetensors"))
    _, _, feats, reused, _ = load_features(pipeline.data, checkpoints, "cpu")
    assert not reused  # rebuilt from the world model, as a stale token cache is
    assert len(feats) == pipeline.policy_metrics["train_steps"] + pipeline.policy_metrics["val_steps"]
    assert json.loads((folder / "features.json").read_text())["steps"] == len(feats)
    assert load_features(pipeline.data, checkpoints, "cpu")[3]  # and reused
