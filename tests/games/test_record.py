"""`aria record` and `aria games`: demonstrator episodes become toolkit recordings that the reader and
`aria inspect-tokens` read; the games table lists what can be played."""

import json

from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.data.recordings import read_recording
from aria_cli.games.record import record_game

runner = CliRunner()


def test_recordings_parse_and_end_in_a_win(tmp_path):
    paths = record_game("qtgl", episodes=2, noise=0.2, seed=7, out_dir=tmp_path, quiet=True)
    assert len(paths) == 2 and all(p.parent == tmp_path for p in paths)
    for p in paths:
        rec = read_recording(p)
        first, last = rec.steps[0], rec.steps[-1]
        assert rec.game == "qtgl" and first.action == 0 and first.full_reset
        assert last.state == "WIN" and last.levels_completed == last.win_levels == 5
        assert rec.episode().level_up.sum() == 5
        assert all(s.action in (0, 6) for s in rec.steps)


def test_episodes_differ_from_each_other(tmp_path):
    paths = record_game("qmaz", episodes=2, noise=0.0, out_dir=tmp_path, quiet=True)
    a, b = (read_recording(p).episode() for p in paths)
    assert a.frames.shape != b.frames.shape or (a.frames != b.frames).any()


def test_default_output_folder_is_recordings_slash_game(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = record_game("qmix", episodes=1, quiet=True)
    assert paths[0].parent == tmp_path.joinpath("recordings", "qmix").relative_to(tmp_path)
    assert (tmp_path / paths[0]).exists()


def test_same_seed_records_the_same_play_under_the_same_name(tmp_path):
    def record(out):
        (p,) = record_game("qpsh", episodes=1, noise=0.2, seed=3, out_dir=out, quiet=True)
        return p.name, [(s.action, s.x, s.y) for s in read_recording(p).steps]

    assert record(tmp_path / "a") == record(tmp_path / "b")
    # The name, and so the train/val split that hashes it, comes from what was played, not a guid.
    assert record(tmp_path / "a")[0] == "qpsh-v1-seed3-noise0.2.jsonl"
    assert len(list((tmp_path / "a").iterdir())) == 1  # recording it again replaced the file


def test_aria_record_then_inspect_tokens_shows_the_episode(tmp_path):
    r = runner.invoke(app, ["record", "qmaz", "--episodes", "1", "--noise", "0.1", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    (path,) = tmp_path.glob("qmaz-v1-*.jsonl")
    assert "recorded 1 episodes of qmaz" in r.output
    r = runner.invoke(app, ["inspect-tokens", str(path), "--checkpoints", str(tmp_path / "none")])
    assert r.exit_code == 0, r.output
    assert "qmaz" in r.output and "5 of 5" in r.output and "WIN" in r.output


def test_aria_record_unknown_game_is_one_line(tmp_path):
    r = runner.invoke(app, ["record", "zzzz", "--out", str(tmp_path)])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "unknown game 'zzzz'" in lines[0] and "qmaz" in lines[0]
    assert not list(tmp_path.iterdir())


def test_aria_record_refuses_a_game_it_has_no_demonstrator_for(tmp_path):
    envs = tmp_path / "envs" / "abcd" / "v1"
    envs.mkdir(parents=True)
    (envs / "metadata.json").write_text(json.dumps({"game_id": "abcd-v1", "class_name": "Abcd"}))
    r = runner.invoke(app, ["record", "abcd", "--environments-dir", str(tmp_path / "envs")])
    assert r.exit_code == 1 and "no demonstrator for game 'abcd'" in r.output


def test_aria_games_lists_bundled_games_with_their_action_sets():
    r = runner.invoke(app, ["games"])
    assert r.exit_code == 0, r.output
    for needle in ("qmaz", "qtgl", "qmix", "qpsh", "ACTION1-4", "ACTION6 (click)", "ACTION1-5 + click", "bundled"):
        assert needle in r.output
