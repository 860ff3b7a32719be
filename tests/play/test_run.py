"""`aria play`: one run's summary, JSON, GIF and recording; a game that breaks mid-run; comparisons."""

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.data.recordings import read_recording

runner = CliRunner()

# A real arcengine game (loaded by the real toolkit from a folder the test writes) that raises on its
# fourth action: the stand-in for a game with a bug.
BROKEN_GAME = '''
from arcengine import ARCBaseGame, Camera, Level, Sprite


class Qbrk(ARCBaseGame):
    def __init__(self, seed: int = 0) -> None:
        level = Level(sprites=[Sprite([[9] * 8] * 8, name="tile", x=8, y=8)])
        super().__init__(game_id="qbrk", levels=[level], camera=Camera(background=5, letter_box=5),
                         available_actions=[1, 2], seed=seed)
        self.moves = 0

    def step(self) -> None:
        self.moves += 1
        if self.moves >= 4:
            raise RuntimeError("the tile fell off the board")
        self.current_level.get_sprites_by_name("tile")[0].move(1, 0)
        self.complete_action()
'''


def broken_environments(root: Path) -> Path:
    d = root / "envs" / "qbrk" / "v1"
    d.mkdir(parents=True)
    (d / "qbrk.py").write_text(BROKEN_GAME)
    (d / "metadata.json").write_text(json.dumps({"game_id": "qbrk-v1", "title": "Broken", "class_name": "Qbrk",
                                                 "baseline_actions": [3]}))
    return root / "envs"


def test_play_writes_summary_json_gif_and_a_recording_the_reader_loads(tmp_path):
    out, gif = tmp_path / "run.json", tmp_path / "run.gif"
    r = runner.invoke(app, ["play", "qtgl", "--agent", "explore", "--max-actions", "40", "--render", "none",
                            "--json", str(out), "--gif", str(gif), "--record-dir", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    for key in ("game", "levels_completed", "win_levels", "actions", "level_actions", "resets", "ms_per_action", "won"):
        assert key in data
    assert data["game"] == "qtgl" and 0 < data["actions"] <= 40 and data["win_levels"] == 5
    assert "levels" in r.output and "baseline" in r.output
    assert Image.open(gif).n_frames == data["actions"] + 1
    rec = read_recording(data["recording"])
    assert rec.game == "qtgl" and len(rec.steps) >= data["actions"]


def test_a_game_that_breaks_mid_run_still_gets_its_summary_recording_and_json(tmp_path):
    envs = broken_environments(tmp_path)
    out = tmp_path / "run.json"
    r = runner.invoke(app, ["play", "qbrk", "--environments-dir", str(envs), "--agent", "random",
                            "--max-actions", "20", "--render", "none", "--json", str(out),
                            "--record-dir", str(tmp_path / "runs")])
    data = json.loads(out.read_text())
    assert 1 <= data["actions"] < 20 and "fell off the board" in data["error"]
    assert "the run ended early" in r.stderr and "fell off the board" in r.stderr
    assert len(read_recording(data["recording"]).steps) >= data["actions"]
    # ... and the command fails: a script must not read a run that broke as a finished one.
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1


def test_a_comparison_with_a_run_that_broke_exits_non_zero_after_writing_everything(tmp_path):
    envs = broken_environments(tmp_path)
    out = tmp_path / "cmp.json"
    r = runner.invoke(app, ["play", "qbrk", "qtgl", "--environments-dir", str(envs), "--agent", "random",
                            "--max-actions", "10", "--json", str(out), "--record-dir", str(tmp_path / "runs")])
    assert r.exit_code == 1 and "1 of 2 runs ended early" in r.stderr and "qbrk" in r.stderr
    runs = {x["game"]: x for x in json.loads(out.read_text())["runs"]}
    assert "fell off the board" in runs["qbrk"]["error"] and runs["qtgl"]["error"] is None
    assert all(Path(x["recording"]).exists() for x in runs.values())


def test_several_agents_print_one_comparison_and_its_json_and_record_every_run(tmp_path):
    out, runs = tmp_path / "cmp.json", tmp_path / "runs"
    r = runner.invoke(app, ["play", "qtgl", "qmaz", "--agent", "explore", "--agent", "random",
                            "--max-actions", "25", "--json", str(out), "--record-dir", str(runs)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert {(x["game"], x["agent"]) for x in data["runs"]} == {
        (g, a) for g in ("qtgl", "qmaz") for a in ("explore", "random")}
    assert all(x["actions"] == 25 or x["won"] for x in data["runs"])
    assert len({x["recording"] for x in data["runs"]}) == 4  # one file per run, none overwritten
    [c] = data["compared"]  # the two agents side by side, printed below the table
    assert (c["agent"], c["against"]) == ("explore", "random") and "agent against agent" in r.output
    assert c["levels"] == sum(x["levels_completed"] for x in data["runs"] if x["agent"] == "explore")
    for x in data["runs"]:
        rec = read_recording(x["recording"])
        assert Path(x["recording"]).parent == runs / x["game"]
        assert rec.game == x["game"] and len(rec.steps) >= x["actions"]


def test_a_comparison_with_no_record_writes_no_recording(tmp_path):
    out = tmp_path / "cmp.json"
    r = runner.invoke(app, ["play", "qtgl", "--agent", "random", "--seed", "0", "--seed", "1", "--max-actions",
                            "5", "--json", str(out), "--no-record", "--record-dir", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    assert all(x["recording"] is None for x in json.loads(out.read_text())["runs"])
    assert not (tmp_path / "runs").exists()


def test_unknown_game_is_one_line_before_anything_loads(tmp_path):
    r = runner.invoke(app, ["play", "zzzz", "--render", "none"])
    assert r.exit_code == 1 and "zzzz" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_the_learned_agent_without_checkpoints_names_what_to_run(tmp_path):
    r = runner.invoke(app, ["play", "qtgl", "--checkpoints", str(tmp_path), "--render", "none"])
    assert r.exit_code == 1 and "aria train-vqvae" in r.stderr
