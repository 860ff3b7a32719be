"""Recording reader speed: steps/s on one core for a >= 5,000-step toolkit recording, and the
wall time of `aria inspect-tokens` on a 10,000-step file.

Targets (issue 2): >= 3,000 steps/s parsing on one core; inspect-tokens on 10,000 steps < 3 s.
Run: .venv/bin/python benchmarks/bench_recordings.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from aria_cli.data.recordings import read_recording

NAMES = ["RESET", "ACTION1", "ACTION2", "ACTION3", "ACTION4", "ACTION5", "ACTION6", "ACTION7"]


def write_big_recording(path: Path, n_steps: int, seed: int = 0) -> None:
    """A toolkit-shaped recording whose frames look like games (a few colours, local changes)."""
    rng = np.random.default_rng(seed)
    frame = np.full((64, 64), 5, dtype=np.int64)
    frame[60:] = 3
    with open(path, "w") as f:
        for t in range(n_steps + 1):
            y, x = rng.integers(0, 56, size=2)
            frame[y : y + 8, x : x + 8] = rng.integers(0, 16)
            a = 0 if t == 0 else int(rng.integers(1, 7))
            data = {"x": int(rng.integers(0, 64)), "y": int(rng.integers(0, 64))} if a == 6 else {}
            d = {
                "game_id": "bnch-0001", "state": "NOT_FINISHED", "levels_completed": t // 500, "win_levels": 30,
                "action_input": {"id": NAMES[a], "data": data, "reasoning": None}, "guid": "g",
                "full_reset": False, "available_actions": [1, 2, 3, 4, 5, 6], "frame": [frame.tolist()],
            }
            f.write(json.dumps({"timestamp": "2026-11-21T00:00:00+00:00", "data": d}) + "\n")


def main() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "5k.jsonl", Path(tmp) / "10k.jsonl"
        write_big_recording(small, 5000)
        write_big_recording(big, 10000, seed=1)
        kb = small.stat().st_size / 5001 / 1024
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            rec = read_recording(small)
            best = min(best, time.perf_counter() - t0)
        rate = len(rec.steps) / best
        print(f"parse: {len(rec.steps)} steps ({kb:.1f} KB/line) in {best:.2f} s = {rate:,.0f} steps/s on one core "
              f"(target >= 3,000) {'PASS' if rate >= 3000 else 'FAIL'}")
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "aria_cli", "inspect-tokens", str(big), "--checkpoints", tmp],
                           capture_output=True, text=True)
        dt = time.perf_counter() - t0
        assert r.returncode == 0, r.stderr
        print(f"inspect-tokens on 10,000 steps: {dt:.2f} s wall, process start included (target < 3 s) "
              f"{'PASS' if dt < 3 else 'FAIL'}")


if __name__ == "__main__":
    main()
