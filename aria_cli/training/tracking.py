"""`--report-to none | tensorboard | wandb | mlflow`: the per-epoch numbers of metrics.jsonl, sent to
an experiment tracker through Accelerate's tracker classes (each tracker's package is an optional extra:
`pip install 'aria-cli[tensorboard]'`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from aria_cli.common.errors import AriaError

REPORT_TO = ("none", "tensorboard", "wandb", "mlflow")
_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
PROJECT = "aria"


def check_report_to(report_to: str) -> None:
    """A one-line error for an unknown tracker or one whose package is not installed (before any work)."""
    if report_to not in REPORT_TO:
        raise AriaError(f"--report-to must be one of {', '.join(REPORT_TO)}, got {report_to!r}")
    package = _PACKAGES.get(report_to)
    if package and importlib.util.find_spec(package) is None:
        raise AriaError(f"--report-to {report_to}: the {package} package is not installed "
                        f"(pip install 'aria-cli[{report_to}]'), or use --report-to none")


def flatten(record: dict, prefix: str = "") -> dict[str, float]:
    """Nested numbers → {"val/all/frame_acc": 0.9, ...}; None and text are left out."""
    out: dict[str, float] = {}
    for k, v in record.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        elif isinstance(v, bool):
            out[key] = float(v)
        elif isinstance(v, int | float):
            out[key] = float(v)
    return out


class Tracker:
    """One run of one tracker (or nothing, for `none`). TensorBoard writes under `logging_dir`."""

    def __init__(self, report_to: str, logging_dir: Path, run_name: str, config: dict):
        check_report_to(report_to)
        self.tracker = None
        if report_to == "tensorboard":
            from accelerate.tracking import TensorBoardTracker

            self.tracker = TensorBoardTracker(run_name, str(logging_dir))
        elif report_to == "wandb":
            from accelerate.tracking import WandBTracker

            self.tracker = WandBTracker(PROJECT, name=run_name)
        elif report_to == "mlflow":
            from accelerate.tracking import MLflowTracker

            self.tracker = MLflowTracker(PROJECT, logging_dir=str(logging_dir), run_name=run_name)
        if self.tracker is not None:
            self.tracker.start()
            self.tracker.store_init_configuration(flatten(config) | _text(config))

    def log(self, record: dict, step: int) -> None:
        if self.tracker is not None:
            self.tracker.log(flatten(record), step=step)

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.finish()
            self.tracker = None


def _text(config: dict) -> dict[str, str]:
    return {k: v for k, v in config.items() if isinstance(v, str)}
