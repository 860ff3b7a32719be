"""`aria play`: an agent plays games through the arc-agi toolkit.

    aria play qmaz                                   # the learned agent, live view, recorded to ./runs/
    aria play qmaz --gif qmaz.gif --json qmaz.json --render none
    aria play qmaz qtgl --agent world-model --agent explore --agent random --seed 0 --seed 1

One game with one agent and one seed: a live view (the frame in the ARC palette, level, action with
its probability, ms/action), then a summary table (levels, actions per level beside the game's
baseline with each level's official score and the game's, resets, ms/action); the run is saved as a toolkit recording (so it can become training
data), optionally as a GIF and JSON. Several games, agents or seeds: one comparison table
(aria_cli.play.compare), every run recorded the same way. A game that raises mid-run, or Ctrl-C, ends the
run cleanly: the recording and the summary are still written and the error is named; the command then
exits non-zero (`RunEndedEarly`), 130 for Ctrl-C.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from aria_cli.common import atomic, ui
from aria_cli.common.errors import AriaError
from aria_cli.play.compare import RunResult
from aria_cli.play.score import fmt_score
from aria_cli.vocab import ACTION_NAMES

LEARNED_AGENTS = ("world-model", "policy")
DEFAULT_RUNS_DIR = Path("runs")
INTERRUPTED = "interrupted (Ctrl-C)"


class RunEndedEarly(AriaError):
    """A run (or some runs of a comparison) ended on an error; raised after everything was written."""

    def __init__(self, message: str, result, interrupted: bool = False):
        super().__init__(message)
        self.result = result
        if interrupted:
            self.exit_code = 130


@dataclass
class PlayConfig:
    games: list[str]
    agents: list[str] = field(default_factory=lambda: ["world-model"])
    seeds: list[int] = field(default_factory=lambda: [0])
    checkpoints: Path = Path("checkpoints")
    environments_dir: Path | None = None
    online: bool = False
    max_actions: int = 1000
    render: str = "auto"  # live | none | auto (live on a terminal)
    record: bool = True
    record_dir: Path = DEFAULT_RUNS_DIR
    gif: Path | None = None
    json_out: Path | None = None
    device: str = "auto"
    temperature: float = 0.5
    level_weight: float = 1.0
    lead_p: float = 0.9  # world-model: AgentConfig.lead_p (0: off)
    adapt_every: int = 0  # world-model: learning inside the game (AgentConfig.adapt_every; 0: off)
    adapt_steps: int = 2
    wm_change: int = 0  # world-model: AgentConfig.wm_change_k
    wm_novelty: int = 0  # world-model: AgentConfig.wm_novelty_k
    learn_wins: int = 0  # world-model: AgentConfig.win_tune_steps (0: off)
    force: bool = False  # play with a stale stack (aria_cli.stack), with a warning


@dataclass
class PlayResult(RunResult):
    """A comparison run's fields (aria_cli.play.compare.RunResult) plus what a single `aria play` also keeps."""

    gif: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def agent_factories(cfg: PlayConfig) -> dict:
    """Factories for the learned agents (models load once, on first use)."""
    if not any(a in LEARNED_AGENTS for a in cfg.agents):
        return {}
    from aria_cli.agents.learned import AgentConfig, learned_agent_factories
    from aria_cli.common.devices import resolve_device

    device = resolve_device(cfg.device)
    config = AgentConfig(temperature=cfg.temperature, level_weight=cfg.level_weight, lead_p=cfg.lead_p or None,
                         adapt_every=cfg.adapt_every, adapt_steps=cfg.adapt_steps, wm_change_k=cfg.wm_change,
                         wm_novelty_k=cfg.wm_novelty, win_tune_steps=cfg.learn_wins)
    return learned_agent_factories(cfg.checkpoints, device, config, force=cfg.force)


def _view(game: str, agent: str, obs, last: str, ms: float, actions: int, max_actions: int):
    from aria_cli.common.render import frame_text

    side = Table.grid(padding=(0, 1))
    side.add_row("game", game)
    side.add_row("agent", agent)
    side.add_row("level", f"{obs.levels_completed} of {obs.win_levels}")
    side.add_row("state", obs.state)
    side.add_row("actions", f"{actions} / {max_actions}")
    side.add_row("last", last)
    side.add_row("ms/action", f"{ms:.1f}")
    grid = Table.grid(padding=(0, 2))
    grid.add_row(frame_text(obs.frame), side)
    return Panel(Group(grid), title=f"aria play {game}", expand=False)


def _describe(action: int, x, y, info: dict) -> str:
    s = ACTION_NAMES[action] + (f" ({x},{y})" if x is not None else "")
    if "p_type" in info:
        s += f"  p={info['p_type']:.2f}"
    if "p_level" in info:
        s += f"  P(level)={info['p_level']:.2f}"
    if "mode" in info:
        s += f"  [{info['mode']}]"
    return s


