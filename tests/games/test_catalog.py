"""The bundled games, played through the real toolkit: the demonstrators win every level, with and
without noise; frames look like ARC frames; budgets end levels; seeds make different games."""

import json
import random

import numpy as np
import pytest

from aria_cli.common.errors import GameError
from aria_cli.games.adapter import BUNDLED_ENVIRONMENTS
from aria_cli.games.demonstrators import baseline_actions, play_episode
from aria_cli.games.planners import planner_for
from aria_cli.games.session import GameSession

GAMES = ("qmaz", "qtgl", "qmix", "qpsh")
HUD_TOP = 56  # every bundled game keeps rows 56-63 for its HUD strip


@pytest.mark.parametrize("game", GAMES)
def test_demonstrator_wins_every_level(game):
    for seed in (0, 1):
        with GameSession(game, seed=seed) as s:
            res = play_episode(s)
            assert s.last.state == "WIN" and res.won
            assert res.levels == s.last.levels_completed == s.last.win_levels >= 5
            assert res.resets == 0 and res.noisy == 0


@pytest.mark.parametrize("game", GAMES)
def test_noisy_episodes_stray_reset_and_still_win(game):
    resets = noisy = 0
    for seed in range(3):
        with GameSession(game, seed=seed) as s:
            res = play_episode(s, noise=0.3, rng=random.Random(seed))
            assert s.last.state == "WIN" and res.levels == s.last.win_levels
            resets += res.resets
            noisy += res.noisy
    assert noisy > 0 and resets > 0


@pytest.mark.parametrize("game", GAMES)
def test_metadata_baseline_is_the_noiseless_demonstrator_at_seed_0(game):
    meta = json.loads((BUNDLED_ENVIRONMENTS / game / "v1" / "metadata.json").read_text())
    assert meta["game_id"] == f"{game}-v1" and meta["class_name"] == game.capitalize()
    assert baseline_actions(game) == meta["baseline_actions"]


@pytest.mark.parametrize("game", GAMES)
def test_frames_have_a_background_a_hud_strip_and_a_few_colours(game):
    with GameSession(game) as s:
        frame = s.last.frame
    play, hud = frame[:HUD_TOP], frame[HUD_TOP:]
    colours, counts = np.unique(play, return_counts=True)
    assert 3 <= len(colours) <= 8
    assert counts.max() > play.size // 4  # one colour is the background
    assert len(np.unique(hud)) >= 3  # level pips and the budget bar


@pytest.mark.parametrize("game", GAMES)
def test_an_action_changes_the_frame_only_around_where_it_happened(game):
    with GameSession(game, seed=4) as s:
        plan = planner_for(game)(s.engine_game, random.Random(0))
        before = s.last.frame
        after = s.step(*plan[0]).frame
    changed = np.argwhere(before[:HUD_TOP] != after[:HUD_TOP])
    assert len(changed) > 0
    height, width = changed.max(axis=0) - changed.min(axis=0) + 1
    assert height <= 24 and width <= 24  # a few tiles, never the whole board
    assert not np.array_equal(before[HUD_TOP:], after[HUD_TOP:])  # the budget bar moved


@pytest.mark.parametrize("game", GAMES)
def test_seeds_make_different_layouts(game):
    layouts = set()
    for seed in (0, 1, 2):
        with GameSession(game, seed=seed) as s:
            layouts.add(json.dumps(s.engine_game.specs))
    assert len(layouts) == 3


@pytest.mark.parametrize("game", GAMES)
def test_spending_the_whole_budget_loses_the_level(game):
    with GameSession(game, seed=0) as s:
        g = s.engine_game
        idle = {"qtgl": (6, 0, 0), "qmix": (1, None, None)}.get(game)  # background click / cursor at the top
        if idle is None:  # walk into a wall
            r, c = g.player
            moves = {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}
            idle = next((a, None, None) for a, (dr, dc) in moves.items() if g.grid[r + dr][c + dc] == "#")
        for _ in range(g.budget):
            obs = s.step(*idle)
        assert obs.state == "GAME_OVER" and obs.levels_completed == 0
        assert s.reset().state == "NOT_FINISHED"


def test_levels_get_harder():
    with GameSession("qmaz") as s:
        g = s.engine_game
        sizes = [len(spec["rows"]) * len(spec["rows"][0]) for spec in g.specs]
        keys = [sum(ch in "abc" for row in spec["rows"] for ch in row) for spec in g.specs]
    assert sizes == sorted(sizes) and keys == sorted(keys) and keys[-1] >= 2


def test_a_game_without_demonstrator_is_refused_by_name():
    with pytest.raises(GameError, match="no demonstrator for game 'ls20'"):
        planner_for("ls20")


def test_qmix_next_tiles_are_where_the_demonstrator_goes():
    """bench_gate_ceilings' qmix ceiling rests on qmix_next_tiles naming the tiles the demonstrator picks
    among; check it against the demonstrator's own plans, level after level, on real games."""
    from aria_cli.games.planners import MOVES, nearest_tiles, plan_qmix, qmix_next_tiles, qmix_tile_at

    checked = 0
    for seed in range(4):
        with GameSession("qmix", seed=seed) as s:
            game = s.engine_game
            while s.last.state != "WIN":
                ties = qmix_next_tiles(game)
                assert ties and ties == nearest_tiles(ties, tuple(game.cursor))
                plan = plan_qmix(game, random.Random(seed))
                first = next(i for i, (a, _, _) in enumerate(plan) if a in (5, 6))  # arrows, then click or cycle
                if plan[first][0] == 6:
                    tile = qmix_tile_at(game, *plan[first][1:])
                else:
                    tile = tuple(game.cursor)
                    for a, _, _ in plan[:first]:
                        tile = (tile[0] + MOVES[a][0], tile[1] + MOVES[a][1])
                assert tile in ties
                checked += 1
                level = s.last.levels_completed
                while s.last.levels_completed == level and s.last.state != "WIN":
                    s.step(*plan.pop(0))
    assert checked == 4 * 5


def test_aria_games_lists_a_game_whose_metadata_does_not_parse(tmp_path):
    from typer.testing import CliRunner

    from aria_cli.cli import app

    d = tmp_path / "envs" / "qjsn" / "v1"
    d.mkdir(parents=True)
    (d / "metadata.json").write_text("{not json")
    r = CliRunner().invoke(app, ["games", "--environments-dir", str(tmp_path / "envs")], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if "qjsn" in line)
    assert "cannot load" in row and "metadata.json" in row and "Invalid JSON" in row
