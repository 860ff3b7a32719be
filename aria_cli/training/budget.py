"""`--time-budget`: minutes of training turned into a number of optimizer steps before the first one,
so the LR schedule still spans the whole run and `--resume` stays exact."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np

CALIBRATION_WARMUP, CALIBRATION_BATCHES = 2, 8  # batches timed but not counted, batches counted


def calibrate(step: Callable[[object], None], batches: Iterable[tuple[object, int]]) -> tuple[float, float]:
    """(seconds per token, tokens per batch) of a training step, from `step(batch)` (forward + backward, no update) on real
    batches given as (batch, tokens).

    The median over eight batches after two that pay one-off set-up (on 2 CPU cores the first two are
    15-35% slower than the rest; a mean over fewer batches took steps for 1.7x slower than they were)."""
    times, tokens = [], []
    for k, (batch, n_tokens) in enumerate(batches):
        if k >= CALIBRATION_WARMUP + CALIBRATION_BATCHES:
            break
        t0 = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - t0)
        tokens.append(n_tokens)
    if len(times) > CALIBRATION_WARMUP:
        times, tokens = times[CALIBRATION_WARMUP:], tokens[CALIBRATION_WARMUP:]
    per_token = float(np.median([t / max(1, n) for t, n in zip(times, tokens, strict=True)]))
    return per_token, sum(tokens) / len(tokens)


def fit_steps(budget_s: float, step_s: float, val_s: float, steps_per_epoch: int, max_steps: int) -> int:
    """How many optimizer steps fit in `budget_s`, each epoch (the last, partial one too) ending with a
    validation pass. After whole epochs, a last partial one shorter than a tenth of an epoch is left out;
    when not one epoch fits (a large corpus), the partial epoch is the run, however short."""
    epoch_s = steps_per_epoch * step_s + val_s
    full = int(budget_s // epoch_s)
    extra = int(max(0.0, budget_s - full * epoch_s - val_s) // step_s)
    extra = min(extra, steps_per_epoch - 1)
    if full and extra < steps_per_epoch / 10:
        extra = 0
    return max(1, min(max_steps, full * steps_per_epoch + extra))
