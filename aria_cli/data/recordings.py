"""Reading recordings: JSONL files of play, in every shape docs/DESIGN.md §4 lists, into typed steps.

Each line is `{"timestamp": ..., "data": {...}}` or a bare data object. A line is the game's answer to
one action: `action_input` is the action that *produced* the line's frame. The reader streams lines;
anything that does not fit raises `RecordingError` naming file and line (or, with `skip_bad`, is
counted and skipped).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from aria_cli.common.errors import AriaError, RecordingError
from aria_cli.vocab import ACTION_NAMES, CLICK, FRAME_SIZE, LOC_NULL, click_point, pixel_to_cell

# Bump when how a recording becomes an `Episode` changes: token caches keyed on it are then rebuilt.
EPISODE_FORMAT = 2  # 2: a repeated opening RESET is dropped (without_repeated_opening)
_ACTION_IDS = {name: i for i, name in enumerate(ACTION_NAMES)}
RECORDING_STATES = ("NOT_PLAYED", "NOT_FINISHED", "WIN", "GAME_OVER")  # the toolkit's GameState names


@dataclass(slots=True)
class Step:
    """One recording line: the action that was taken and the state it led to."""

    line: int
    game: str  # "vc33" (the part of game_id before '-')
    game_id: str  # "vc33-9851e02b"
    action: int  # 0 = RESET, 1..7 = ACTION1..ACTION7
    x: int | None
    y: int | None
    frame: np.ndarray  # uint8 (64, 64): the last frame of the line, i.e. the state
    levels_completed: int
    win_levels: int
    state: str
    available_actions: tuple[int, ...]
    full_reset: bool = False
    n_frames: int = 1

    @property
    def cell(self) -> int:
        """VQ cell of the click, or LOC_NULL (64) for actions without coordinates."""
        return LOC_NULL if self.x is None else pixel_to_cell(self.x, self.y)

    @property
    def action_name(self) -> str:
        return ACTION_NAMES[self.action]


@dataclass
class Recording:
    path: Path
    steps: list[Step]
    skipped_summary: int = 0  # lines without a frame (a trailing summary, or actions after the game ended)
    bad_lines: list[RecordingError] = field(default_factory=list)

    @property
    def game(self) -> str:
        return self.steps[0].game if self.steps else "?"

    def episode(self) -> Episode:
        return Episode.from_steps(self.steps)


@dataclass
class Episode:
    """A recording as aligned arrays: frame t, then the action taken after seeing it.

    frames (T+1, 64, 64); action_types, action_cells, level_up: (T,) for the action after frame t.
    """

    frames: np.ndarray
    action_types: np.ndarray
    action_cells: np.ndarray
    action_xy: np.ndarray  # (T, 2) pixel coordinates, -1 where the action has none
    level_up: np.ndarray
    levels: np.ndarray  # (T+1,) levels_completed at each frame

    @classmethod
    def from_steps(cls, steps: list[Step]) -> Episode:
        if not steps:
            raise ValueError("an episode needs at least one step")
        steps = without_repeated_opening(steps)
        frames = np.stack([s.frame for s in steps])
        nxt = steps[1:]
        levels = np.array([s.levels_completed for s in steps], dtype=np.int64)
        return cls(
            frames=frames,
            action_types=np.array([s.action for s in nxt], dtype=np.int64),
            action_cells=np.array([s.cell for s in nxt], dtype=np.int64),
            action_xy=np.array([(s.x, s.y) if s.x is not None else (-1, -1) for s in nxt], dtype=np.int64).reshape(-1, 2),
            level_up=levels[1:] > levels[:-1],
            levels=levels,
        )

    @property
    def n_actions(self) -> int:
        return len(self.action_types)

    @property
    def action_points(self) -> np.ndarray:
        """(T,) int8: where inside its cell each click landed (vocab.click_point), -1 for other actions."""
        x, y = self.action_xy[:, 0], self.action_xy[:, 1]
        return np.where(x >= 0, click_point(x, y), -1).astype(np.int8)


def without_repeated_opening(steps: list[Step]) -> list[Step]:
    """`steps` from the last of the RESETs it opens with that leave the frame as it was.

    The toolkit logs a game's opening state when the environment is made, and again when the player's
    first RESET (which `aria play`, `aria bench` and make_demos.py all send) shows the same frame. Kept,
    the repeat would teach the models a RESET at the start of every game, and an agent's context at play
    (which begins at the first frame it sees) would never look like their training data there.
    """
    i = 0
    while (i + 1 < len(steps) and steps[i + 1].action == 0 and steps[i + 1].levels_completed == steps[i].levels_completed
           and np.array_equal(steps[i + 1].frame, steps[i].frame)):  # fmt: skip
        i += 1
    return steps[i:]


def _action_id(raw, path: Path, line: int) -> int:
    if isinstance(raw, bool):
        raise RecordingError(path, line, f"unknown action id {raw!r}")
    if isinstance(raw, int):
        if 0 <= raw < len(ACTION_NAMES):
            return raw
    elif isinstance(raw, str):
        name = raw.strip().upper()
        if name in _ACTION_IDS:
            return _ACTION_IDS[name]
        if name.isdigit() and int(name) < len(ACTION_NAMES):
            return int(name)
    raise RecordingError(path, line, f"unknown action id {raw!r} (expected 0-7 or RESET, ACTION1..ACTION7)")


def _bools_after_frame(raw_line: bytes) -> bool:
    """Whether a `true`/`false` follows the "frame" key: else the frame holds none, and the exact (slower)
    search for them can be skipped. Toolkit lines put the frame last, after their own booleans."""
    start = raw_line.find(b'"frame"')
    return start < 0 or raw_line.find(b"true", start) >= 0 or raw_line.find(b"false", start) >= 0


def _frame(raw, path: Path, line: int, bools: bool = True) -> tuple[np.ndarray, int]:
    if not isinstance(raw, list) or not raw:
        raise RecordingError(path, line, "'frame' must be a list of 1..N 64x64 grids")
    last = raw[-1]
    arr = _grid(last, path, line, bools)
    if arr.shape != (FRAME_SIZE, FRAME_SIZE):
        # A single bare 64x64 grid instead of a list of grids is a common hand-written shape.
        if arr.ndim == 1 and len(raw) == FRAME_SIZE:
            arr = _grid(raw, path, line, bools)
            if arr.shape == (FRAME_SIZE, FRAME_SIZE):
                return _colours(arr, path, line), 1
        raise RecordingError(path, line, f"frame is {_shape(last, arr)}, expected 64x64")
    return _colours(arr, path, line), len(raw)


def _grid(value, path: Path, line: int, bools: bool = True) -> np.ndarray:
    """A nested list of colours as an int64 array; a colour that is not a whole number (3.5, true) is an error."""
    try:
        arr = np.array(value)
    except (ValueError, TypeError):
        arr = None
    if arr is None or arr.dtype == object:
        raise RecordingError(path, line, "frame is not a rectangular grid of integers")
    if arr.dtype.kind not in "iu" or (bools and arr.size and _has_bool(value)):  # numpy reads [1, true] as [1, 1]
        bad = _first_non_integer(value)
        if bad is not None or arr.dtype.kind not in "iuf":
            raise RecordingError(path, line, f"frame has colour {json.dumps(bad)}, not an integer 0-15")
    return arr.astype(np.int64)


def _has_bool(value) -> bool:
    if isinstance(value, list):
        return any(_has_bool(v) for v in value) if value and isinstance(value[0], list) else bool in set(map(type, value))
    return isinstance(value, bool)


def _first_non_integer(value):
    """The first colour that is a bool, or a number with a fraction (3.0 is a whole number); None if none."""
    if isinstance(value, list):
        return next((b for b in map(_first_non_integer, value) if b is not None), None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return value if isinstance(value, float) and not value.is_integer() else None


def _shape(value, arr: np.ndarray) -> str:
    if arr.ndim == 0:
        return f"a single value {json.dumps(value)}"
    return f"a grid of {len(arr)}" if arr.ndim == 1 else "x".join(map(str, arr.shape))


def _colours(arr: np.ndarray, path: Path, line: int) -> np.ndarray:
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > 15:
        bad = lo if lo < 0 else hi
        raise RecordingError(path, line, f"frame has colour {bad}, outside 0-15")
    return arr.astype(np.uint8)


def _coord(data: dict, key: str, path: Path, line: int) -> int:
    v = data.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or int(v) != v:
        raise RecordingError(path, line, f"click (ACTION6) without a valid '{key}' coordinate")
    v = int(v)
    if not 0 <= v < FRAME_SIZE:
        raise RecordingError(path, line, f"click {key}={v} is outside 0-63")
    return v


def parse_line(raw_line: bytes, path: Path, line: int) -> Step | None:
    """One JSONL line → a Step, or None for a line without a frame (summary / after game end)."""
    try:
        obj = orjson.loads(raw_line)
    except orjson.JSONDecodeError as e:
        raise RecordingError(path, line, f"not valid JSON ({e.args[0].split(':')[0]})") from None
    if not isinstance(obj, dict):
        raise RecordingError(path, line, "expected a JSON object")
    data = obj.get("data", obj) if isinstance(obj.get("data"), dict) else obj
    frame_raw = data.get("frame")
    if frame_raw is None or frame_raw == []:
        return None
    game_id = data.get("game_id")
    if not isinstance(game_id, str) or not game_id:
        raise RecordingError(path, line, "missing 'game_id'")
    ai = data.get("action_input")
    if not isinstance(ai, dict) or "id" not in ai:
        raise RecordingError(path, line, "missing 'action_input' with an 'id'")
    action = _action_id(ai["id"], path, line)
    x = y = None
    if action == CLICK:
        adata = ai.get("data")
        if not isinstance(adata, dict):
            raise RecordingError(path, line, "click (ACTION6) without x/y in action_input.data")
        x, y = _coord(adata, "x", path, line), _coord(adata, "y", path, line)
    frame, n_frames = _frame(frame_raw, path, line, bools=_bools_after_frame(raw_line))
    # Older preview recordings say score/win_score.
    levels = data.get("levels_completed", data.get("score", 0))
    win_levels = data.get("win_levels", data.get("win_score", 0))
    if not isinstance(levels, int) or not isinstance(win_levels, int):
        raise RecordingError(path, line, "levels_completed/win_levels must be integers")
    state = data.get("state", "NOT_FINISHED")
    if state not in RECORDING_STATES:
        raise RecordingError(path, line, f"unknown state {state!r}")
    avail = data.get("available_actions") or []
    try:
        available = tuple(_action_id(a, path, line) for a in avail)
    except RecordingError:
        raise RecordingError(path, line, f"bad available_actions {avail!r}") from None
    return Step(
        line=line,
        game=short_game_id(game_id),
        game_id=game_id,
        action=action,
        x=x,
        y=y,
        frame=frame,
        levels_completed=levels,
        win_levels=win_levels,
        state=state,
        available_actions=available,
        full_reset=bool(data.get("full_reset", False)),
        n_frames=n_frames,
    )


def iter_steps(path: str | Path, skip_bad: bool = False, report: Recording | None = None) -> Iterator[Step]:
    """Stream the steps of one recording. Bad lines raise, or with `skip_bad` go to `report.bad_lines`."""
    path = Path(path)
    if not path.exists():
        raise AriaError(f"{path}: no such file")
    if path.is_dir():
        raise AriaError(f"{path}: is a folder, expected a .jsonl recording")
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                step = parse_line(raw, path, lineno)
            except RecordingError as e:
                if not raw.endswith(b"\n"):
                    e = RecordingError(path, lineno, f"truncated last line ({e.reason})")
                if not skip_bad:
                    raise e from None
                if report is not None:
                    report.bad_lines.append(e)
                continue
            if step is None:
                if report is not None:
                    report.skipped_summary += 1
                continue
            yield step


def read_recording(path: str | Path, skip_bad: bool = False) -> Recording:
    """Load one recording. Raises `AriaError` for a missing or empty file and `RecordingError` per bad line."""
    path = Path(path)
    rec = Recording(path=path, steps=[])
    rec.steps = list(iter_steps(path, skip_bad=skip_bad, report=rec))
    if not rec.steps:
        if rec.bad_lines:
            raise AriaError(f"{path}: no usable lines ({len(rec.bad_lines)} bad, first: {rec.bad_lines[0]})")
        raise AriaError(f"{path}: empty recording (no line with a frame)")
    games = {s.game for s in rec.steps}
    if len(games) > 1:
        raise RecordingError(path, None, f"mixes several games ({', '.join(sorted(games))})")
    return rec


def short_game_id(game_id: str) -> str:
    """A game id without its version ("ls20-016295f7601e" -> "ls20"): how games are named across aria."""
    return game_id.split("-", 1)[0]


def find_recordings(data_dir: str | Path) -> list[Path]:
    """Every *.jsonl under `data_dir`, recursively (through symlinked folders too: a data set is often
    assembled from links to other folders), in a stable order."""
    data_dir = Path(data_dir)
    if data_dir.is_file():
        return [data_dir]
    files, seen = [], set()
    if data_dir.is_dir():
        for root, dirs, names in os.walk(data_dir, followlinks=True):
            real = os.path.realpath(root)
            if real in seen:  # a link back up the tree
                dirs[:] = []
                continue
            seen.add(real)
            files += [Path(root) / n for n in names if n.endswith(".jsonl")]
    files.sort()
    if not files:
        raise AriaError(
            f"no recordings (*.jsonl) under {data_dir.resolve()}; record some with `aria record GAME` "
            "or point --data at your own"
        )
    return files
