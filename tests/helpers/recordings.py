"""Recordings written by the tests themselves, in the toolkit's own format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def synthetic_frames(n: int, seed: int = 0) -> np.ndarray:
    """n frames that look like a tiny game: background, HUD strip, a moving 4x4 sprite."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, 64, 64), dtype=np.uint8)
    frames[:] = 5
    frames[:, 60:, :] = 3
    x, y = 8, 8
    for t in range(n):
        x = int(np.clip(x + rng.integers(-4, 5), 0, 56))
        y = int(np.clip(y + rng.integers(-4, 5), 0, 52))
        frames[t, y : y + 4, x : x + 4] = 9 + (t % 3)
        frames[t, 61, : (t % 64)] = 11
    return frames


def write_recording(
    path: Path,
    n_steps: int = 20,
    game_id: str = "tst1-0001",
    seed: int = 0,
    click_every: int = 3,
    level_every: int = 7,
    name_ids: bool = True,
    wrapped: bool = True,
    summary_line: bool = False,
    win_levels: int = 5,
) -> Path:
    """A recording of n_steps actions (n_steps + 1 lines: the initial RESET, then one per action)."""
    frames = synthetic_frames(n_steps + 1, seed)
    rng = np.random.default_rng(seed + 1)
    lines = []
    levels = 0
    for t in range(n_steps + 1):
        if t == 0:
            action, data = 0, {}
        elif t % click_every == 0:
            action, data = 6, {"x": int(rng.integers(0, 64)), "y": int(rng.integers(0, 64))}
        else:
            action, data = int(rng.integers(1, 5)), {}
        if t > 0 and t % level_every == 0:
            levels += 1
        names = ["RESET", "ACTION1", "ACTION2", "ACTION3", "ACTION4", "ACTION5", "ACTION6", "ACTION7"]
        d = {
            "game_id": game_id,
            "state": "NOT_FINISHED",
            "levels_completed": levels,
            "win_levels": win_levels,
            "action_input": {"id": names[action] if name_ids else action, "data": data},
            "guid": "g",
            "full_reset": t == 0,
            "available_actions": [1, 2, 3, 4, 6],
            "frame": [frames[t].tolist()],
        }
        lines.append({"timestamp": "2026-01-01T00:00:00Z", "data": d} if wrapped else d)
    if summary_line:
        lines.append({"timestamp": "2026-01-01T00:00:01Z", "data": {"game_id": game_id, "state": "WIN", "frame": []}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path
