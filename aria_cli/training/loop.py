"""The parts of a training loop that do not depend on the model: Ctrl-C, the live view, the per-epoch
log, the result.

The Ctrl-C contract (every trainer): the first Ctrl-C lets the current step finish, the trainer saves
what it can resume from (`last/`), says so, and the command exits 130; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aria_cli.common import atomic
from aria_cli.common.ui import console, print_warning
from aria_cli.training.checkpoints import METRICS_LOG
from aria_cli.training.tracking import Tracker


@dataclass
class TrainResult:
    """What every trainer returns."""

    directory: Path  # the stage's checkpoint folder
    metrics: dict  # what metrics.json holds
    history: list[dict] = field(default_factory=list)  # one record per epoch, as in metrics.jsonl
    epochs: int = 0  # epochs the run was set to
    epochs_done: int = 0
    best_epoch: int | None = None
    model: object | None = None  # the trained model as it ended (the world model's; None otherwise)


class StopFlag:
    """Within `with StopFlag() as stop:`, Ctrl-C sets `stop.requested` (the loop checks it after each
    step); a second Ctrl-C raises KeyboardInterrupt at once."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                if self.requested:
                    raise KeyboardInterrupt
                self.requested = True

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def stopped(resume_from: str, command: str) -> None:
    """The line printed when a run stops on Ctrl-C (before KeyboardInterrupt ends the command)."""
    print_warning(f"stopped: {resume_from}; continue with `aria {command} --resume`")


class LiveView:
    """Progress bars (the epoch's and the run's: the trainer's step info, rate, ETA) above an optional
    table (e.g. the latest val metrics); lines printed with `epoch_end` stay after the view ends."""

    def __init__(self, enabled: bool, name: str):
        self.enabled, self.name = enabled, name
        self.live = None

    def start(self, epochs: int, total_steps: int, done: int, table=None) -> None:
        if not self.enabled:
            return
        from rich.console import Group
        from rich.live import Live
        from rich.progress import TextColumn
        from rich.text import Text

        from aria_cli.common.ui import progress

        self.epochs = epochs
        self.progress = progress(TextColumn("{task.fields[info]}"))
        self.run_task = self.progress.add_task(self.name, total=total_steps, completed=done, info="")
        self.epoch_task = self.progress.add_task("epoch", total=1, info="")
        self.table = table if table is not None else Text("")
        self.group = Group(self.progress, self.table)
        self.live = Live(self.group, console=console, refresh_per_second=4, transient=True)
        self.live.start()

    def begin_epoch(self, epoch: int, n_steps: int, done: int) -> None:
        if self.live is not None:
            desc = f"epoch {epoch + 1}/{self.epochs}"
            self.progress.reset(self.epoch_task, total=n_steps, completed=done, description=desc, info="")

    def step(self, info: str) -> None:
        if self.live is None:
            return
        self.progress.update(self.epoch_task, advance=1, info=info)
        self.progress.update(self.run_task, advance=1)

    def epoch_end(self, line: str | None, table=None) -> None:
        if self.live is None:
            return
        if line:
            self.live.console.print(line, highlight=False)
        if table is not None:
            self.group.renderables[1] = table

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


class EpochLog:
    """metrics.jsonl (one line per epoch) and the `--report-to` tracker, which gets the same numbers.

    On resume the file is rewritten from the saved history, dropping lines of epochs after the saved
    state (a kill between the two writes)."""

    def __init__(self, stage_dir: Path, report_to: str, run_name: str, config: dict, history: list[dict],
                 main: bool = True):  # fmt: skip
        self.path = Path(stage_dir) / METRICS_LOG
        self.main = main
        self.tracker = Tracker(report_to, Path(stage_dir) / "runs", run_name, config) if main else None
        if main:
            atomic.write_text(self.path, "".join(json.dumps(h) + "\n" for h in history))

    def write(self, record: dict, step: int) -> None:
        if not self.main:
            return
        atomic.append_line(self.path, json.dumps(record))
        self.tracker.log(record, step)

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()
