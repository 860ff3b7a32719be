"""The game adapter: finds games (your folder first, then bundled), runs them offline through the real
arc-agi toolkit, refuses bad actions, and turns every failure into one line that says what to do."""

import json
import shutil
import socket

import numpy as np
import pytest

from aria_cli.common.errors import GameError
from aria_cli.games.adapter import BUNDLED_ENVIRONMENTS, describe_actions, list_games
from aria_cli.games.session import GameSession

BUNDLED = ("qmaz", "qmix", "qpsh", "qtgl")


def _user_copy_of_qmaz(root, title="My Maze"):
    """An environments folder holding a copy of the bundled maze under a different title."""
    dst = root / "qmaz" / "v1"
    shutil.copytree(BUNDLED_ENVIRONMENTS / "qmaz" / "v1", dst)
    meta = json.loads((dst / "metadata.json").read_text())
    meta["title"] = title
    (dst / "metadata.json").write_text(json.dumps(meta))
    return root


def _broken_game(root):
    d = root / "qbad" / "v1"
    d.mkdir(parents=True)
    (d / "metadata.json").write_text(json.dumps({"game_id": "qbad-v1", "title": "Broken", "class_name": "Qbad"}))
    (d / "qbad.py").write_text(
        "from arcengine import ARCBaseGame\n\nclass Qbad(ARCBaseGame):\n    def __init__(self, seed=0):\n"
        "        x = undefined_name\n"
    )
    return d / "qbad.py"


def test_bundled_games_are_listed_with_levels_and_action_sets():
    games = {g.game: g for g in list_games()}
    assert set(BUNDLED) <= set(games)
    assert games["qmaz"].actions == (1, 2, 3, 4) and games["qtgl"].actions == (6,)
    assert games["qmix"].actions == (1, 2, 3, 4, 5, 6)
    for g in BUNDLED:
        info = games[g]
        assert info.source == "bundled" and info.game_id == f"{g}-v1" and info.error is None
        assert info.levels >= 5 and len(info.baseline_actions) == info.levels


def test_action_sets_read_like_the_toolkit_names():
    assert describe_actions((1, 2, 3, 4)) == "ACTION1-4"
    assert describe_actions((6,)) == "ACTION6 (click)"
    assert describe_actions((1, 2, 3, 4, 5, 6)) == "ACTION1-5 + click"


def test_offline_session_never_touches_the_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the offline path opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with GameSession("qmaz") as s:
        obs = s.step(1)
    assert obs.frame.shape == (64, 64) and obs.frame.dtype == np.uint8


def test_observation_reports_state_levels_and_actions():
    with GameSession("qmix", seed=2) as s:
        obs = s.last
        assert obs.state == "NOT_FINISHED" and obs.levels_completed == 0 and obs.win_levels == 5
        assert obs.available_actions == (1, 2, 3, 4, 5, 6)
        assert len(obs.frames) >= 1 and obs.frames[-1] is obs.frame
        assert int(obs.frame.max()) <= 15


def test_user_folder_is_searched_before_the_bundled_games(tmp_path):
    envs = _user_copy_of_qmaz(tmp_path / "envs")
    with GameSession("qmaz", environments_dir=envs) as s:
        assert s.info.title == "My Maze" and s.info.source == str(envs)
    titles = [(g.title, g.source) for g in list_games(envs) if g.game == "qmaz"]
    assert titles == [("My Maze", str(envs)), ("Key Maze", "bundled")]


def test_environments_dir_variable_is_the_default_user_folder(tmp_path, monkeypatch):
    envs = _user_copy_of_qmaz(tmp_path / "envs", title="From Env")
    monkeypatch.setenv("ENVIRONMENTS_DIR", str(envs))
    with GameSession("qmaz") as s:
        assert s.info.title == "From Env"


def test_missing_environments_dir_is_one_line_naming_it(tmp_path):
    with pytest.raises(GameError, match="--environments-dir .*missing: no such folder") as e:
        GameSession("qmaz", environments_dir=tmp_path / "missing")
    assert "\n" not in str(e.value)


def test_unknown_game_is_one_line_listing_ids_and_how_to_add_a_folder():
    with pytest.raises(GameError) as e:
        GameSession("zzzz")
    msg = str(e.value)
    assert "\n" not in msg and "unknown game 'zzzz'" in msg
    assert "qmaz, qmix, qpsh, qtgl" in msg and "--environments-dir" in msg and "--online" in msg


def test_unknown_version_lists_the_versions_there_are():
    with pytest.raises(GameError, match="no version 'v9'; available: qmaz-v1"):
        GameSession("qmaz-v9")


def test_game_file_that_fails_to_load_names_its_path_line_and_error(tmp_path):
    game_file = _broken_game(tmp_path / "envs")
    with pytest.raises(GameError) as e:
        GameSession("qbad", environments_dir=tmp_path / "envs")
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{game_file}:5: NameError" in msg and "undefined_name" in msg


def test_listing_shows_a_broken_game_instead_of_failing(tmp_path):
    game_file = _broken_game(tmp_path / "envs")
    bad = [g for g in list_games(tmp_path / "envs") if g.game == "qbad"]
    assert len(bad) == 1 and str(game_file) in bad[0].error and bad[0].actions == ()


