"""Reference agents (random, explore) and the comparison runner behind `aria play --agent ...`."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from helpers.explore_games import ColourClicks, CounterMaze, Obs
from rich.console import Console

from aria_cli.agents.base import AGENT_NAMES, Agent, ExploreAgent, GameStart, RandomAgent, make_agent
from aria_cli.common.errors import AriaError
from aria_cli.play.compare import compare, play_one


def toy_sessions(game: str, seed: int):
    return {"maze": CounterMaze, "clicks": lambda: ColourClicks(seed=seed)}[game]()


class StrictGame:
    """Wraps a toy game and fails the test on any action it does not allow."""

    def __init__(self, game):
        self.game = game
        self.last = None

    def reset(self):
        self.last = self.game.reset()
        return self.last

    def step(self, action, x=None, y=None):
        if action != 0:
            assert self.last.state == "NOT_FINISHED", "acted on a finished game without RESET"
            assert action in self.last.available_actions
            if action == 6:
                assert 0 <= x < 64 and 0 <= y < 64
            else:
                assert x is None and y is None
        self.last = self.game.step(action, x, y)
        return self.last


@pytest.mark.parametrize("name", AGENT_NAMES)
@pytest.mark.parametrize("game", ["maze", "clicks"])
def test_agents_take_only_available_actions(name, game):
    run = play_one(StrictGame(toy_sessions(game, 0)), make_agent(name, seed=0), game, 0, max_actions=300)
    assert run.error is None
    assert run.actions > 0


@pytest.mark.parametrize("agent", [RandomAgent(0), ExploreAgent(0)])
def test_agents_reset_on_game_over(agent):
    agent.reset(GameStart(game="toy", win_levels=2, available_actions=(1, 2)))
    action, x, y, _ = agent.act(Obs(np.zeros((64, 64), np.uint8), "GAME_OVER", 0, 2, (1, 2)))
    assert (action, x, y) == (0, None, None)


def test_random_agent_clicks_anywhere_on_the_frame():
    agent = RandomAgent(seed=0)
    obs = Obs(np.zeros((64, 64), np.uint8), "NOT_FINISHED", 0, 1, (6,))
    clicks = {agent.act(obs)[1:3] for _ in range(500)}
    xs, ys = zip(*clicks, strict=True)
    assert min(xs) < 4 and max(xs) > 59 and min(ys) < 4 and max(ys) > 59


def test_built_in_agents_follow_the_protocol():
    for name in AGENT_NAMES:
        assert isinstance(make_agent(name), Agent)


def test_unknown_agent_names_the_choices():
    with pytest.raises(AriaError, match="choose from explore, random"):
        make_agent("best")


def test_extra_agents_are_built_by_name():
    agent = make_agent("world-model", seed=4, extra={"world-model": lambda seed: ExploreAgent(seed=seed)})
    assert agent.seed == 4


# ------------------------------------------------------------------------------------- comparison


@pytest.fixture(scope="module")
def toy_comparison():
    return compare(
        ["maze", "clicks"],
        ["explore", "random"],
        max_actions=300,
        seeds=[0, 1],
        session_factory=toy_sessions,
        show_progress=False,
    )


def test_comparison_json_has_one_run_per_game_agent_and_seed(toy_comparison, tmp_path):
    path = tmp_path / "compare.json"
    toy_comparison.write_json(path)
    data = json.loads(path.read_text())
    assert data["schema"] == 2
    assert data["max_actions"] == 300
    assert data["seeds"] == [0, 1]
    assert data["games"] == ["maze", "clicks"]
    assert data["agents"] == ["explore", "random"]
    assert len(data["runs"]) == 8
    assert {(r["game"], r["agent"], r["seed"]) for r in data["runs"]} == {
        (g, a, s) for g in ("maze", "clicks") for a in ("explore", "random") for s in (0, 1)
    }


def test_each_run_has_the_fields_of_aria_play_json(toy_comparison):
    run = toy_comparison.to_json()["runs"][0]
    play_fields = {
        "game",
        "levels_completed",
        "win_levels",
        "actions",
        "level_actions",
        "resets",
        "ms_per_action",
        "won",
    }
    assert play_fields <= run.keys()
    assert {"agent", "seed", "actions_to_level", "game_ms_per_action", "error"} <= run.keys()


def test_actions_to_each_level_add_up(toy_comparison):
    for run in toy_comparison.runs:
        assert len(run.level_actions) == len(run.actions_to_level) == run.levels_completed
        assert list(np.cumsum(run.level_actions)) == run.actions_to_level
        assert run.actions <= 300


def test_comparison_summary_and_totals(toy_comparison):
    data = toy_comparison.to_json()
    assert len(data["summary"]) == 4
    clicks_explore = next(s for s in data["summary"] if s["game"] == "clicks" and s["agent"] == "explore")
    runs = toy_comparison.runs_for("clicks", "explore")
    assert clicks_explore["levels"] == [r.levels_completed for r in runs]
    assert clicks_explore["mean_levels"] == np.mean([r.levels_completed for r in runs])
    assert clicks_explore["wins"] == sum(r.won for r in runs)
    assert set(data["totals"]) == {"explore", "random"}
    assert data["totals"]["explore"]["levels"] > data["totals"]["random"]["levels"]


def test_totals_show_each_seed_apart_once_every_game_ran_it(toy_comparison):
    for agent in ("explore", "random"):
        by_seed = toy_comparison.totals()[agent]["levels_by_seed"]
        expect = {str(s): sum(r.levels_completed for r in toy_comparison.runs if r.agent == agent and r.seed == s)
                  for s in (0, 1)}  # fmt: skip
        assert by_seed == expect
        assert sum(by_seed.values()) / 2 == pytest.approx(toy_comparison.totals()[agent]["levels"])
    low, high = sorted(toy_comparison.totals()["explore"]["levels_by_seed"].values())
    console = Console(width=160, record=True)
    console.print(toy_comparison.table())
    assert f"({low}–{high} by seed)" in console.export_text()
    # A run missing (a bench still going): no per-seed sums rather than a partial one.
    partial = dataclasses.replace(toy_comparison, runs=toy_comparison.runs[:-1])
    dropped = toy_comparison.runs[-1].agent
    assert partial.totals()[dropped]["levels_by_seed"] is None


def test_comparison_table_lists_every_game_and_agent(toy_comparison):
    console = Console(width=140, record=True)
    console.print(toy_comparison.table())
    text = console.export_text()
    for word in ("maze", "clicks", "explore", "random", "all games", "ms/action"):
        assert word in text


def test_a_game_error_ends_that_run_and_is_recorded():
    class Broken(CounterMaze):
        def apply(self, action, x, y):
            if self.steps > 5:
                raise RuntimeError("boom")
            return super().apply(action, x, y)

    result = compare(
        ["broken", "clicks"],
        ["random"],
        max_actions=50,
        session_factory=lambda g, s: Broken() if g == "broken" else ColourClicks(),
        show_progress=False,
    )
    broken, fine = result.runs
    assert broken.error == "RuntimeError: boom"
    assert broken.actions == 5
    assert fine.error is None and fine.actions == 50


def test_comparison_rejects_unknown_agents_before_playing():
    with pytest.raises(AriaError, match="unknown agent"):
        compare(["maze"], ["explore", "nope"], session_factory=toy_sessions, show_progress=False)


# ----------------------------------------------------------------------------------- bundled games


def test_explore_agent_plays_a_bundled_game_through_the_toolkit():
    result = compare(["qmaz"], ["explore"], max_actions=300, seeds=[0], show_progress=False)
    (run,) = result.runs
    assert run.error is None
    assert run.actions == 300 or run.won
    assert run.levels_completed >= 1
    assert run.ms_per_action < 30
