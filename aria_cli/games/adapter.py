"""Where games come from: find and load them through the `arc-agi` toolkit (a running game is `session`).

Games live in environments folders in the toolkit's layout, `<dir>/<game>/<version>/{<game>.py,
metadata.json}`. A game id is looked up in the user's folder first (`environments_dir`, else the
toolkit's `$ENVIRONMENTS_DIR`), then among the games bundled with aria (`BUNDLED_ENVIRONMENTS`).

Everything runs in the toolkit's OFFLINE mode, which never touches the network. (Its default mode
contacts the ARC API while the `Arcade` is being built.) Only `online=True` lets the toolkit
download an official game, with `$ARC_API_KEY` or its anonymous key, into the user's folder.

The toolkit reports failures by logging and returning None; the session keeps what it logs so
each failure becomes one `GameError` line that says what went wrong and where.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import arc_agi.wrapper as _toolkit_wrapper
import numpy as np
from arc_agi import Arcade, EnvironmentInfo, OperationMode

from aria_cli.common.errors import GameError
from aria_cli.vocab import ACTION_NAMES, CLICK, FRAME_SIZE

# The toolkit's scorecard module logs to stdout at INFO on every Arcade; aria keeps the terminal for itself.
logging.getLogger("arc_agi.scorecard").setLevel(logging.WARNING)


class _OneShotJson:
    """The toolkit's recorder writes each line with `json.dump(event, f)`, which runs the pure-Python
    encoder (~1.6 ms for a 64x64 frame, most of a recorded step). `json.dumps` uses the C encoder and
    produces the same text, so the recordings are byte for byte what the toolkit would write."""

    def __getattr__(self, name: str):
        return getattr(json, name)

    @staticmethod
    def dump(obj, fp, **kwargs) -> None:
        fp.write(json.dumps(obj, **kwargs))


_toolkit_wrapper.json = _OneShotJson()

BUNDLED_ENVIRONMENTS = Path(__file__).resolve().parent / "environments"
ONLINE_DEFAULT_DIR = Path("environment_files")  # where the toolkit downloads to when no folder is given
_ADD_GAMES_HINT = (
    "add games with --environments-dir DIR (or $ENVIRONMENTS_DIR), a folder of <game>/<version>/"
    "{<game>.py, metadata.json}; official games download with --online"
)


@dataclass
class GameInfo:
    game: str  # "qmaz"
    game_id: str  # "qmaz-v1"
    version: str
    title: str
    levels: int
    actions: tuple[int, ...]  # available actions at the start (0 = RESET is always allowed)
    baseline_actions: list[int]
    source: str  # "bundled", or the environments folder it came from
    error: str | None = None  # why the game could not be loaded (then levels/actions are from metadata)

    @property
    def action_set(self) -> str:
        return describe_actions(self.actions)


@dataclass
class Observation:
    frame: np.ndarray  # uint8 (64, 64): the last frame, i.e. the state
    frames: list[np.ndarray]  # every frame the action produced (1..N)
    state: str  # NOT_FINISHED | WIN | GAME_OVER
    levels_completed: int
    win_levels: int
    available_actions: tuple[int, ...]

    @property
    def done(self) -> bool:
        return self.state != "NOT_FINISHED"


def describe_actions(actions: tuple[int, ...]) -> str:
    """'ACTION1-4', 'ACTION6 (click)', 'ACTION1-5 + click': how an action set reads in a table."""
    simple = sorted(a for a in actions if a != CLICK)
    parts = []
    if simple:
        if simple == list(range(simple[0], simple[-1] + 1)) and len(simple) > 1:
            parts.append(f"ACTION{simple[0]}-{simple[-1]}")
        else:
            parts.append(", ".join(ACTION_NAMES[a] for a in simple))
    if CLICK in actions:
        parts.append("click" if simple else "ACTION6 (click)")
    return " + ".join(parts) or "—"


class ToolkitLog(logging.Handler):
    """A quiet logger for the toolkit that keeps its warnings and errors to explain a failure."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.Logger("arc_agi", logging.WARNING)  # not registered: no parents, no output
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def explain(self, game_file: Path | None = None) -> str:
        """The root cause as one line: the exception logged (with the line of the game file it came
        from), else the first error; the toolkit logs follow-up errors after the one that matters."""
        with_exc = [r for r in self.records if r.exc_info and r.exc_info[1] is not None]
        errors = [r for r in self.records if r.levelno >= logging.ERROR] or self.records
        where = f"{game_file}: " if game_file else ""
        if with_exc:
            exc = with_exc[-1].exc_info[1]
            lineno, tb = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None, exc.__traceback__
            while tb is not None:  # the toolkit exec()s the game source, so its frames say "<string>"
                if tb.tb_frame.f_code.co_filename == "<string>":
                    lineno = tb.tb_lineno
                tb = tb.tb_next
            if game_file and lineno:
                where = f"{game_file}:{lineno}: "
            return f"{where}{type(exc).__name__}: {exc}".replace("\n", " ")
        if not errors:
            return f"{where}no error was reported"
        return f"{where}{errors[0].getMessage()}".replace("\n", " ")


