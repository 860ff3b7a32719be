"""One epoch of world-model training on Accelerate, and where a run stands (what `last/` saves)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from aria_cli.world_model.data import Windows, collate, epoch_order, epoch_windows, mask_some_windows
from aria_cli.world_model.metrics import ALL, WMMetrics, evaluate_world_model


def _empty_partial() -> dict:
    return {"loss_sum": 0.0, "weight_sum": 0.0, "tokens": 0, "seconds": 0.0}


@dataclass
class Progress:
    """Where a run stands: the epoch, the steps done in it, the history, the best so far."""

    total_steps: int
    epochs: int
    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    history: list[dict] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int | None = None
    partial: dict = field(default_factory=_empty_partial)  # the running epoch's sums so far
    t_run: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, total_steps: int, steps_per_epoch: int) -> Progress:
        return cls(total_steps, -(-total_steps // steps_per_epoch))

    @classmethod
    def restore(cls, st: dict) -> Progress:
        keys = ("total_steps", "epochs", "epoch", "step_in_epoch", "global_step", "history", "best_loss",
                "best_epoch", "partial")  # fmt: skip
        return cls(**{k: st[k] for k in keys})

    def to_state(self) -> dict:
        return {"total_steps": self.total_steps, "epochs": self.epochs, "epoch": self.epoch,
                "step_in_epoch": self.step_in_epoch, "global_step": self.global_step, "history": self.history,
                "best_loss": self.best_loss, "best_epoch": self.best_epoch, "partial": self.partial}  # fmt: skip


def step_seed(seed: int, global_step: int, rank: int) -> int:
    return (seed * 1_000_003 + global_step * 1009 + rank) % (2**63)


def train_step(acc, model, optimizer, scheduler, batch, grad_clip: float, inputs=None) -> dict:
    """One optimizer step on one batch (this process's share of the global batch); the loss's metrics."""
    with acc.autocast():
        loss, metrics = acc.unwrap_model(model).compute_loss(batch, inputs, module=model)
    acc.backward(loss)
    if grad_clip:
        acc.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return metrics


class EpochRunner:
    """The model, optimizer and data of a run, and the two things done with them: train an epoch (from
    any step inside it) and validate at its end."""

    def __init__(self, acc, model, optimizer, cache, train_ids: list[int], val_windows: Windows, run: dict):
        self.acc, self.model, self.optimizer, self.cache = acc, model, optimizer, cache
        self.wm = acc.unwrap_model(model)
        self.train_ids, self.run = train_ids, run
        self.scheduler = None
        self.C, self.B = run["context_steps"], run["batch_size"]
        self.world, self.rank = acc.num_processes, acc.process_index
        n_windows = len(epoch_windows(cache, train_ids, self.C, run["seed"], 0))
        self.steps_per_epoch = -(-n_windows // (self.B * self.world))
        self.val_windows = val_windows
        self.my_val = val_windows.take(np.arange(self.rank, len(val_windows), self.world))

    def forward_backward(self, batch) -> None:
        with self.acc.autocast():
            loss, _ = self.wm.compute_loss(batch, module=self.model)
        self.acc.backward(loss)

    def first_batches(self):
        """This process's batches of epoch 0, in order, with their token counts (for calibration)."""
        seed = self.run["seed"]
        w0 = epoch_windows(self.cache, self.train_ids, self.C, seed, 0)
        order = epoch_order(len(w0), self.B * self.world, seed, 0)
        for k in range(len(order)):
            idx = order[k * self.B : (k + 1) * self.B]
            if len(idx) == 0:
                return
            batch = collate(self.cache, w0.take(idx)).to(self.acc.device)
            yield batch, batch.n_tokens

    def train_step(self, batch, inputs) -> dict:
        return train_step(self.acc, self.model, self.optimizer, self.scheduler, batch, self.run["grad_clip"], inputs)

    def train_epoch(self, p: Progress, view, stop, on_step) -> None:
        """Train epoch `p.epoch` from step `p.step_in_epoch` to its end (KeyboardInterrupt on Ctrl-C)."""
        seed, world = self.run["seed"], self.world
        n_steps = min(self.steps_per_epoch, p.total_steps - p.epoch * self.steps_per_epoch)
        self.model.train()
        windows = epoch_windows(self.cache, self.train_ids, self.C, seed, p.epoch)
        order = epoch_order(len(windows), self.B * world, seed, p.epoch, self.steps_per_epoch)
        view.begin_epoch(p.epoch, n_steps, p.step_in_epoch)
        if p.step_in_epoch == 0:
            p.partial = _empty_partial()
        while p.step_in_epoch < n_steps:
            t0 = time.perf_counter()
            lo = p.step_in_epoch * self.B * world + self.rank * self.B
            batch = collate(self.cache, windows.take(order[lo : lo + self.B])).to(self.acc.device)
            # Dropout draws from a generator seeded per (seed, step, process): a resumed run draws the same
            # masks as an uninterrupted one, whatever the number of processes.
            seed_now = step_seed(seed, p.global_step, self.rank)
            torch.manual_seed(seed_now)
            inputs = mask_some_windows(batch.tokens, self.run["action_mask"], np.random.default_rng(seed_now), self.wm.v0)
            m = self.train_step(batch, inputs)
            p.global_step += 1
            p.step_in_epoch += 1
            dt = time.perf_counter() - t0
            p.partial["loss_sum"] += m["loss"] * m["weight"]
            p.partial["weight_sum"] += m["weight"]
            p.partial["tokens"] += batch.n_tokens * world
            p.partial["seconds"] += dt
            view.step(f"loss {m['loss']:.3f} · {batch.n_tokens * world / dt:,.0f} tok/s")
            if on_step is not None:
                on_step(p.global_step)
            if self._stop_requested(stop):
                raise KeyboardInterrupt

    def _stop_requested(self, stop) -> bool:
        requested = stop.requested
        if self.world > 1:
            flag = torch.tensor([float(requested)], device=self.acc.device)
            requested = bool(self.acc.reduce(flag, reduction="sum").item() > 0)
        return requested

    def end_epoch(self, p: Progress) -> tuple[dict | None, dict, bool]:
        """Validate (every process its share, gathered), record the epoch, move `p` to the next one."""
        from accelerate.utils import gather_object

        t_val = time.perf_counter()
        with self.acc.autocast():
            m = evaluate_world_model(self.wm, self.cache, self.my_val, batch_size=2 * self.B, device=self.acc.device)
        states = gather_object([m.state()]) if self.world > 1 else [m.state()]
        val = WMMetrics.from_states(states).result() if len(self.val_windows) else None
        train_loss = p.partial["loss_sum"] / max(p.partial["weight_sum"], 1e-8)
        val_loss = val[ALL]["loss"] if val else None
        score = val_loss if val_loss is not None else train_loss
        improved = score < p.best_loss
        if improved:
            p.best_loss, p.best_epoch = score, p.epoch + 1
        record = {
            "epoch": p.epoch + 1,
            "step": p.global_step,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": self.scheduler.get_last_lr()[0],
            "tokens_per_s": p.partial["tokens"] / max(p.partial["seconds"], 1e-9),
            "train_tokens": p.partial["tokens"],
            "train_s": p.partial["seconds"],
            "epoch_s": p.partial["seconds"] + time.perf_counter() - t_val,
            "elapsed_s": time.perf_counter() - p.t_run,
            "val": val,
        }
        p.history.append(record)
        p.epoch, p.step_in_epoch = p.epoch + 1, 0
        return val, record, improved