def play_single(cfg: PlayConfig, game: str, agent_name: str, seed: int, factories: dict) -> PlayResult:
    """One game, one agent, one seed: live view, recording, GIF; never loses the run on an error."""
    from aria_cli.agents.base import make_agent
    from aria_cli.common.render import GifWriter
    from aria_cli.play.compare import game_sessions, play_one

    agent = make_agent(agent_name, seed, factories)
    live_wanted = cfg.render == "live" or (cfg.render == "auto" and sys.stdout.isatty())
    session = game_sessions(cfg.environments_dir, cfg.online, cfg.record_dir if cfg.record else None)(game, seed)
    result = PlayResult(game=game, agent=agent_name, seed=seed, baseline_actions=list(session.info.baseline_actions))
    gif = GifWriter(cfg.gif) if cfg.gif else None
    live = Live(console=ui.console, auto_refresh=False, transient=False) if live_wanted else None
    started = time.perf_counter()

    def on_step(obs, action, x, y, info, res) -> None:
        if gif:
            gif.add(obs.frame)
        if live and action is not None:
            ms = 1000 * (time.perf_counter() - started) / max(res.actions, 1)
            live.update(_view(game, agent_name, obs, _describe(action, x, y, info), ms, res.actions,
                              cfg.max_actions), refresh=True)

    try:
        if live:
            live.start()
        play_one(session, agent, game, seed, cfg.max_actions, agent_name, on_step=on_step, result=result)
    except KeyboardInterrupt:
        result.error = INTERRUPTED
    except Exception as e:  # noqa: BLE001 — an agent that breaks mid-run still gets its summary and recording
        result.error = f"{type(e).__name__}: {e}"
    finally:
        if live:
            live.stop()
        session.close()
    result.ms_per_action = round(result.ms_per_action, 2)
    result.recording = str(session.recording_path) if session.recording_path else None
    if gif:
        result.gif = str(gif.write())
    return result


def summary_table(r: PlayResult) -> Table:
    t = Table(title=f"{r.game} · {r.agent} · seed {r.seed}", title_justify="left")
    t.add_column("level")
    t.add_column("actions", justify="right")
    t.add_column("baseline", justify="right")
    t.add_column("score", justify="right")
    for i in range(max(r.win_levels, len(r.level_actions))):
        used = r.level_actions[i] if i < len(r.level_actions) else None
        base = r.baseline_actions[i] if i < len(r.baseline_actions) else None
        t.add_row(
            str(i + 1),
            "[dim]not reached[/]" if used is None else str(used),
            "—" if base is None else str(base),
            fmt_score(r.level_scores[i] if i < len(r.level_scores) else None),
        )
    t.add_section()
    t.add_row("levels", f"[bold]{r.levels_completed} of {r.win_levels}[/]" + (" (won)" if r.won else ""), "")
    t.add_row("actions", str(r.actions), str(sum(r.baseline_actions)) if r.baseline_actions else "—")
    t.add_row("score", "", "", f"[bold]{fmt_score(r.score)}[/]")
    t.add_row("resets", str(r.resets), "")
    t.add_row("ms/action", f"{r.ms_per_action:.1f}", "")
    return t


def play(cfg: PlayConfig):
    """Play as configured: a single run (live view + summary), or a comparison of several."""
    from aria_cli.agents.base import AGENT_NAMES

    if cfg.max_actions < 1:
        raise AriaError(f"--max-actions must be at least 1, got {cfg.max_actions}")
    if cfg.render not in ("live", "none", "auto"):
        raise AriaError(f"--render must be live or none, got {cfg.render!r}")
    known = (*AGENT_NAMES, *LEARNED_AGENTS)
    for a in cfg.agents:
        if a not in known:
            raise AriaError(f"--agent {a!r}: unknown agent; choose from {', '.join(known)}")
    from aria_cli.games.adapter import locate_game

    check_outputs(cfg)
    if not cfg.online:
        for g in cfg.games:
            locate_game(g, cfg.environments_dir)  # unknown games fail before any model loads
    factories = agent_factories(cfg)
    if len(cfg.games) == 1 and len(cfg.agents) == 1 and len(cfg.seeds) == 1:
        r = play_single(cfg, cfg.games[0], cfg.agents[0], cfg.seeds[0], factories)
        ui.console.print(summary_table(r))
        if r.recording:
            ui.console.print(f"recording: {r.recording}")
        if r.gif:
            ui.console.print(f"gif: {r.gif}")
        if cfg.json_out:
            atomic.write_json(cfg.json_out, r.to_json())
            ui.console.print(f"wrote {cfg.json_out}")
        if r.error:
            raise RunEndedEarly(f"{r.game}: the run ended early: {r.error}", r, interrupted=r.error == INTERRUPTED)
        return r
    from aria_cli.play.compare import compare

    result = compare(cfg.games, cfg.agents, max_actions=cfg.max_actions, seeds=cfg.seeds,
                     environments_dir=cfg.environments_dir, online=cfg.online, extra_agents=factories,
                     record_dir=cfg.record_dir if cfg.record else None)  # fmt: skip
    for table in result.tables():
        ui.console.print(table)
    recorded = [r.recording for r in result.runs if r.recording]
    if recorded:
        ui.console.print(f"recordings: {len(recorded)} runs under {cfg.record_dir}/<game>/")
    if cfg.json_out:
        result.write_json(cfg.json_out)
        ui.console.print(f"wrote {cfg.json_out}")
    failed = [r for r in result.runs if r.error]
    if failed:
        first = failed[0]
        raise RunEndedEarly(f"{len(failed)} of {len(result.runs)} runs ended early; the first: {first.game} · "
                            f"{first.agent} · seed {first.seed}: {first.error}", result,
                            interrupted=any(r.error == INTERRUPTED for r in failed))
    return result


def check_outputs(cfg: PlayConfig) -> None:
    """Every output can be written, before a model loads or a game starts."""
    if cfg.json_out is not None:
        atomic.check_writable(cfg.json_out, "--json")
    if cfg.gif is not None:
        atomic.check_writable(cfg.gif, "--gif")
    if cfg.record:
        atomic.check_writable(cfg.record_dir, "--record-dir", folder=True)