@contextmanager
def no_env_mode() -> Iterator[None]:
    """`OPERATION_MODE=competition` in the environment overrides the mode passed in; hide it while building."""
    saved = os.environ.pop("OPERATION_MODE", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["OPERATION_MODE"] = saved


def offline_arcade(folder: Path, log: ToolkitLog, recordings_dir: Path | None = None) -> Arcade:
    with no_env_mode():
        return Arcade(
            operation_mode=OperationMode.OFFLINE,
            environments_dir=str(folder),
            recordings_dir=str(recordings_dir or tempfile.gettempdir()),
            logger=log.logger,
        )


def user_folder(environments_dir: Path | None) -> tuple[Path, str] | None:
    if environments_dir is not None:
        folder, what = Path(environments_dir), "--environments-dir"
    elif os.environ.get("ENVIRONMENTS_DIR"):
        folder, what = Path(os.environ["ENVIRONMENTS_DIR"]), "$ENVIRONMENTS_DIR"
    else:
        return None
    if not folder.is_dir():
        raise GameError(f"{what} {folder}: no such folder (expected <game>/<version>/metadata.json inside)")
    return folder, what


_METADATA_FAILED = "Failed to load metadata.json from "


def metadata_failures(folder: Path, log: ToolkitLog) -> dict[Path, str]:
    """The metadata.json files under `folder` that the toolkit skipped while scanning it (it only logs
    them), each with why, as one line. Call right after building the arcade, before anything else logs."""
    out = {}
    for r in log.records:
        msg = r.getMessage()
        if not msg.startswith(_METADATA_FAILED):
            continue
        exc = r.exc_info[1] if r.exc_info else None
        errors = getattr(exc, "errors", None)
        if callable(errors):  # pydantic: the first problem, without its documentation links
            first = errors()[0]
            where = ".".join(str(x) for x in first.get("loc", ()))
            why = f"{where}: {first['msg']}" if where else first["msg"]
        else:
            why = str(exc).splitlines()[0] if exc is not None else msg
        for path in Path(folder).rglob("metadata.json"):
            if msg.startswith(f"{_METADATA_FAILED}{path}:"):
                out[path] = why.replace("\n", " ")
    return out


def _metadata_game(path: Path) -> tuple[str, str]:
    """(game, version) of `<game>/<version>/metadata.json`, from the folders (the file itself does not parse)."""
    return path.parent.parent.name, path.parent.name


def search_path(environments_dir: Path | None = None) -> list[tuple[Path, str]]:
    """(folder, source) in lookup order: the user's folder (if any), then the bundled games."""
    folders = []
    user = user_folder(environments_dir)
    if user is not None and user[0].resolve() != BUNDLED_ENVIRONMENTS:
        folders.append((user[0], str(user[0])))
    folders.append((BUNDLED_ENVIRONMENTS, "bundled"))
    return folders


def split_game_id(game_id: str) -> tuple[str, str]:
    base, _, version = game_id.partition("-")
    return base, version


def locate_game(game: str, environments_dir: Path | None) -> tuple[Path, str]:
    """The folder (and its source label) that holds `game` ("qmaz" or "qmaz-v1"), user's folder first."""
    base, version = split_game_id(game)
    known: list[str] = []
    for folder, source in search_path(environments_dir):
        log = ToolkitLog()
        envs = offline_arcade(folder, log).available_environments
        known += [e.game_id for e in envs]
        if any(split_game_id(e.game_id)[0] == base and (not version or split_game_id(e.game_id)[1] == version) for e in envs):
            return folder, source
        for path, why in metadata_failures(folder, log).items():
            g, v = _metadata_game(path)
            if g == base and (not version or v == version):
                raise GameError(f"cannot load game {game}: {path} does not parse ({why})")
    versions = [g for g in known if split_game_id(g)[0] == base]
    if versions:
        raise GameError(f"game {base!r} has no version {version!r}; available: {', '.join(sorted(set(versions)))}")
    ids = ", ".join(sorted({split_game_id(g)[0] for g in known})) or "none"
    raise GameError(f"unknown game {game!r}; available: {ids}; {_ADD_GAMES_HINT}")


def game_file(env: EnvironmentInfo) -> Path:
    folder, name = Path(env.local_dir or "."), env.class_name or env.game_id[:4]
    lower = folder / f"{name.lower()}.py"
    return lower if lower.exists() or not (folder / f"{name}.py").exists() else folder / f"{name}.py"


def observation_of(resp) -> Observation:
    frames = [np.asarray(f).astype(np.uint8) for f in resp.frame]
    state = resp.state.name if hasattr(resp.state, "name") else str(resp.state)
    return Observation(
        frame=frames[-1] if frames else np.zeros((FRAME_SIZE, FRAME_SIZE), np.uint8),
        frames=frames,
        state=state,
        levels_completed=int(resp.levels_completed),
        win_levels=int(resp.win_levels),
        available_actions=tuple(int(a) for a in resp.available_actions),
    )


def game_info(env: EnvironmentInfo, source: str, obs: Observation | None, error: str | None = None) -> GameInfo:
    base, version = split_game_id(env.game_id)
    baseline = list(env.baseline_actions or [])
    return GameInfo(
        game=base,
        game_id=env.game_id,
        version=version,
        title=env.title or base,
        levels=obs.win_levels if obs is not None else len(baseline),
        actions=obs.available_actions if obs is not None else (),
        baseline_actions=baseline,
        source=source,
        error=error,
    )


def list_games(environments_dir: Path | None = None) -> list[GameInfo]:
    """Every game aria can run: the user's folder (or $ENVIRONMENTS_DIR) first, then the bundled ones.

    Each game is loaded once (offline) to read its levels and actions; one that fails to load is
    listed with `error` set instead of stopping the listing.
    """
    out = []
    for folder, source in search_path(environments_dir):
        log = ToolkitLog()
        arcade = offline_arcade(folder, log)
        for path, why in metadata_failures(folder, log).items():
            game, version = _metadata_game(path)
            out.append(GameInfo(game, f"{game}-{version}", version, game, 0, (), [], source,
                                error=f"{path}: {why}"))
        for env in sorted(arcade.available_environments, key=lambda e: e.game_id):
            log.records.clear()
            wrapper = arcade.make(env.game_id, seed=0)
            if wrapper is None or wrapper.observation_space is None:
                out.append(game_info(env, source, None, log.explain(game_file(env))))
            else:
                out.append(game_info(env, source, observation_of(wrapper.observation_space)))
    return out


def folder_game_ids(folder: Path) -> list[str]:
    """The game ids ("qmaz-v1") the toolkit finds in one environments folder, without loading the games."""
    return [e.game_id for e in offline_arcade(Path(folder), ToolkitLog()).available_environments]
