"""`aria distill`: a run with detours becomes the shortest observed route per level, replayed through the
real game (the bundled qmaz maze, whose demonstrator plans the shortest walk, so the answer is known)."""

from __future__ import annotations

import json
import random
import tempfile

import orjson
import pytest
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.data.recordings import read_recording
from aria_cli.games import distill as distill_module
from aria_cli.games.distill import distill, seed_of
from aria_cli.games.level_graphs import Attempt, LevelGraphs
from aria_cli.games.planners import MOVES, plan_qmaz
from aria_cli.games.session import GameSession

runner = CliRunner()
BACK = {1: 2, 2: 1, 3: 4, 4: 3}


def _wander(game) -> list[int]:
    """Moves from where the player stands that end where it started: bumps into walls (no-ops) and
    out-and-back steps onto plain floor (loops)."""
    acts = []
    r, c = game.player
    for a, (dr, dc) in MOVES.items():
        cell = game.grid[r + dr][c + dc] if 0 <= r + dr < len(game.grid) and 0 <= c + dc < len(game.grid[0]) else "#"
        if cell == "#":
            acts.append(a)
        elif cell == ".":
            acts += [a, BACK[a]]
    return acts


def _record_detours(out_dir, levels: int) -> tuple:
    """Play qmaz (seed 0) with detours around the demonstrator's shortest line: per level a dead-end
    attempt and a RESET, then the line with a loop and wall bumps at its second state. (Two levels give
    the volatile mask enough transitions to learn the step-budget bar, as the explorer would; before
    that, states differ by the bar and no loop closes.)"""
    plans = []
    with GameSession("qmaz", seed=0, record_dir=out_dir) as s:
        game = s.engine_game
        for level in range(levels):
            plan = plan_qmaz(game, random.Random(0))
            plans.append(plan)
            dead_end = [a for a, _, _ in plan[:2]] + _wander(game)[:3]
            for a in dead_end:
                s.step(a)
            assert s.last.levels_completed == level  # the detour itself must not finish the level
            s.step(0)
            s.step(plan[0][0])
            for a in _wander(game):
                assert s.step(a).levels_completed == level and not s.last.done
            for a, _, _ in plan[1:]:
                s.step(a)
            assert s.last.levels_completed == level + 1
    return s.recording_path, [len(p) for p in plans]


def test_detours_distil_to_the_shortest_route_whose_replay_wins(tmp_path):
    run, shortest = _record_detours(tmp_path / "runs", levels=2)
    [r] = distill([run], tmp_path / "out")
    assert [row.run_actions > n for row, n in zip(r.levels, shortest, strict=True)] == [True, True]
    assert [row.actions for row in r.levels] == shortest
    assert all(row.won for row in r.levels) and r.levels[0].method == "shortest"
    assert r.output == tmp_path / "out" / "qmaz" / f"{run.stem}-distilled.jsonl"

    demo = read_recording(r.output)
    assert demo.steps[0].action == 0 and len(demo.steps) == 1 + sum(shortest)
    assert demo.episode().level_up.sum() == 2
    # The demonstration is a genuine recording: its actions win both levels on a fresh game.
    with GameSession("qmaz", seed=0) as s:
        for step in demo.steps[1:]:
            s.step(step.action, step.x, step.y)
        assert s.last.levels_completed == 2


def test_a_distill_stopped_mid_replay_leaves_no_recording_anywhere(tmp_path, monkeypatch):
    """Ctrl-C while the second level replays: neither the output folder nor the temporary folder keeps a
    recording of the replay in progress. (The interrupt is raised from a wrapped `_play_level`: a real
    signal could land anywhere, and the test needs it where replay sessions are open.)"""
    run, _ = _record_detours(tmp_path / "runs", levels=2)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    real, calls = distill_module._play_level, []

    def play_then_stop(session, acts, level):
        calls.append(level)
        if level == 1:
            raise KeyboardInterrupt
        return real(session, acts, level)

    monkeypatch.setattr(distill_module, "_play_level", play_then_stop)
    with pytest.raises(KeyboardInterrupt):
        distill([run], tmp_path / "out")
    assert 1 in calls and not list((tmp_path / "tmp").iterdir())
    assert not list((tmp_path / "out").rglob("*.jsonl"))


