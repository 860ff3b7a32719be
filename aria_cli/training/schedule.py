"""The learning-rate schedule every trainer uses: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math
from collections.abc import Callable


def warmup_cosine(total_steps: int, warmup_steps: int, floor: float = 0.1, decay_from_start: bool = False
                  ) -> Callable[[int], float]:  # fmt: skip
    """The LR factor at each step (for `torch.optim.lr_scheduler.LambdaLR`): rises linearly over
    `warmup_steps` to 1, falls along a cosine to `floor` at `total_steps`. The cosine runs over the
    steps after the warm-up, or with `decay_from_start` over every step (the warm-up then scales it)."""
    warmup = max(1, warmup_steps)

    def cosine(t: float) -> float:
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    def factor(step: int) -> float:
        if decay_from_start:
            return min(1.0, (step + 1) / warmup) * cosine(min(step, total_steps) / max(total_steps, 1))
        if step < warmup:
            return (step + 1) / warmup
        return cosine(min(1.0, (step - warmup) / max(1, total_steps - warmup)))

    return factor


def constant(step: int) -> float:
    return 1.0
