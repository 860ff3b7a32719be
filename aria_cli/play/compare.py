"""Agents side by side: every game × agent × seed at a fixed action budget, in one table.

    from aria_cli.play.compare import compare
    result = compare(["qmaz", "qtgl"], ["explore", "random"], max_actions=1000, seeds=[0, 1, 2])
    for table in result.tables():
        console.print(table)
    result.write_json("compare.json")

Each run plays one game through the game adapter from its first frame until WIN or `max_actions`
actions (RESETs count as actions). Per run: levels completed of win_levels, the actions used on each
completed level and the running total when it was completed, RESETs, the agent's milliseconds per
action (act + observe; the game's own step time is reported apart), whether it won, the official
score (aria_cli.play.score; per game and agent the best seed's, as the toolkit keeps it), and the
error if the game raised one (the run then ends there and the comparison goes on). Agents come by name from
`aria_cli.agents.base` or from `extra_agents` ({"world-model": seed -> agent}).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from aria_cli.agents.base import Agent, AgentFactory, GameStart, make_agent
from aria_cli.common import atomic
from aria_cli.common.ui import progress
from aria_cli.play.score import best_score, fmt_score, official_score

SCHEMA_VERSION = 2  # 2: "compared"
SessionFactory = Callable[[str, int], Any]  # (game, seed) -> object with reset() / step(a, x, y)


@dataclass
class RunResult:
    """One agent playing one game with one seed. Field names follow `aria play --json`."""

    game: str
    agent: str
    seed: int
    levels_completed: int = 0
    win_levels: int = 0
    actions: int = 0
    level_actions: list[int] = field(default_factory=list)  # actions spent on each completed level
    actions_to_level: list[int] = field(default_factory=list)  # total actions when each was completed
    resets: int = 0
    ms_per_action: float = 0.0  # the agent's time (act + observe)
    game_ms_per_action: float = 0.0  # the game's step time
    won: bool = False
    error: str | None = None
    recording: str | None = None  # the run's toolkit recording, when it was recorded
    baseline_actions: list[int] = field(default_factory=list)  # the game's, from its metadata
    score: float | None = None  # the official ARC-AGI-3 score (aria_cli.play.score); None: no baselines
    level_scores: list[float] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        """A run from its JSON (a runs.jsonl line, summary.json), ignoring keys that are not fields (timings)."""
        return cls(**{k: v for k, v in d.items() if k in _FIELDS})


_FIELDS = {f.name for f in fields(RunResult)}


@dataclass
class ComparisonResult:
    games: list[str]
    agents: list[str]
    seeds: list[int]
    max_actions: int
    runs: list[RunResult]

    def runs_for(self, game: str, agent: str) -> list[RunResult]:
        return [r for r in self.runs if r.game == game and r.agent == agent]

    def summary(self) -> list[dict[str, Any]]:
        """Per game and agent, averaged over seeds."""
        out = []
        for game in self.games:
            for agent in self.agents:
                runs = self.runs_for(game, agent)
                if not runs:
                    continue
                win_levels = max(r.win_levels for r in runs)
                best, best_i = best_score([r.score for r in runs])
                to_level = []
                for lvl in range(max((r.levels_completed for r in runs), default=0)):
                    reached = [r.actions_to_level[lvl] for r in runs if len(r.actions_to_level) > lvl]
                    to_level.append({"mean_actions": float(np.mean(reached)), "runs": len(reached)})
                out.append(
                    {
                        "game": game,
                        "agent": agent,
                        "runs": len(runs),
                        "mean_levels": float(np.mean([r.levels_completed for r in runs])),
                        "score": best,  # the toolkit keeps a game's best run over seeds
                        "score_seed": runs[best_i].seed if best_i is not None else None,
                        "baseline_levels": max(len(r.baseline_actions) for r in runs),
                        "mean_score": float(np.mean([r.score for r in runs])) if best is not None else None,
                        "levels": [r.levels_completed for r in runs],
                        "win_levels": win_levels,
                        "wins": sum(r.won for r in runs),
                        "actions_to_level": to_level,
                        "mean_resets": float(np.mean([r.resets for r in runs])),
                        "ms_per_action": float(np.mean([r.ms_per_action for r in runs])),
                        "errors": [r.error for r in runs if r.error],
                    }
                )
        return out

    def totals(self) -> dict[str, dict[str, Any]]:
        """Per agent: levels summed over games (mean over seeds) and, once every game ran every seed, for
        each seed apart (`levels_by_seed`: how far the total moves with the seed alone), wins, ms/action."""
        out = {}
        summary = self.summary()
        for agent in self.agents:
            runs = [r for r in self.runs if r.agent == agent]
            rows = [s for s in summary if s["agent"] == agent]  # one per game the agent played
            out[agent] = {
                "levels": float(np.sum([s["mean_levels"] for s in rows])) if rows else 0.0,
                "win_levels": float(sum(s["win_levels"] for s in rows)),
                "levels_by_seed": self._levels_by_seed(agent),
                "wins": int(sum(r.won for r in runs)),
                "ms_per_action": float(np.mean([r.ms_per_action for r in runs])) if runs else 0.0,
                **_score_totals(rows),
            }
        return out

    def _levels_by_seed(self, agent: str) -> dict[str, int] | None:
        """Levels summed over games for each seed; None until every game has a run of every seed."""
        runs = {(r.game, r.seed): r.levels_completed for r in self.runs if r.agent == agent}
        if any((g, s) not in runs for g in self.games for s in self.seeds):
            return None
        return {str(s): sum(runs[g, s] for g in self.games) for s in self.seeds}

    def compared(self, n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
        """Each agent against each one listed after it (`levels_compared`), where both are complete."""
        pairs = [self.levels_compared(a, b, n_boot, seed) for i, a in enumerate(self.agents)
                 for b in self.agents[i + 1 :]]  # fmt: skip
        return [p for p in pairs if p is not None]

    def levels_compared(self, agent: str, against: str, n_boot: int = 2000, seed: int = 0) -> dict[str, Any] | None:
        """`agent`'s levels against `against`'s on the same games: the ratio and the difference of their
        totals (each game's mean over seeds, summed), each with a 95% interval, and on how many games
        each did better. None unless both played every game with every seed, on two games or more.

        The interval is a percentile bootstrap that draws the games with replacement and then, for each
        drawn game and agent, its seeds: how far the figure would move with other games of the same kind
        and other seeds. (scipy's `bootstrap` resamples one level only, and aria does not depend on it.)"""
        grid = {}
        for r in self.runs:
            if r.agent in (agent, against):
                grid[r.agent, r.game, r.seed] = r.levels_completed
        games, seeds = self.games, self.seeds
        if len(games) < 2 or any((a, g, s) not in grid for a in (agent, against) for g in games for s in seeds):
            return None
        levels = np.array([[[grid[a, g, s] for s in seeds] for g in games] for a in (agent, against)], dtype=float)
        per_game = levels.mean(-1)  # (2, games)
        rng = np.random.default_rng(seed)
        g = rng.integers(len(games), size=(n_boot, len(games)))
        totals = np.stack([levels[i][g[..., None], rng.integers(len(seeds), size=(n_boot, len(games), len(seeds)))]
                           .mean(-1).sum(-1) for i in range(2)])  # fmt: skip
        a_total, b_total = per_game.sum(1)
        diff = totals[0] - totals[1]
        ratio = totals[0] / totals[1] if (totals[1] > 0).all() else None
        return {
            "agent": agent,
            "against": against,
            "levels": float(a_total),
            "against_levels": float(b_total),
            "ratio": float(a_total / b_total) if b_total > 0 else None,
            "ratio_interval": [float(x) for x in np.percentile(ratio, [2.5, 97.5])] if ratio is not None else None,
            "difference": float(a_total - b_total),
            "difference_interval": [float(x) for x in np.percentile(diff, [2.5, 97.5])],
            "games_more": int((per_game[0] > per_game[1]).sum()),
            "games_fewer": int((per_game[0] < per_game[1]).sum()),
            "games_equal": int((per_game[0] == per_game[1]).sum()),
        }

    def compared_table(self) -> Table | None:
        """The agents against each other (`compared`); None with fewer than two complete agents."""
        pairs = self.compared()
        if not pairs:
            return None
        t = Table(title="levels, agent against agent (95% intervals, games and seeds bootstrapped)", title_justify="left")
        for col in ("agent", "against", "ratio", "interval", "difference", "interval", "games +/−/="):
            if col in ("agent", "against"):  # named variants (`bench.variant_name`) are long: never cut them
                t.add_column(col, min_width=max(map(len, self.agents)), overflow="fold")
            else:
                t.add_column(col, justify="right")
        for p in pairs:
            ri = p["ratio_interval"]
            di = p["difference_interval"]
            t.add_row(p["agent"], p["against"],
                      f"{p['ratio']:.2f}x" if p["ratio"] is not None else "—",
                      f"{ri[0]:.2f}–{ri[1]:.2f}" if ri else "—",
                      f"{p['difference']:+.1f}", f"{di[0]:+.1f} to {di[1]:+.1f}",
                      f"{p['games_more']}/{p['games_fewer']}/{p['games_equal']}")  # fmt: skip
        return t

    def tables(self, show_errors: bool = False) -> list[Table]:
        """What `aria play` and `aria bench` print: `table()`, then `compared_table()` where there is one."""
        compared = self.compared_table()
        return [self.table(show_errors)] + ([compared] if compared is not None else [])

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "max_actions": self.max_actions,
            "seeds": list(self.seeds),
            "games": list(self.games),
            "agents": list(self.agents),
            "runs": [asdict(r) for r in self.runs],
            "summary": self.summary(),
            "totals": self.totals(),
            "compared": self.compared(),
        }

    def write_json(self, path: str | Path) -> None:
        atomic.write_json(path, self.to_json())

    def table(self, show_errors: bool = False) -> Table:
        """One table: levels per game and agent, score, actions to each level, resets, ms/action; then
        totals. Over several seeds the score is the best run's (as the toolkit keeps it), with its seed.
        `show_errors`: a column with each row's first error when any run has one (`aria bench`)."""
        n_seeds = len(self.seeds)
        summary = self.summary()
        show_errors = show_errors and any(s["errors"] for s in summary)
        t = Table(
            title=f"{len(self.agents)} agents × {len(self.games)} games × {n_seeds} seed"
            f"{'s' if n_seeds != 1 else ''}, ≤ {self.max_actions} actions",
            title_justify="left",
        )
        t.add_column("game")
        t.add_column("agent", min_width=max(map(len, self.agents), default=5), overflow="fold")
        t.add_column("levels", justify="right")
        t.add_column("won", justify="right")
        t.add_column("score" if n_seeds == 1 else f"score (best of {n_seeds} seeds)", justify="right")
        t.add_column("actions to level 1, 2, … (mean)")
        t.add_column("resets", justify="right")
        t.add_column("ms/action", justify="right")
        if show_errors:
            t.add_column("error", style="red", overflow="fold")
        best: dict[str, float] = {}
        for s in summary:
            best[s["game"]] = max(best.get(s["game"], 0.0), s["mean_levels"])
        last_game = None
        for s in summary:
            if last_game is not None and s["game"] != last_game:
                t.add_section()
            last_game = s["game"]
            t.add_row(*_summary_row(s, s["mean_levels"] == best[s["game"]], n_seeds, show_errors))
        t.add_section()
        for agent, tot in self.totals().items():
            by_seed = list((tot["levels_by_seed"] or {}).values())
            spread = f" ({min(by_seed)}–{max(by_seed)} by seed)" if len(by_seed) > 1 else ""
            t.add_row(
                "[bold]all games[/]",
                agent,
                f"{tot['levels']:.1f} / {tot['win_levels']:.0f}{spread}",
                str(tot["wins"]),
                _total_score(tot),
                "",
                "",
                f"{tot['ms_per_action']:.2f}",
                *([""] if show_errors else []),
            )
        return t


def _score_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over an agent's `summary()` rows of each game's best score (games without baselines left out),
    and how many; the same over the games with a baseline for every level (`score_full_baselines`):
    elsewhere a run that completes more levels than there are baselines scores 0, so more levels can
    score less."""
    scored = [s["score"] for s in rows if s["score"] is not None]
    full = [s["score"] for s in rows if s["score"] is not None and s["baseline_levels"] >= s["win_levels"]]
    return {
        "score": float(np.mean(scored)) if scored else None,
        "scored_games": len(scored),
        "score_full_baselines": float(np.mean(full)) if full else None,
        "full_baseline_games": len(full),
    }


def _total_score(tot: dict[str, Any]) -> str:
    """The all-games score: the mean over scored games, and over those with a baseline for every level
    when that is fewer (where the toolkit's 0 for "more levels than baselines" cannot hide a level)."""
    if tot["score"] is None:
        return fmt_score(None)
    text = f"{fmt_score(tot['score'])} (mean of {tot['scored_games']})"
    if tot["score_full_baselines"] is not None and tot["full_baseline_games"] < tot["scored_games"]:
        text += f"; {fmt_score(tot['score_full_baselines'])} on the {tot['full_baseline_games']} with a baseline per level"
    return text


def _summary_row(s: dict[str, Any], best_levels: bool, n_seeds: int, show_errors: bool) -> list[str]:
    levels = f"{s['mean_levels']:.1f} / {s['win_levels']}"
    if best_levels and s["mean_levels"] > 0:
        levels = f"[bold]{levels}[/]"
    to_level = " · ".join(
        f"{lv['mean_actions']:.0f}" + (f" ({lv['runs']}/{s['runs']})" if lv["runs"] < s["runs"] else "")
        for lv in s["actions_to_level"]
    )
    score = fmt_score(s["score"])
    if n_seeds > 1 and s["score"] is not None:
        score += f" (seed {s['score_seed']})"
    if s["score"] is not None and s["baseline_levels"] < s["win_levels"]:
        score += f" ({s['baseline_levels']} baselines for {s['win_levels']} levels)"  # the toolkit then scores 0
    err = f" [red]{len(s['errors'])} error(s)[/]" if s["errors"] and not show_errors else ""
    row = [s["game"], s["agent"], levels, f"{s['wins']}/{s['runs']}", score, (to_level or "—") + err,
           f"{s['mean_resets']:.1f}", f"{s['ms_per_action']:.2f}"]  # fmt: skip
    if show_errors:
        first = escape(s["errors"][0]) if s["errors"] else ""
        row.append(first + (f" (+{len(s['errors']) - 1} more)" if len(s["errors"]) > 1 else ""))
    return row


StepHook = Callable[[Any, int, Any, Any, dict, RunResult], None]  # (obs, action, x, y, info, result so far)


def play_one(
    session: Any,
    agent: Agent,
    game: str,
    seed: int,
    max_actions: int,
    agent_name: str = "",
    on_step: StepHook | None = None,
    result: RunResult | None = None,
) -> RunResult:
    """Play one game to WIN or `max_actions` actions; a game error ends the run and is recorded.

    `result` is filled in place (pass your own to keep what was played if the run is interrupted);
    `on_step` sees every step (the live view and GIF of `aria play` hang on it)."""
    result = result if result is not None else RunResult(game=game, agent=agent_name or agent.name, seed=seed)
    agent_s = game_s = 0.0
    try:
        t0 = time.perf_counter()
        obs = session.reset()
        game_s += time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 — a broken game is a result, not a crash of the comparison
        result.error = f"{type(e).__name__}: {e}"
        return result
    result.win_levels = int(obs.win_levels)
    info = getattr(session, "info", None)  # the game adapter's GameInfo: the baselines for the score
    if info is not None and not result.baseline_actions:
        result.baseline_actions = [int(b) for b in info.baseline_actions]
    if on_step is not None:
        on_step(obs, None, None, None, {}, result)
    t0 = time.perf_counter()
    agent.reset(
        GameStart(
            game=game,
            win_levels=int(obs.win_levels),
            available_actions=tuple(obs.available_actions),
            seed=seed,
        )
    )
    agent_s += time.perf_counter() - t0
    level_start = 0
    try:
        while result.actions < max_actions and obs.state != "WIN":
            t0 = time.perf_counter()
            action, x, y, info = agent.act(obs)
            t1 = time.perf_counter()
            try:
                obs = session.step(action, x, y)
            except Exception as e:  # noqa: BLE001
                result.error = f"{type(e).__name__}: {e}"
                break
            t2 = time.perf_counter()
            agent.observe(obs)
            agent_s += (t1 - t0) + (time.perf_counter() - t2)
            game_s += t2 - t1
            result.actions += 1
            result.resets += action == 0
            while int(obs.levels_completed) > len(result.actions_to_level):
                result.actions_to_level.append(result.actions)
                result.level_actions.append(result.actions - level_start)
                level_start = result.actions
            if on_step is not None:
                on_step(obs, action, x, y, info, result)
    finally:  # also on Ctrl-C: what was played is counted
        result.levels_completed = len(result.actions_to_level)
        result.won = obs.state == "WIN"
        result.score, result.level_scores = official_score(result.level_actions, result.actions,
                                                           result.baseline_actions)
        n = max(result.actions, 1)
        result.ms_per_action = 1000 * agent_s / n
        result.game_ms_per_action = 1000 * game_s / n
    return result


def game_sessions(
    environments_dir: str | Path | None, online: bool, record_dir: str | Path | None = None
) -> SessionFactory:
    """Sessions of the real game adapter; with `record_dir`, each run is recorded under `record_dir/<game>/`."""

    def factory(game: str, seed: int):
        from aria_cli.games.session import GameSession

        return GameSession(game, environments_dir=environments_dir, online=online, seed=seed,
                           record_dir=Path(record_dir) / game if record_dir is not None else None)  # fmt: skip

    return factory


def compare(
    games: Sequence[str],
    agents: Sequence[str] | Mapping[str, AgentFactory],
    max_actions: int = 1000,
    seeds: Sequence[int] = (0,),
    environments_dir: str | Path | None = None,
    online: bool = False,
    extra_agents: Mapping[str, AgentFactory] | None = None,
    session_factory: SessionFactory | None = None,
    show_progress: bool = True,
    record_dir: str | Path | None = None,
) -> ComparisonResult:
    """Play every game with every agent and seed; see the module docstring.

    `agents` is a list of names (built-in, or keys of `extra_agents`) or a mapping name -> factory.
    `session_factory(game, seed)` replaces the game adapter (tests, or a custom environment).
    `record_dir`: every run is saved as a toolkit recording under `record_dir/<game>/` (as `aria play`
    saves a single run), so runs of a comparison can become training data too.
    """
    if max_actions < 1:
        from aria_cli.common.errors import AriaError

        raise AriaError(f"--max-actions must be at least 1, got {max_actions}")
    factories: dict[str, AgentFactory]
    if isinstance(agents, Mapping):
        factories = dict(agents)
    else:
        factories = {name: (lambda seed, _n=name: make_agent(_n, seed, extra_agents)) for name in agents}
        for name in agents:  # unknown names fail now, before any game is played
            make_agent(name, 0, extra_agents)
    sessions = session_factory or game_sessions(environments_dir, online, record_dir)
    result = ComparisonResult(list(games), list(factories), [int(s) for s in seeds], max_actions, [])
    total = len(games) * len(factories) * len(result.seeds)
    bar = progress(transient=True) if show_progress else None
    task = bar.add_task("comparing", total=total) if bar else None
    if bar:
        bar.start()
    try:
        for game in games:
            for name, factory in factories.items():
                for seed in result.seeds:
                    if bar:
                        bar.update(task, description=f"{game} · {name} · seed {seed}")
                    session = sessions(game, seed)
                    try:
                        run = play_one(session, factory(seed), game, seed, max_actions, agent_name=name)
                    finally:
                        close = getattr(session, "close", None)
                        if close is not None:
                            close()  # also lands the recording, on Ctrl-C too
                    path = getattr(session, "recording_path", None)
                    run.recording = str(path) if path else None
                    result.runs.append(run)
                    if bar:
                        bar.advance(task)
    finally:
        if bar:
            bar.stop()
    return result
