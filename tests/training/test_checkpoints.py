"""Checkpoint folders change as one unit; leftovers of a kill are cleaned; resume state is pickle-free and
a damaged one is a one-line error naming the file (issue 25, items 2, 4 and 8)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import training_runs as runs
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.common.errors import CheckpointError
from aria_cli.training import checkpoints as ck
from aria_cli.training import state as resumable


def write(name: str, text: str):
    return lambda folder: (folder / name).write_text(text)


def test_a_folder_is_replaced_whole_and_leaves_nothing_beside_it(tmp_path):
    folder = tmp_path / "last"
    ck.save_folder(folder, [write("a", "1"), write("b", "1")])
    ck.save_folder(folder, [write("a", "2")])
    assert sorted(p.name for p in folder.iterdir()) == ["a"] and (folder / "a").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_recover_drops_a_half_written_folder_and_finishes_the_swap_of_a_complete_one(tmp_path):
    folder = tmp_path / "last"
    ck.save_folder(folder, [write("a", "old")])
    (tmp_path / ".last.partial").mkdir()
    (tmp_path / ".last.partial" / "a").write_text("half")
    (tmp_path / ".metrics.json.x1.tmp").write_text("")  # what common.atomic leaves when killed
    ck.recover(folder)
    assert (folder / "a").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    (tmp_path / ".last.complete").mkdir()
    (tmp_path / ".last.complete" / "a").write_text("new")
    ck.recover(folder)
    assert (folder / "a").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_a_state_holding_anything_but_tensors_and_plain_values_is_refused(tmp_path):
    """`--resume` never unpickles code: a state file with an arbitrary object does not load."""
    torch.save({"epoch": 1, "where": Path("/")}, tmp_path / ck.STATE_FILE)  # an object, not plain data
    with pytest.raises(CheckpointError, match=str(tmp_path / ck.STATE_FILE)):
        resumable.load(tmp_path, "train-wm")


def truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def one_line_naming(result, path) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], result.output
    assert "Traceback" not in result.output


def test_a_truncated_tokenizer_state_is_one_line_naming_it(tmp_path, recording_dir):
    runs.tokenizer(recording_dir, tmp_path, epochs=1)
    state = tmp_path / "vqvae" / ck.LAST / ck.STATE_FILE
    truncate(state)
    args = ["train-vqvae", "--data", str(recording_dir), "--checkpoints", str(tmp_path), "--resume", "--device", "cpu"]
    one_line_naming(CliRunner().invoke(app, args), state)


@pytest.mark.parametrize("damaged", [ck.STATE_FILE, ck.MODEL_FILE])
def test_a_truncated_world_model_last_is_one_line_naming_the_file(tmp_path, damaged):
    runs.world_model(tmp_path, tmp_path / "ck", epochs=1)
    path = tmp_path / "ck" / "world_model" / ck.LAST / damaged
    truncate(path)
    with pytest.raises(CheckpointError) as e:
        runs.world_model(tmp_path, tmp_path / "ck", resume=True, epochs=2)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_truncated_policy_state_is_one_line_naming_it(pipeline, tmp_path):
    import shutil

    ck_dir = tmp_path / "ck"
    shutil.copytree(pipeline.checkpoints, ck_dir, ignore=shutil.ignore_patterns("policy"))
    runs.policy(pipeline.data, ck_dir, epochs=1)
    state = ck_dir / "policy" / ck.LAST / ck.STATE_FILE
    truncate(state)
    args = ["train-policy", "--data", str(pipeline.data), "--checkpoints", str(ck_dir), "--resume", "--device", "cpu",
            "--epochs", "2"]  # fmt: skip
    one_line_naming(CliRunner().invoke(app, args), state)


def test_a_corrupt_policy_feature_cache_is_rebuilt(pipeline, tmp_path):
    import shutil

    from aria_cli.policy.features import load_features

    ck_dir = tmp_path / "ck"
    shutil.copytree(pipeline.checkpoints, ck_dir)
    first = load_features(pipeline.data, ck_dir, "cpu")[2]
    truncate(ck.policy_features_dir(ck_dir) / "features.safetensors")
    again, reused = load_features(pipeline.data, ck_dir, "cpu")[2:4]
    assert not reused and (again.summary == first.summary).all()