def test_action_outside_available_actions_is_refused():
    with GameSession("qtgl") as s:
        with pytest.raises(GameError, match="ACTION1 is not available here"):
            s.step(1)
    with GameSession("qmaz") as s:
        with pytest.raises(GameError, match="ACTION6 is not available"):
            s.step(6, 10, 10)


def test_click_needs_coordinates_inside_the_frame():
    with GameSession("qtgl") as s:
        for x, y in ((None, None), (64, 3), (3, -1)):
            with pytest.raises(GameError, match="needs x and y in 0-63"):
                s.step(6, x, y)
        obs = s.step(6, 0, 0)
        assert obs.state == "NOT_FINISHED"


def test_coordinates_on_a_simple_action_are_refused():
    with GameSession("qmaz") as s, pytest.raises(GameError, match="takes no coordinates"):
        s.step(1, 5, 5)


def test_same_seed_gives_the_same_game_and_other_seeds_other_layouts():
    def play(seed):
        with GameSession("qpsh", seed=seed) as s:
            return [s.last.frame] + [s.step(a).frame for a in (1, 4, 2, 3, 4)]

    a, b, c = play(5), play(5), play(6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_running_out_of_budget_is_game_over_and_reset_restarts_the_level():
    with GameSession("qmaz", seed=1) as s:
        game = s.engine_game
        r, c = game.player
        # Walk into a wall: it costs a step but goes nowhere.
        blocked = next(a for a, (dr, dc) in {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}.items() if game.grid[r + dr][c + dc] == "#")
        for _ in range(game.budget):
            obs = s.step(blocked)
        assert obs.state == "GAME_OVER"
        with pytest.raises(GameError, match="game is over"):
            s.step(blocked)
        obs = s.reset()
        assert obs.state == "NOT_FINISHED" and game.budget_left == game.budget and game.player == (r, c)


def test_online_without_network_says_to_use_environments_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("ARC_BASE_URL", "http://127.0.0.1:9")  # nothing listens there: refused at once
    for key in (None, "some-key"):
        if key is None:
            monkeypatch.delenv("ARC_API_KEY", raising=False)
        else:
            monkeypatch.setenv("ARC_API_KEY", key)
        with pytest.raises(GameError) as e:
            GameSession("ls20", online=True, environments_dir=tmp_path)
        msg = str(e.value)
        assert "\n" not in msg and "cannot reach the ARC API" in msg and "--environments-dir" in msg


def test_recording_is_the_toolkits_own_file_moved_into_record_dir(tmp_path):
    out = tmp_path / "rec"
    with GameSession("qtgl", seed=3, record_dir=out) as s:
        s.step(6, 20, 20)
        s.step(6, 30, 30)
    files = list(out.iterdir())
    assert files == [s.recording_path] and s.recording_path.name.startswith("qtgl-v1-")
    lines = [json.loads(line) for line in s.recording_path.read_text().splitlines()]
    assert len(lines) == 3  # the toolkit's initial RESET, then one line per action
    first, last = lines[0]["data"], lines[-1]["data"]
    assert first["action_input"]["id"] == "RESET" and first["full_reset"] is True
    assert last["action_input"] == {"id": "ACTION6", "data": {"x": 30, "y": 30}, "reasoning": None}
    assert last["guid"] in s.recording_path.name and len(last["frame"][0]) == 64


def test_an_interrupted_session_leaves_no_partial_recording(tmp_path):
    with pytest.raises(KeyboardInterrupt), GameSession("qmaz", record_dir=tmp_path) as s:
        s.step(1)
        raise KeyboardInterrupt
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def _unparsable_metadata_game(root, name="qjsn"):
    d = root / name / "v1"
    d.mkdir(parents=True)
    (d / "metadata.json").write_text('{"game_id": "qjsn-v1", "title": ')  # cut short
    (d / f"{name}.py").write_text("x = 1\n")
    return d / "metadata.json"


def test_a_game_whose_metadata_does_not_parse_is_listed_with_its_error(tmp_path):
    # The toolkit skips such a folder with a log line only; `aria games` shows it, as it shows a broken .py.
    meta = _unparsable_metadata_game(tmp_path / "envs")
    listed = {g.game: g for g in list_games(tmp_path / "envs")}
    assert str(meta) in listed["qjsn"].error and "Invalid JSON" in listed["qjsn"].error
    assert listed["qjsn"].version == "v1" and "\n" not in listed["qjsn"].error
    assert listed["qmaz"].error is None  # the rest of the listing is unaffected


def test_playing_the_unparsable_game_names_its_metadata_not_unknown_game(tmp_path):
    meta = _unparsable_metadata_game(tmp_path / "envs")
    with pytest.raises(GameError) as e:
        GameSession("qjsn", environments_dir=tmp_path / "envs")
    assert str(e.value).startswith(f"cannot load game qjsn: {meta} does not parse (") and "\n" not in str(e.value)


def test_another_broken_game_in_the_same_folder_is_blamed_for_its_own_error(tmp_path):
    # Scanning the folder logs qjsn's metadata error with its exception; it must not explain qbad's failure.
    _unparsable_metadata_game(tmp_path / "envs")
    game_file = _broken_game(tmp_path / "envs")
    with pytest.raises(GameError) as e:
        GameSession("qbad", environments_dir=tmp_path / "envs")
    assert f"{game_file}:5: NameError" in str(e.value) and "qjsn" not in str(e.value)
