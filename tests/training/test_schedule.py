"""The one LR schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math

import pytest

from aria_cli.training.schedule import warmup_cosine
from aria_cli.world_model.train import lr_lambda


def test_warm_up_then_cosine_down_to_the_floor():
    f = warmup_cosine(total_steps=100, warmup_steps=10)
    assert [f(s) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(100) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    assert all(f(s) >= f(s + 1) for s in range(10, 120))


def test_decay_from_the_start_scales_the_whole_cosine_by_the_warm_up():
    f = warmup_cosine(total_steps=100, warmup_steps=10, decay_from_start=True)
    assert f(4) == pytest.approx(0.5 * (0.1 + 0.45 * (1 + math.cos(math.pi * 0.04))))
    assert f(50) == pytest.approx(0.1 + 0.45)


def test_the_world_models_warm_up_is_five_percent_of_the_run_at_most_100_steps():
    assert lr_lambda(200)(0) == pytest.approx(1 / 10) and lr_lambda(200)(9) == pytest.approx(1.0)
    assert lr_lambda(10_000)(99) == pytest.approx(1.0) and lr_lambda(10_000)(49) == pytest.approx(0.5)
