"""`--report-to`: each epoch's metrics.jsonl line reaches the tracker (TensorBoard, read back here)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from helpers import training_runs as runs
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.common.errors import AriaError
from aria_cli.training.tracking import check_report_to


def test_tensorboard_gets_what_metrics_jsonl_holds(tmp_path, recording_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs.tokenizer(recording_dir, tmp_path, epochs=2, report_to="tensorboard")
    lines = [json.loads(x) for x in (tmp_path / "vqvae" / "metrics.jsonl").read_text().splitlines()]
    events = list((tmp_path / "vqvae" / "runs").rglob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    got = acc.Scalars("val_pixel_acc")
    assert [e.step for e in got] == [6, 12]  # logged at each epoch's last step
    assert [e.value for e in got] == pytest.approx([x["val_pixel_acc"] for x in lines])
    assert {"loss", "codebook_used", "epoch"} <= set(acc.Tags()["scalars"])


def test_the_world_model_logs_nested_val_metrics(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs.world_model(tmp_path, tmp_path / "ck", epochs=1, report_to="tensorboard")
    line = json.loads((tmp_path / "ck" / "world_model" / "metrics.jsonl").read_text())
    events = next((tmp_path / "ck" / "world_model" / "runs").rglob("events.out.tfevents.*"))
    acc = EventAccumulator(str(events.parent))
    acc.Reload()
    assert acc.Scalars("val/all/frame_acc")[0].value == pytest.approx(line["val"]["all"]["frame_acc"])


def test_an_unknown_tracker_is_one_line():
    with pytest.raises(AriaError, match="--report-to must be one of none, tensorboard, wandb, mlflow"):
        check_report_to("neptune")


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_a_tracker_whose_package_is_missing_is_one_line_naming_the_option(tmp_path, recording_dir):
    args = ["train-vqvae", "--data", str(recording_dir), "--checkpoints", str(tmp_path), "--report-to", "wandb"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--report-to wandb" in lines[0] and "wandb" in lines[0]
    assert not (tmp_path / "vqvae").exists()  # refused before any work
