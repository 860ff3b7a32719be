"""Agents compared on the same games: the ratio and difference of their levels, with a bootstrap interval
that resamples the games and their seeds (`ComparisonResult.levels_compared`). The runs are built by
hand: what is checked is the arithmetic on known level counts, not play."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from aria_cli.play.compare import ComparisonResult, RunResult


def result(levels: dict[str, list[list[int]]]) -> ComparisonResult:
    """levels[agent][game][seed] -> a comparison of those runs."""
    agents = list(levels)
    n_games, n_seeds = len(levels[agents[0]]), len(levels[agents[0]][0])
    games = [f"g{i:02d}" for i in range(n_games)]
    def run(agent, game, seed, n):  # each level one action, as a run that played them would show
        return RunResult(game=game, agent=agent, seed=seed, levels_completed=n, win_levels=9, actions=n,
                         level_actions=[1] * n, actions_to_level=list(range(1, n + 1)))  # fmt: skip

    runs = [run(a, g, s, int(levels[a][i][s])) for a in agents for i, g in enumerate(games) for s in range(n_seeds)]
    return ComparisonResult(games=games, agents=agents, seeds=list(range(n_seeds)), max_actions=10, runs=runs)


def test_one_level_more_on_every_game_is_ahead_beyond_the_interval():
    base = np.random.default_rng(0).integers(1, 4, size=20)
    [c] = result({"a": [[b + 1, b + 1] for b in base], "b": [[b, b] for b in base]}).compared()
    assert c["agent"] == "a" and c["against"] == "b"
    assert c["levels"] == base.sum() + 20 and c["against_levels"] == base.sum()
    assert c["ratio"] == (base.sum() + 20) / base.sum()
    assert c["difference"] == 20 and c["difference_interval"] == [20.0, 20.0]  # every draw of games gains 1 each
    assert c["ratio_interval"][0] > 1.0
    assert (c["games_more"], c["games_fewer"], c["games_equal"]) == (20, 0, 0)


def test_a_difference_that_one_game_carries_is_not_beyond_the_interval():
    """Equal on 19 games, five levels more on one: about a third of the draws leave that game out."""
    levels = [[2, 2]] * 20
    [c] = result({"a": [[7, 7]] + levels[1:], "b": levels}).compared()
    assert c["ratio"] > 1.0 and c["ratio_interval"][0] == 1.0 and c["difference_interval"][0] == 0.0
    assert (c["games_more"], c["games_fewer"], c["games_equal"]) == (1, 0, 19)


def test_seeds_that_disagree_widen_the_interval_around_an_even_result():
    """The same mean per game, but one agent's two seeds give 0 and 4 levels where the other's give 2 and 2."""
    [c] = result({"a": [[0, 4]] * 10, "b": [[2, 2]] * 10}).compared()
    lo, hi = c["difference_interval"]
    assert c["difference"] == 0 and lo < 0 < hi


def test_each_agent_is_compared_with_those_after_it_and_shown_and_saved():
    r = result({"wm": [[3, 3], [1, 2]], "explore": [[2, 2], [1, 1]], "random": [[0, 0], [0, 0]]})
    pairs = [(c["agent"], c["against"]) for c in r.compared()]
    assert pairs == [("wm", "explore"), ("wm", "random"), ("explore", "random")]
    assert [c["ratio"] for c in r.compared()][1] is None  # random completed nothing: no ratio, a difference
    assert r.to_json()["compared"] == r.compared()
    console = Console(width=200, record=True)
    for table in r.tables():
        console.print(table)
    text = console.export_text()
    assert "agent against agent" in text and "1.50x" in text and "+3.0" in text and "2/0/0" in text


def test_incomplete_runs_or_a_single_game_are_not_compared():
    r = result({"a": [[1, 2], [3, 4]], "b": [[1, 1], [1, 1]]})
    r.runs = [x for x in r.runs if not (x.agent == "b" and x.seed == 1 and x.game == "g01")]
    assert r.compared() == [] and r.compared_table() is None and len(r.tables()) == 1
    assert result({"a": [[1]], "b": [[0]]}).compared() == []
