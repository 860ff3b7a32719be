"""The official score: a hand-checked case, and a real play scored exactly as the toolkit's own scorecard does."""

import json
import tempfile

import numpy as np
import pytest
from arc_agi import Arcade, OperationMode
from arcengine import GameAction
from rich.console import Console
from typer.testing import CliRunner

from aria_cli.agents.base import make_agent
from aria_cli.cli import app
from aria_cli.games.adapter import BUNDLED_ENVIRONMENTS
from aria_cli.play.compare import ComparisonResult, RunResult, game_sessions, play_one
from aria_cli.play.score import best_score, official_score


def test_hand_checked_levels_and_weights():
    # Baselines 10, 20, 30. Level 1 in 20 actions: (10/20)^2*100 = 25. Level 2 in 10: (20/10)^2*100 = 400,
    # capped at 115. Level 3 not completed (the other 70 actions): 0. Weights 1, 2, 3:
    # (25*1 + 115*2 + 0*3) / 6 = 42.5.
    score, levels = official_score(level_actions=[20, 10], actions=100, baseline_actions=[10, 20, 30])
    assert levels == [25.0, 115.0, 0.0]
    assert score == pytest.approx(42.5)


def test_the_calculators_ceiling_of_completed_weight():
    # Level 1 of 2 at 115 weighs 1 of 3: 115/3 = 38.3, but the toolkit caps a game at the completed weight's
    # share of 100: 1/3 * 100 = 33.3.
    score, levels = official_score(level_actions=[1], actions=1, baseline_actions=[10, 10])
    assert levels == [115.0, 0.0]
    assert score == pytest.approx(100 / 3)


def test_no_baselines_no_score_and_best_of_seeds():
    assert official_score([5], 9, []) == (None, [])
    assert best_score([None, 3.0, 7.5, 7.5]) == (7.5, 2)
    assert best_score([None]) == (None, None)


@pytest.mark.parametrize("game,actions", [("qmaz", 300), ("qtgl", 200)])
def test_a_real_play_scores_as_the_toolkits_own_scorecard(game, actions):
    """Play a bundled game with the explorer (RESETs included), replay the same actions through a bare
    toolkit Arcade and read its scorecard: the two scores must be the same number."""
    played = []
    session = game_sessions(None, False)(game, 0)
    run = play_one(session, make_agent("explore", 0), game, 0, actions,
                   on_step=lambda o, a, x, y, i, r: a is not None and played.append((a, x, y)))  # fmt: skip
    session.close()
    assert run.levels_completed >= 1 and run.resets >= 1  # a case where levels and RESETs both matter
    arcade = Arcade(operation_mode=OperationMode.OFFLINE, environments_dir=str(BUNDLED_ENVIRONMENTS),
                    recordings_dir=tempfile.mkdtemp())  # fmt: skip
    env = arcade.make(game, seed=0)
    env.step(GameAction.RESET)
    for a, x, y in played:
        env.step(GameAction.from_id(a), {"x": x, "y": y} if x is not None else None)
    toolkit = arcade.get_scorecard().environments[0]
    assert run.score == pytest.approx(toolkit.score) and run.score > 0
    assert run.level_scores == pytest.approx(max(toolkit.runs, key=lambda r: r.actions).level_scores)


def test_aria_play_json_and_comparison_show_the_score(tmp_path):
    runner = CliRunner()
    out = tmp_path / "one.json"
    r = runner.invoke(app, ["play", "qmaz", "--agent", "explore", "--max-actions", "60", "--render", "none",
                            "--no-record", "--json", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["score"] == pytest.approx(official_score(data["level_actions"], 60, data["baseline_actions"])[0])
    assert len(data["level_scores"]) == 5 and "score" in r.output
    cmp = tmp_path / "cmp.json"
    r = runner.invoke(app, ["play", "qmaz", "--agent", "explore", "--seed", "0", "--seed", "1", "--max-actions", "60",
                            "--no-record", "--json", str(cmp)], env={"COLUMNS": "200"})  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads(cmp.read_text())
    best = max(x["score"] for x in data["runs"])
    assert data["summary"][0]["score"] == best and data["totals"]["explore"]["score"] == best
    assert "best of 2 seeds" in r.output


def test_totals_also_score_the_games_with_a_baseline_for_every_level():
    """A game with fewer baselines than levels scores 0 once a run completes more levels than it has
    baselines (the toolkit's rule), so the totals also give the mean over the fully baselined games."""
    def run(game, seed, level_actions, baselines, win_levels):
        score = official_score(level_actions, 100, baselines)[0]
        return RunResult(game=game, agent="a", seed=seed, levels_completed=len(level_actions), win_levels=win_levels,
                         actions=100, level_actions=level_actions, actions_to_level=list(np.cumsum(level_actions)),
                         baseline_actions=baselines, score=score)  # fmt: skip
    runs = [
        run("full", 0, [10], [10, 10], 2),  # level 1 at its baseline: 100 x 1/3 of the weight
        run("full", 1, [], [10, 10], 2),
        run("short", 0, [10, 10], [10], 2),  # both levels won, one baseline: 0
        run("short", 1, [10], [10], 2),  # one level won: 100
        run("none", 0, [5], [], 1),  # no baselines: not scored
    ]
    result = ComparisonResult(games=["full", "short", "none"], agents=["a"], seeds=[0, 1], max_actions=100, runs=runs)
    tot = result.totals()["a"]
    full = official_score([10], 100, [10, 10])[0]
    assert tot["scored_games"] == 2 and tot["score"] == pytest.approx((full + 100) / 2)
    assert tot["full_baseline_games"] == 1 and tot["score_full_baselines"] == pytest.approx(full)
    console = Console(width=220, record=True)
    console.print(result.table())
    assert f"{full:.2f} on the 1 with a baseline per level" in console.export_text()
