"""`aria distill RUNS --out DIR`: recordings of play become clean demonstrations.

For every level a run completed, the shortest action sequence from the level's start to its
completion over the transitions that run observed (`level_graphs`: the explorer's state graphs,
rebuilt from the recording), replayed through the real game with the toolkit's recorder on, so the
output is a genuine toolkit recording that wins those levels. Where a replay does not win the level
(a game with hidden state or randomness, or a mask that merged states the game tells apart), the
next candidate is tried — the shortest path over raw frames, the run's shortest completing attempt
loop-erased, that attempt verbatim, the run's whole stay in the level verbatim — and the table says
which one won. A failed try is never kept: the replay starts again from the game's first frame with
the levels already won, so the output holds only winning play.

Games are looked up like `aria play` does (`--environments-dir`, then the bundled games). The seed
is the run's: `--seed`, else a `-seed<N>` in the file name (what `aria record` writes), else 0.

    from aria_cli.games.distill import distill
    results = distill([Path("runs/qmaz")], Path("demos"))
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.table import Table

from aria_cli.common.errors import AriaError, GameError
from aria_cli.data.recordings import find_recordings, read_recording
from aria_cli.games.adapter import locate_game
from aria_cli.games.level_graphs import Act, LevelGraphs, act_of
from aria_cli.games.session import GameSession

MAX_REOPENS = 3  # fresh replays of the levels won so far before the game is taken for a random one
_SEED = re.compile(r"-seed(\d+)(?:\D|$)")


@dataclass
class LevelResult:
    level: int  # 0-based; tables show level + 1
    run_actions: int  # what the run spent on it (RESETs included), the first time it completed it
    actions: int | None = None  # the distilled sequence's length, when a replay won
    method: str | None = None  # which candidate won the replay
    note: str = ""

    @property
    def won(self) -> bool:
        return self.actions is not None


@dataclass
class DistillResult:
    source: Path
    game: str
    seed: int
    levels: list[LevelResult] = field(default_factory=list)
    output: Path | None = None
    message: str | None = None  # why nothing (or less than every completed level) was written

    @property
    def levels_won(self) -> int:
        return sum(r.won for r in self.levels)

    def to_json(self) -> dict:
        return {
            "source": str(self.source),
            "game": self.game,
            "seed": self.seed,
            "output": str(self.output) if self.output else None,
            "message": self.message,
            "levels": [{**asdict(row), "level": row.level + 1, "won": row.won} for row in self.levels],
        }


def seed_of(path: Path, seed: int | None) -> int:
    """The seed to replay a run with: the given one, else `-seed<N>` in the file name, else 0."""
    if seed is not None:
        return seed
    m = _SEED.search(path.name)
    return int(m.group(1)) if m else 0


def _play_level(session: GameSession, acts: list[Act], level: int) -> list[Act] | None:
    """Play `acts` from the start of `level`; the actions used up to its completion, or None if it was not won."""
    used: list[Act] = []
    for a, x, y in acts:
        try:
            obs = session.step(a, x, y)
        except GameError:  # e.g. an action the game does not offer in the state the replay reached
            return None
        used.append((a, x, y))
        if obs.levels_completed > level or obs.state == "WIN":
            return used
        if obs.levels_completed < level:  # the game restarted: this is not the run's level any more
            return None
    return None


def _candidates(graphs: LevelGraphs, level: int, start) -> list[tuple[str, list[Act]]]:
    """Distinct sequences worth replaying for this level, shortest first (ties: the graph's first)."""
    found = [(f"shortest{where}{keys}", graphs.shortest(level, start, exact=exact, any_start=any_start))
             for exact, keys in ((False, ""), (True, ", raw frames"))
             for any_start, where in ((False, ""), (True, " from any level start"))]  # fmt: skip
    attempt = graphs.best_attempt(level)
    if attempt is not None:
        found += [("run's attempt, loop-erased", graphs.loop_erased(attempt)),
                  ("run's attempt", [act_of(a) for a in attempt.actions])]  # fmt: skip
    found.append(("run's actions", graphs.runs[level].stay))
    unique: dict[tuple, tuple[str, list[Act]]] = {}
    for method, acts in found:
        if acts:
            unique.setdefault(tuple(acts), (method, acts))
    return sorted(unique.values(), key=lambda c: len(c[1]))


class _Replay:
    """Recorded sessions of one game that replay the levels won so far, ready for the next level."""

    def __init__(self, game: str, environments_dir: Path | None, seed: int, record_dir: Path):
        self.game, self.environments_dir = game, environments_dir
        self.seed, self.record_dir = seed, record_dir
        self.sessions: list[GameSession] = []

    def open(self, chosen: list[list[Act]]) -> GameSession | None:
        """A fresh session with the chosen levels won again; None if the game would not (hidden randomness)."""
        for _ in range(MAX_REOPENS):
            session = GameSession(self.game, self.environments_dir, seed=self.seed, record_dir=self.record_dir)
            self.sessions.append(session)
            if all(_play_level(session, acts, level) == acts for level, acts in enumerate(chosen)):
                return session
            session.close(keep_recording=False)
        return None


def _replay_levels(graphs: LevelGraphs, replay: _Replay, result: DistillResult) -> tuple[GameSession | None, int]:
    """Find a winning sequence per level, in order: the session that holds exactly those, and how many."""
    chosen: list[list[Act]] = []
    session = replay.open(chosen)
    for level in graphs.completed_levels:
        row = LevelResult(level, graphs.runs[level].run_actions)
        result.levels.append(row)
        if not graphs.knows_start(level, session.last.frame):
            row.note = "the replay's level start was never seen in the run"
        failed: list[str] = []
        for method, acts in _candidates(graphs, level, session.last.frame):
            session = session or replay.open(chosen)
            if session is None:
                result.message = "levels won once did not win again on a fresh replay (a random game)"
                return None, 0
            used = _play_level(session, acts, level)
            if used is not None:
                chosen.append(used)
                row.actions, row.method = len(used), method
                break
            failed.append(f"{method} ({len(acts)})")
            session.close(keep_recording=False)  # a failed try never reaches the output
            session = None
        if failed:
            row.note = "; ".join(filter(None, [row.note, "did not win on replay: " + ", ".join(failed)]))
        if not row.won:
            row.note = row.note or "no sequence the run observed wins it on replay"
            break
    session = session or replay.open(chosen)
    if session is None:
        result.message = "the levels won did not win again on a fresh replay (a random game)"
    return session, len(chosen)


def distill_recording(path: Path, out_dir: Path, name: str, environments_dir: Path | None = None,
                      seed: int | None = None) -> DistillResult:  # fmt: skip
    """Distill one recording into `out_dir/<game>/<name>`; see the module docstring."""
    rec = read_recording(path)
    result = DistillResult(source=path, game=rec.game, seed=seed_of(path, seed))
    graphs = LevelGraphs(rec)
    if not graphs.completed_levels:
        result.message = "completed no level: nothing to distill"
        return result
    replay = _Replay(rec.steps[0].game_id, environments_dir, result.seed, out_dir / rec.game)
    try:
        session, won = _replay_levels(graphs, replay, result)
        if session is None or not won:
            result.message = result.message or "no level replayed to a win"
            return result
        session.recording_name = name
        session.close(keep_recording=True)
    finally:  # every other session, also on Ctrl-C or an error: no recording of a try is left behind
        for s in replay.sessions:
            s.close(keep_recording=False)
    result.output = session.recording_path
    _check_output(result, won)
    return result


def _check_output(result: DistillResult, levels: int) -> None:
    """The written recording must win exactly the levels claimed, or it goes."""
    episode = read_recording(result.output).episode()
    if int(episode.level_up.sum()) != levels or int(episode.levels[-1]) != levels:
        result.output.unlink()
        result.output = None
        result.message = "the written recording did not win the levels it replayed; removed"


def _inputs(runs: list[Path], environments_dir: Path | None) -> list[Path]:
    """Every recording under RUNS, each read once here so a bad file stops the command before any replay."""
    files: list[Path] = []
    for r in runs:
        if not Path(r).exists():
            raise AriaError(f"{r}: no such file or folder")
        files += find_recordings(r)
    located: set[str] = set()
    for f in files:
        game_id = read_recording(f).steps[0].game_id
        if game_id not in located:
            try:
                locate_game(game_id, environments_dir)
            except GameError as e:
                raise AriaError(f"{f}: {e}") from None
            located.add(game_id)
    return files


def distill(runs: list[Path], out_dir: Path, environments_dir: Path | None = None, seed: int | None = None,
            on_result: Callable[[DistillResult], None] | None = None) -> list[DistillResult]:  # fmt: skip
    """Distill every recording under `runs` (files or folders) into `out_dir/<game>/<stem>-distilled.jsonl`."""
    files = _inputs(runs, environments_dir)
    results, names = [], set()
    for f in files:
        name = f"{f.stem}-distilled.jsonl"
        n = 1
        while name in names:  # two runs with one name in different folders
            n += 1
            name = f"{f.stem}-{n}-distilled.jsonl"
        names.add(name)
        r = distill_recording(f, Path(out_dir), name, environments_dir, seed)
        results.append(r)
        if on_result is not None:
            on_result(r)
    return results


def result_table(r: DistillResult) -> Table:
    """Per level: what the run spent, what the distilled replay needs, how it was found, whether it won."""
    notes = any(row.note for row in r.levels)
    t = Table(title=f"{r.source.name} · {r.game} · seed {r.seed}", title_justify="left")
    for col, justify in (("level", "left"), ("run", "right"), ("distilled", "right"), ("from", "left"),
                         ("replay", "left"), ("note", "left"))[: 6 if notes else 5]:  # fmt: skip
        t.add_column(col, justify=justify)
    for row in r.levels:
        cells = [str(row.level + 1), str(row.run_actions), str(row.actions) if row.won else "—", row.method or "—",
                 "[green]won[/]" if row.won else "[red]not won[/]", row.note]  # fmt: skip
        t.add_row(*cells[: 6 if notes else 5])
    if r.levels:
        won = [row for row in r.levels if row.won]
        t.add_section()
        total = ["total", str(sum(row.run_actions for row in won)), str(sum(row.actions for row in won)), "",
                 f"{len(won)} of {len(r.levels)} levels", ""]  # fmt: skip
        t.add_row(*total[: 6 if notes else 5])
    return t
