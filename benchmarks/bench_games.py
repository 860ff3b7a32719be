"""Bundled game speed on one core, through the real arc-agi toolkit.

For each bundled game: the cost of one game step (the toolkit's perform_action: game logic plus
rendering, random valid actions), and the demonstrator's rate while recording (planning, stepping
and the toolkit's recorder writing every frame, i.e. what `aria record` does).

Targets (issue 3): a game step <= 2 ms on one core; the demonstrator records >= 300 steps/s.
Run: .venv/bin/python benchmarks/bench_games.py
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

from aria_cli.games.demonstrators import play_episode
from aria_cli.games.session import GameSession

GAMES = ("qmaz", "qtgl", "qmix", "qpsh")
STEP_TARGET_MS, RECORD_TARGET = 2.0, 300.0


def step_cost_ms(game: str, n: int = 2000) -> float:
    """Mean ms per game step over n random valid actions (RESET when a level is lost or the game won)."""
    rng = random.Random(0)
    with GameSession(game, seed=0) as s:
        t0 = time.perf_counter()
        for _ in range(n):
            if s.last.done:
                s.step(0)
                continue
            a = rng.choice(s.last.available_actions)
            s.step(a, *((rng.randrange(64), rng.randrange(56)) if a == 6 else (None, None)))
        return (time.perf_counter() - t0) / n * 1000


def record_rate(game: str, episodes: int = 4, noise: float = 0.05) -> tuple[float, int]:
    """Recorded demonstrator steps per second (session set-up and file moves included) and steps."""
    steps = 0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for ep in range(episodes):
            with GameSession(game, seed=ep, record_dir=Path(tmp)) as s:
                steps += play_episode(s, noise, random.Random(ep)).steps
        return steps / (time.perf_counter() - t0), steps


def main() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the targets say
    ok = True
    print(f"{'game':6} {'ms/step':>8} {'steps/s':>9}   {'recorded steps/s':>16} (steps)")
    for game in GAMES:
        ms = step_cost_ms(game)
        rate, steps = record_rate(game)
        ok &= ms <= STEP_TARGET_MS and rate >= RECORD_TARGET
        print(f"{game:6} {ms:8.3f} {1000 / ms:9,.0f}   {rate:16,.0f} ({steps})")
    print(f"targets: a step <= {STEP_TARGET_MS} ms, recording >= {RECORD_TARGET:.0f} steps/s: {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
