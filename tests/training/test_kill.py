"""A training process killed (SIGKILL) while it saves `last/` loses nothing: `--resume` ends with exactly
the weights of an uninterrupted run, for each of the three trainers (issue 25, item 2).

The kill is deterministic: the test hook in `training.checkpoints.save_folder` pauses the chosen save
between two of its files (or after the new folder is complete, before the swap) and says so in a file."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from helpers import training_runs as runs
from safetensors.torch import load_file

from aria_cli.training.checkpoints import LAST, METRICS_LOG, MODEL_FILE, STATE_FILE


def same_weights(a, b) -> bool:
    wa, wb = load_file(a / LAST / MODEL_FILE), load_file(b / LAST / MODEL_FILE)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def killed_mid_save(stage_dir, when: str) -> None:
    """What a kill left: the half-written folder beside the previous `last/` (files), or the new complete
    folder not yet swapped in (swap)."""
    if when == "files":
        partial = stage_dir / f".{LAST}.partial"
        assert partial.is_dir() and not (partial / STATE_FILE).exists()
    else:
        assert (stage_dir / f".{LAST}.complete" / STATE_FILE).is_file()
    assert (stage_dir / LAST / STATE_FILE).is_file()  # the previous save, whole


def recovered(stage_dir) -> bool:
    return not any(p.name.startswith(f".{LAST}.") for p in stage_dir.iterdir())


@pytest.mark.parametrize("when", ["files", "swap"])
def test_tokenizer_killed_while_saving_last_resumes_to_the_same_weights(tmp_path, recording_dir, when):
    runs.tokenizer(recording_dir, tmp_path / "straight")
    ck = tmp_path / "killed"
    runs.kill_during_save_of_last("tokenizer", [str(recording_dir), str(ck)], tmp_path / "ready", nth=2, when=when)
    killed_mid_save(ck / "vqvae", when)
    result = runs.tokenizer(recording_dir, ck, resume=True)
    assert recovered(ck / "vqvae")
    assert result.metrics["epochs"] == 3
    assert same_weights(tmp_path / "straight" / "vqvae", ck / "vqvae")
    assert [json.loads(x)["epoch"] for x in (ck / "vqvae" / METRICS_LOG).read_text().splitlines()] == [1, 2, 3]


def test_world_model_killed_while_saving_last_resumes_to_the_same_weights(tmp_path):
    straight = runs.world_model(tmp_path, tmp_path / "straight")
    ck = tmp_path / "killed"
    runs.kill_during_save_of_last("world_model", [str(tmp_path), str(ck)], tmp_path / "ready", nth=2)
    killed_mid_save(ck / "world_model", "files")
    resumed = runs.world_model(tmp_path, ck, resume=True)
    assert recovered(ck / "world_model")
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert same_weights(tmp_path / "straight" / "world_model", ck / "world_model")
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]


def test_policy_killed_while_saving_last_resumes_to_the_same_weights(pipeline, tmp_path):
    for name in ("straight", "killed"):
        shutil.copytree(pipeline.checkpoints, tmp_path / name, ignore=shutil.ignore_patterns("policy"))
    straight = runs.policy(pipeline.data, tmp_path / "straight")
    ck = tmp_path / "killed"
    runs.kill_during_save_of_last("policy", [str(pipeline.data), str(ck)], tmp_path / "ready", nth=2)
    killed_mid_save(ck / "policy", "files")
    resumed = runs.policy(pipeline.data, ck, resume=True)
    assert recovered(ck / "policy")
    assert resumed.history == straight.history
    assert same_weights(tmp_path / "straight" / "policy", ck / "policy")