def test_cli_prints_a_table_per_recording(tmp_path):
    run, shortest = _record_detours(tmp_path / "runs", levels=2)
    res = runner.invoke(app, ["distill", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                              "--json", str(tmp_path / "d.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert run.name in res.output and "won" in res.output and "distilled 1 of 1" in res.output
    row = next(line for line in res.output.splitlines() if line.startswith("│ 1 "))
    assert [c.strip() for c in row.split("│")[3:6]] == [str(shortest[0]), "shortest", "won"]
    [summary] = json.loads((tmp_path / "d.json").read_text())
    assert [(lv["level"], lv["actions"], lv["won"]) for lv in summary["levels"]] == [(1, shortest[0], True), (2, shortest[1], True)]
    assert summary["output"] == str(tmp_path / "out" / "qmaz" / f"{run.stem}-distilled.jsonl")


def test_a_run_that_completes_no_level_writes_nothing(tmp_path):
    with GameSession("qmaz", seed=0, record_dir=tmp_path / "runs") as s:
        for a in _wander(s.engine_game):
            s.step(a)
    res = runner.invoke(app, ["distill", str(s.recording_path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1
    assert "completed no level: nothing to distill" in res.output and "nothing distilled" in res.output
    assert not list(tmp_path.glob("out/**/*.jsonl"))


def test_a_replay_that_does_not_win_is_never_written(tmp_path):
    run, _ = _record_detours(tmp_path / "runs", levels=1)
    [r] = distill([run], tmp_path / "out", seed=1)  # another maze: nothing the run saw wins it
    assert r.output is None and not r.levels[0].won
    assert "never seen" in r.levels[0].note
    assert not list(tmp_path.glob("out/**/*.jsonl"))


def test_bad_input_is_one_line_naming_the_file(tmp_path):
    run, _ = _record_detours(tmp_path / "runs", levels=1)
    lines = run.read_bytes().splitlines(keepends=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(lines[0] + b"{not json\n" + b"".join(lines[2:]))
    res = runner.invoke(app, ["distill", str(run), str(bad), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    [line] = res.output.strip().splitlines()
    assert line.startswith(f"error: {bad}:2: not valid JSON")
    assert not (tmp_path / "out").exists()  # checked before anything is replayed

    other = tmp_path / "other.jsonl"
    obj = orjson.loads(lines[0])
    obj["data"]["game_id"] = "zzzz-v1"
    other.write_bytes(orjson.dumps(obj) + b"\n")
    res = runner.invoke(app, ["distill", str(other), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert f"{other}: unknown game 'zzzz-v1'" in res.output

    res = runner.invoke(app, ["distill", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1 and "missing.jsonl: no such file or folder" in res.output


def test_loop_erasure_cuts_every_return_to_a_frame():
    # frames 0 -> 1 -> 2 -> 1 -> 3 -> 0 -> 4, then the level-up action
    attempt = Attempt(level=0, frames=[0, 1, 2, 1, 3, 0, 4], actions=[(1, -1, -1), (2, -1, -1), (3, -1, -1),
                      (4, -1, -1), (1, -1, -1), (2, -1, -1), (5, -1, -1)])  # fmt: skip
    assert LevelGraphs.loop_erased(attempt) == [(2, None, None), (5, None, None)]


def test_seed_comes_from_the_option_then_the_file_name(tmp_path):
    assert seed_of(tmp_path / "qmaz-v1-seed7-noise0.05.jsonl", None) == 7
    assert seed_of(tmp_path / "qmaz-v1-seed7-noise0.05.jsonl", 3) == 3
    assert seed_of(tmp_path / "qmaz-v1-1234.jsonl", None) == 0


def test_a_route_that_diverges_on_replay_falls_back_to_the_runs_own_attempt(tmp_path):
    # Hidden state looks like this in a recording: one screen, two game states. Here the frame after the
    # dead end's first action is swapped for the one before the winning move, so the graph holds a
    # two-action "route" that the real game does not follow.
    run, _ = _record_detours(tmp_path / "runs", levels=1)
    lines = [orjson.loads(line) for line in run.read_bytes().splitlines()]
    lines[1]["data"]["frame"] = lines[-2]["data"]["frame"]
    forged = tmp_path / "forged.jsonl"
    forged.write_bytes(b"".join(orjson.dumps(obj) + b"\n" for obj in lines))
    attempt = len(lines) - 1 - next(i for i in range(len(lines) - 1, 0, -1) if lines[i]["data"]["action_input"]["id"] == "RESET")

    rec = read_recording(forged)
    assert len(LevelGraphs(rec).shortest(0, rec.steps[0].frame)) == 2  # the forged route, tried first

    [r] = distill([forged], tmp_path / "out")
    [row] = r.levels
    assert row.won and row.method == "run's attempt, loop-erased" and row.actions == attempt
    assert row.note == "did not win on replay: shortest (2)"
    demo = read_recording(r.output)
    assert len(demo.steps) == 1 + attempt and demo.steps[-1].levels_completed == 1  # no trace of the failed try
