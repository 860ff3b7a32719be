"""A game running through the toolkit: reset, step, observe, and the toolkit's own recording of it.

    with GameSession("qmaz", seed=3, record_dir=Path("recordings/qmaz")) as s:
        obs = s.step(1)                 # ACTION1
        obs = s.step(6, x=12, y=20)     # a click
    s.recording_path                    # the toolkit's own JSONL recording, moved into record_dir

Finding and loading games is aria_cli.games.adapter's; this module only runs one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from arc_agi import Arcade, OperationMode
from arcengine import GameAction

from aria_cli.common import atomic
from aria_cli.common.errors import GameError
from aria_cli.games.adapter import (
    ONLINE_DEFAULT_DIR,
    Observation,
    ToolkitLog,
    game_file,
    game_info,
    locate_game,
    no_env_mode,
    observation_of,
    offline_arcade,
    split_game_id,
    user_folder,
)
from aria_cli.vocab import ACTION_NAMES, CLICK, FRAME_SIZE


class GameSession:
    """One game played through the toolkit: reset, step with (action, x, y), observe; optionally recorded.

    With `record_dir`, the toolkit's recorder writes every response; on `close()` the file moves from the
    toolkit's `<recordings_dir>/<scorecard>/` layout to `record_dir/<game_id>-<guid>.jsonl`, or to
    `record_dir/<recording_name>` when that is set (`recording_path`). As a context manager, the
    recording lands when the block ends normally and is dropped when it raises (an interrupted
    episode leaves no partial file).
    """

    def __init__(
        self,
        game: str,
        environments_dir: Path | None = None,
        online: bool = False,
        seed: int = 0,
        record_dir: Path | None = None,
    ) -> None:
        self._log = ToolkitLog()
        self._record_dir = Path(record_dir) if record_dir is not None else None
        self.recording_name: str | None = None  # set before close() to choose the file's name
        self._staging = Path(tempfile.mkdtemp(prefix="aria-rec-")) if record_dir is not None else None
        self.recording_path: Path | None = None
        self._wrapper = None
        try:
            if online:
                arcade, source = self._online_arcade(environments_dir), "online"
            else:
                folder, source = locate_game(game, environments_dir)
                arcade = offline_arcade(folder, self._log, self._staging)
            self._log.records.clear()  # what scanning the folder logged is about other games
            wrapper = arcade.make(game, seed=seed, save_recording=record_dir is not None)
            if wrapper is None:
                raise GameError(self._make_failed(game, arcade, online))
            if wrapper.observation_space is None:
                raise GameError(f"cannot load game {wrapper.info.game_id}: {self._log.explain(game_file(wrapper.info))}")
        except BaseException:
            self._discard_staging()
            raise
        self._wrapper = wrapper
        self.last = observation_of(wrapper.observation_space)
        self.info = game_info(wrapper.info, source, self.last)
        self.seed = seed

    # ------------------------------------------------------------------ online
    def _online_arcade(self, environments_dir: Path | None) -> Arcade:
        import requests

        user = user_folder(environments_dir)
        folder = user[0] if user else ONLINE_DEFAULT_DIR
        try:
            with no_env_mode():
                return Arcade(
                    operation_mode=OperationMode.NORMAL,
                    environments_dir=str(folder),
                    recordings_dir=str(self._staging or tempfile.gettempdir()),
                    logger=self._log.logger,
                )
        except requests.RequestException as e:
            raise GameError(self._offline_hint(type(e).__name__)) from None

    @staticmethod
    def _offline_hint(reason: str) -> str:
        url = os.getenv("ARC_BASE_URL", "https://three.arcprize.org")
        return (
            f"--online: cannot reach the ARC API at {url} ({reason}); without a network, play games already "
            "on disk with --environments-dir DIR (or the bundled games: `aria games`)"
        )

    def _make_failed(self, game: str, arcade: Arcade, online: bool) -> str:
        if not online:
            base, version = split_game_id(game)
            envs = [e for e in arcade.available_environments if split_game_id(e.game_id)[0] == base]
            env = next((e for e in envs if split_game_id(e.game_id)[1] == version), envs[0] if envs else None)
            return f"cannot load game {game}: {self._log.explain(game_file(env) if env else None)}"
        text = " ".join(r.getMessage() for r in self._log.records)
        if any(w in text for w in ("Connection", "Max retries", "Timeout", "Failed to resolve", "Request error")):
            return self._offline_hint("no connection")
        return f"--online: cannot download game {game}: {self._log.explain()}"

    # ------------------------------------------------------------------ playing
    @property
    def engine_game(self):
        """The arcengine game instance (for the scripted demonstrators, which read its state)."""
        return getattr(self._wrapper, "_game", None)

    def reset(self) -> Observation:
        """RESET: restarts the current level, or the whole game when nothing was played yet or it was won."""
        return self.step(0)

    def step(self, action: int, x: int | None = None, y: int | None = None) -> Observation:
        if self._wrapper is None:
            raise GameError("the game session is closed")
        action = int(action)
        gid = self.info.game_id
        if not 0 <= action < len(ACTION_NAMES):
            raise GameError(f"{gid}: unknown action {action} (0 = RESET, 1-7 = ACTION1-ACTION7)")
        name = ACTION_NAMES[action]
        if action != 0:
            if self.last.done:
                raise GameError(f"{gid}: the game is over ({self.last.state}); RESET (action 0) to play again")
            if action not in self.last.available_actions:
                allowed = ", ".join(ACTION_NAMES[a] for a in self.last.available_actions)
                raise GameError(f"{gid}: {name} is not available here (available: RESET, {allowed})")
        data = None
        if action == CLICK:
            if x is None or y is None or not (0 <= int(x) < FRAME_SIZE and 0 <= int(y) < FRAME_SIZE):
                raise GameError(f"{gid}: ACTION6 (click) needs x and y in 0-63, got x={x}, y={y}")
            data = {"x": int(x), "y": int(y)}
        elif x is not None or y is not None:
            raise GameError(f"{gid}: {name} takes no coordinates (only ACTION6 does)")
        self._log.records.clear()
        resp = self._wrapper.step(GameAction.from_id(action), data)
        if resp is None:
            raise GameError(f"{gid}: the game failed on {name}: {self._log.explain(game_file(self._wrapper.info))}")
        self.last = observation_of(resp)
        return self.last

    # ------------------------------------------------------------------ closing
    def close(self, keep_recording: bool = True) -> None:
        """Finish: move the recording (if any) into `record_dir`, or drop it. Safe to call twice."""
        if self._staging is None:
            self._wrapper = None
            return
        try:
            if keep_recording and self._wrapper is not None and self._record_dir is not None:
                for f in sorted(self._staging.rglob("*.jsonl")):
                    dest = self._record_dir / (self.recording_name or f.name)
                    with atomic.atomic_path(dest) as tmp:
                        shutil.copy(f, tmp)  # keeps the toolkit file's permissions
                    self.recording_path = dest
        finally:
            self._wrapper = None
            self._discard_staging()

    def _discard_staging(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __enter__(self) -> GameSession:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep_recording=exc_type is None)  # an interrupted episode leaves no partial file
