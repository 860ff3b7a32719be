"""`aria bench`: shards merge into the unsharded summary, a SIGKILLed bench resumes to the same summary,
a SIGTERMed one takes its workers with it, broken games (load failure, raise, hang) are rows with their
error, the PNG, and user mistakes."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import read_recording
from aria_cli.games.adapter import BUNDLED_ENVIRONMENTS
from aria_cli.play.bench import BenchConfig, bench, merge, parse_seeds, plan
from aria_cli.play.bench_report import png_size
from aria_cli.stack import models_fingerprint

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
TIMING = {"ms_per_action", "game_ms_per_action", "recording", "wall_s", "ended_at", "worker", "worker_rss_mb"}


def comparable(folder: Path) -> dict:
    """summary.json without what differs between two equal benches: timings, paths, the shard it ran as."""
    s = json.loads((folder / "summary.json").read_text())
    s.pop("bench")
    s["runs"] = [{k: v for k, v in r.items() if k not in TIMING} for r in s["runs"]]
    s["summary"] = [{k: v for k, v in r.items() if k not in TIMING} for r in s["summary"]]
    s["totals"] = {a: {k: v for k, v in t.items() if k not in TIMING} for a, t in s["totals"].items()}
    return s


def quick(out: Path, **kw) -> BenchConfig:
    base = dict(agents=["explore", "random"], seeds=[0], max_actions=30, jobs=2, out=out, show_progress=False)
    return BenchConfig(**(base | kw))


def test_two_shards_merged_equal_one_unsharded_bench_and_the_png(tmp_path):
    whole, result = bench(quick(tmp_path / "whole"))
    assert len(result.runs) == 8 and not any(r.error for r in result.runs)
    bench(quick(tmp_path / "s0", shard="0/2"))
    bench(quick(tmp_path / "s1", shard="1/2"))
    assert len((tmp_path / "s0" / "runs.jsonl").read_text().splitlines()) == 4
    r = runner.invoke(app, ["bench", "--merge", str(tmp_path / "s0"), "--merge", str(tmp_path / "s1"),
                            "--out", str(tmp_path / "merged")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert comparable(tmp_path / "merged") == comparable(whole)
    with Image.open(whole / "bench.png") as img:
        assert img.format == "PNG" and img.size == png_size(4, 2)
        img.verify()
    rec = read_recording(next((whole / "recordings" / "qmaz").glob("qmaz-explore-seed0.jsonl")))
    assert rec.game == "qmaz" and len(rec.steps) >= 30  # a toolkit recording that --data reads


def test_a_sigkilled_bench_resumes_to_the_same_summary_losing_only_runs_in_flight(tmp_path):
    """A real `aria bench` process is SIGKILLed after a few runs finished; --resume finishes it."""
    args = ["--agent", "explore", "--agent", "random", "--seeds", "0-1", "--max-actions", "150", "--jobs", "2"]
    killed = tmp_path / "killed"
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "aria_cli", "bench", *args, "--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    lines = killed / "runs.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if lines.exists() and len(lines.read_text().splitlines()) >= 5:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the bench ended before it could be killed halfway"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(lines.read_text().splitlines())
    assert 5 <= before < 16 and not (killed / "summary.json").exists() and (killed / ".staging").is_dir()
    r = runner.invoke(app, ["bench", *args, "--out", str(killed), "--resume"])
    assert r.exit_code == 0, r.output
    keys = [(d["game"], d["agent"], d["seed"]) for d in map(json.loads, lines.read_text().splitlines())]
    assert len(keys) == 16 == len(set(keys))  # every run finished before the kill was kept, none was run twice
    assert not (killed / ".staging").exists()  # where the killed bench's runs in flight were recorded
    (killed / ".staging").mkdir()  # killed again after its last run: a resume with nothing to run still empties it
    assert runner.invoke(app, ["bench", *args, "--out", str(killed), "--resume"]).exit_code == 0
    assert not (killed / ".staging").exists()
    whole, _ = bench(quick(tmp_path / "whole", seeds=[0, 1], max_actions=150))
    assert comparable(killed) == comparable(whole)


def _live() -> dict[int, int]:
    """Live processes (not zombies) from /proc: pid -> parent pid."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if state != "Z":
            out[int(stat.parent.name)] = int(ppid)
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads worker processes from /proc")
def test_a_sigterm_stops_the_bench_and_its_workers_keeping_finished_runs(tmp_path):
    """A real `aria bench` process gets SIGTERM mid-run (a job manager's stop): it exits as on Ctrl-C and
    its workers, each in the middle of a run of a few seconds, go with it instead of finishing as orphans,
    and nothing of the runs they were recording is left in the temporary folder."""
    out, tmp = tmp_path / "b", tmp_path / "tmp"
    tmp.mkdir()
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                        "TMPDIR": str(tmp)}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "aria_cli", "bench", "--agent", "explore", "--seeds", "0-3",
                             "--max-actions", "3000", "--jobs", "2", "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines = out / "runs.jsonl"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and not (lines.exists() and lines.read_text()):
        time.sleep(0.05)
    time.sleep(0.5)  # the freed worker has taken its next run
    children = [pid for pid, parent in _live().items() if parent == proc.pid]
    assert proc.poll() is None and len(children) >= 2, "the bench ended before it could be stopped"
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and set(children) & set(_live()):
        time.sleep(0.1)
    assert not set(children) & set(_live()), "a worker outlived the bench"
    done = len(lines.read_text().splitlines())
    assert 1 <= done < 16 and not (out / "summary.json").exists()  # finished runs kept for --resume
    assert not list(tmp.iterdir()) and not (out / ".staging").exists(), "the runs in flight left their recordings"


BROKEN = {  # real arcengine games, loaded by the real toolkit from a folder the test writes
    "qlod": "raise_in_init = True",
    "qnrs": "raise_on_step = 4",
    "qohg": "hang_on_step = 6",
}
GAME_SRC = """
import time
from arcengine import ARCBaseGame, Camera, Level, Sprite


class {cls}(ARCBaseGame):
    raise_in_init = False
    raise_on_step = 0
    hang_on_step = 0
    {flag}

    def __init__(self, seed: int = 0) -> None:
        if self.raise_in_init:
            raise ValueError("the level file is missing")
        level = Level(sprites=[Sprite([[9] * 8] * 8, name="tile", x=8, y=8)])
        super().__init__(game_id="{gid}", levels=[level], camera=Camera(background=5, letter_box=5),
                         available_actions=[1, 2], seed=seed)
        self.moves = 0

    def step(self) -> None:
        self.moves += 1
        if self.moves == self.raise_on_step:
            raise RuntimeError("the tile fell off the board")
        if self.moves == self.hang_on_step:
            time.sleep(3600)
        self.current_level.get_sprites_by_name("tile")[0].move(1, 0)
        self.complete_action()
"""


def broken_folder(root: Path, with_good: bool = True) -> Path:
    envs = root / "envs"
    if with_good:
        for g in ("qmaz", "qtgl"):
            shutil.copytree(BUNDLED_ENVIRONMENTS / g, envs / g)
    for gid, flag in BROKEN.items():
        d = envs / gid / "v1"
        d.mkdir(parents=True)
        (d / f"{gid}.py").write_text(GAME_SRC.format(cls=gid.capitalize(), flag=flag, gid=gid))
        (d / "metadata.json").write_text(json.dumps({"game_id": f"{gid}-v1", "title": "Broken",
                                                     "class_name": gid.capitalize(), "baseline_actions": [3]}))
    return envs


def test_games_that_fail_to_load_raise_or_hang_are_rows_with_their_error_and_the_bench_goes_on(tmp_path):
    envs = broken_folder(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(app, ["bench", str(envs), "--agent", "random", "--max-actions", "20", "--jobs", "2",
                            "--run-timeout", "4", "--out", str(out)], env={"COLUMNS": "250"})  # fmt: skip
    assert r.exit_code == 0, r.output
    runs = {d["game"]: d for d in json.loads((out / "summary.json").read_text())["runs"]}
    assert list(runs) == ["qlod", "qmaz", "qnrs", "qohg", "qtgl"]
    assert "the level file is missing" in runs["qlod"]["error"]
    assert "fell off the board" in runs["qnrs"]["error"] and 1 <= runs["qnrs"]["actions"] < 20
    assert "timed out after 4 s" in runs["qohg"]["error"]  # its alarm stopped it: what it played is kept
    assert runs["qohg"]["actions"] >= 1 and len(read_recording(runs["qohg"]["recording"]).steps) >= 1
    assert runs["qmaz"]["error"] is None and runs["qmaz"]["actions"] == 20
    assert runs["qtgl"]["error"] is None and runs["qtgl"]["actions"] == 20
    assert "fell off the board" in (out / "table.txt").read_text() and "3 of 5 runs failed" in r.stderr
    r = runner.invoke(app, ["bench", "--merge", str(out), "--out", str(tmp_path / "merged"), "--strict"])
    assert r.exit_code == 3 and "3 of 5 runs failed" in r.stderr  # the same results, but the caller asked


def test_a_bench_where_every_run_failed_exits_non_zero(tmp_path):
    envs = broken_folder(tmp_path, with_good=False)
    r = runner.invoke(app, ["bench", str(envs), "--game", "qlod", "--game", "qnrs", "--agent", "random",
                            "--max-actions", "10", "--jobs", "1", "--out", str(tmp_path / "out")])  # fmt: skip
    assert r.exit_code == 1 and "2 of 2 runs failed" in r.stderr


@pytest.mark.parametrize("args,message", [
    (["--shard", "2/2"], "--shard '2/2'"),
    (["--game", "nope"], "unknown game 'nope'"),
    (["--seeds", "3-1"], "--seeds '3-1'"),
    (["--agent", "wizard"], "--agent 'wizard'"),
    (["--agent", "policy", "--checkpoints", "no-such-dir"], "needs trained models"),
    (["--merge", "runs/b0", "runs/b1"], "--merge takes one results folder each: --merge runs/b0 --merge runs/b1"),
    (["--merge", "runs/b0", "--agent", "explore"], "--agent does not apply to it"),
    (["--merge", "runs/b0", "--max-actions", "5", "--temperature", "0"], "--max-actions, --temperature do not apply"),
])  # fmt: skip
def test_user_mistakes_are_one_line_and_exit_1(tmp_path, args, message):
    r = runner.invoke(app, ["bench", *args, "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and message in r.stderr and "Traceback" not in r.output


def test_an_existing_results_folder_needs_resume_and_the_same_options(tmp_path):
    bench(quick(tmp_path / "o", agents=["random"], max_actions=5))
    r = runner.invoke(app, ["bench", "--agent", "random", "--max-actions", "5", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "add --resume" in r.stderr
    r = runner.invoke(app, ["bench", "--agent", "random", "--max-actions", "6", "--out", str(tmp_path / "o"),
                            "--resume"])  # fmt: skip
    assert r.exit_code == 1 and "other max_actions" in r.stderr
    with pytest.raises(AriaError, match="games-file"):
        bench(quick(tmp_path / "p", games_file=tmp_path / "missing.txt"))


def as_world_model(folder: Path, checkpoints: Path | None = None, models: str | None = None) -> None:
    """Relabel a random-agent bench folder as the world model's, played with `models` (a fingerprint) from
    `checkpoints`: merging and resuming read only these files, and playing the learned agent needs trained
    models (`test_learned_agents_play_in_the_workers...`)."""
    meta = json.loads((folder / "bench.json").read_text())
    meta |= {"agents": ["world-model"], "checkpoints": str(checkpoints) if checkpoints else None, "models": models}
    (folder / "bench.json").write_text(json.dumps(meta))
    runs = [json.loads(x) | {"agent": "world-model"} for x in (folder / "runs.jsonl").read_text().splitlines()]
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))


def test_runs_played_with_other_agent_options_are_never_mixed_into_one_result(tmp_path, pipeline):
    """bench.json records the learned agents' options and models: --resume and --merge refuse a learned
    agent's runs played with other ones, and a bench.json written before they were recorded counts as the
    defaults. Explore and random ignore them, so benches of those alone resume and join with any."""
    out, ck = tmp_path / "o", pipeline.checkpoints
    bench(quick(out, agents=["random"], max_actions=5, jobs=1, shard="0/2"))
    assert json.loads((out / "bench.json").read_text())["agent_options"]["temperature"] == 0.5
    as_world_model(out, ck, "0" * 64)  # played with models that are not those under `ck` now
    args = ["bench", "--agent", "world-model", "--checkpoints", str(ck), "--max-actions", "5", "--jobs", "1",
            "--shard", "0/2", "--out", str(out), "--resume"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and "other models than --checkpoints" in r.stderr and "Traceback" not in r.output
    as_world_model(out, ck, models_fingerprint(ck))
    r = runner.invoke(app, [*args, "--temperature", "0.25"])
    assert r.exit_code == 1 and "other agent_options" in r.stderr
    r = runner.invoke(app, [*args, "--lead-p", "0"])
    assert r.exit_code == 1 and "other agent_options" in r.stderr
    meta = json.loads((out / "bench.json").read_text())
    del meta["agent_options"]["lead_p"]  # recorded before --lead-p existed: the default
    (out / "bench.json").write_text(json.dumps(meta))
    assert runner.invoke(app, args).exit_code == 0  # every run of the shard is there: nothing to play
    meta = json.loads((out / "bench.json").read_text())
    del meta["agent_options"]
    (out / "bench.json").write_text(json.dumps(meta))
    assert runner.invoke(app, args).exit_code == 0
    bench(quick(tmp_path / "s1", agents=["random"], max_actions=5, jobs=1, shard="1/2", adapt_every=4))
    r = runner.invoke(app, ["bench", "--agent", "random", "--max-actions", "5", "--jobs", "1", "--shard", "1/2",
                            "--out", str(tmp_path / "s1"), "--resume", "--adapt-every", "8"])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["bench", "--merge", str(out), "--merge", str(tmp_path / "s1"), "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output  # random ignores adapt_every: the world model's options stand
    assert json.loads((tmp_path / "m" / "bench.json").read_text())["agent_options"]["adapt_every"] == 0
    as_world_model(tmp_path / "s1")  # shards of one bench, played with other options: refused
    r = runner.invoke(app, ["bench", "--merge", str(out), "--merge", str(tmp_path / "s1"), "--out", str(tmp_path / "n")])
    assert r.exit_code == 1 and "were played with other options" in r.stderr and not (tmp_path / "n").exists()


def test_whole_benches_of_one_agent_under_other_options_merge_side_by_side(tmp_path):
    """Two benches of the same games and seeds, the learned agent's options differing: merged, each keeps
    its runs under a name that says how it was played, and the result sets one against the other."""
    bench(quick(tmp_path / "a", agents=["random"], max_actions=5, jobs=1, seeds=[0, 1]))
    bench(quick(tmp_path / "b", agents=["random"], max_actions=5, jobs=1, seeds=[0, 1], wm_change=8, lead_p=0.5))
    bench(quick(tmp_path / "c", agents=["explore"], max_actions=5, jobs=1, seeds=[0, 1]))
    as_world_model(tmp_path / "a", tmp_path / "ck", "a" * 64)
    as_world_model(tmp_path / "b", tmp_path / "ck", "a" * 64)
    out, result = merge([tmp_path / "a", tmp_path / "b", tmp_path / "c"], tmp_path / "m")
    variant = "world-model(lead-p=0.5,wm-change=8)"
    assert result.agents == ["world-model", variant, "explore"]
    runs = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]
    b_runs = [json.loads(x) for x in (tmp_path / "b" / "runs.jsonl").read_text().splitlines()]
    assert sorted((r["game"], r["seed"], r["actions"]) for r in runs if r["agent"] == variant) == sorted(
        (r["game"], r["seed"], r["actions"]) for r in b_runs)
    meta = json.loads((out / "bench.json").read_text())
    assert meta["agent_options"]["wm_change"] == 0 and meta["variants"][variant]["options"]["wm_change"] == 8
    assert [(c["agent"], c["against"]) for c in result.compared()][:2] == [("world-model", variant),
                                                                           ("world-model", "explore")]
    assert variant in (out / "table.txt").read_text()
    bench(quick(tmp_path / "d", agents=["random"], max_actions=5, jobs=1, seeds=[0], wm_change=8))
    as_world_model(tmp_path / "d", tmp_path / "ck", "a" * 64)  # seed 0 alone: not "a"'s runs, not side by side
    with pytest.raises(AriaError, match="not on the same games and seeds"):
        merge([tmp_path / "a", tmp_path / "d"], tmp_path / "n")
    with pytest.raises(AriaError, match=r"holds a run another folder holds too \(qmaz\|explore\|0\)"):
        merge([tmp_path / "a", tmp_path / "c", tmp_path / "c"], tmp_path / "n")
    assert not (tmp_path / "n").exists()


def test_benches_of_other_models_merge_under_their_checkpoints_names(tmp_path):
    """The same agent and options, other models (retrained, or another checkpoints folder): never one agent."""
    for name, fp in (("a", "a" * 64), ("b", "b" * 64), ("c", "c" * 64)):
        bench(quick(tmp_path / name, agents=["random"], max_actions=5, jobs=1))
        as_world_model(tmp_path / name, tmp_path / {"a": "ck210", "b": "ck50", "c": "ck50"}[name], fp)
    _, result = merge([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    assert result.agents == ["world-model@ck210", "world-model@ck50"]
    _, result = merge([tmp_path / "b", tmp_path / "c"], tmp_path / "m2")  # one folder name, two models
    assert result.agents == ["world-model@bbbbbbbb", "world-model@cccccccc"]


def test_games_file_seeds_and_shards_plan_every_run_once(tmp_path):
    gf = tmp_path / "games.txt"
    gf.write_text("# two of the bundled games\nqtgl\n\nqmaz  # the maze\n")
    _, result = bench(quick(tmp_path / "o", games_file=gf, agents=["random"], max_actions=5, jobs=1))
    assert result.games == ["qtgl", "qmaz"]
    assert parse_seeds("0-3") == [0, 1, 2, 3] and parse_seeds("5,1") == [5, 1]
    runs = plan(["a", "b", "c"], ["x", "y"], [0, 1, 2], (0, 1))
    shards = [plan(["a", "b", "c"], ["x", "y"], [0, 1, 2], (i, 4)) for i in range(4)]
    assert sorted(r for s in shards for r in s) == sorted(runs) and len(runs) == 18


def test_learned_agents_play_in_the_workers_from_the_checkpoints(tmp_path, pipeline):
    """The tiny trained pipeline (tests/helpers/pipeline.py) loads once per worker; both learned agents play."""
    out = tmp_path / "o"
    r = runner.invoke(app, ["bench", "--game", "qtgl", "--agent", "policy", "--agent", "world-model",
                            "--max-actions", "4", "--jobs", "1", "--no-record", "--checkpoints",
                            str(pipeline.checkpoints), "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    runs = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]
    assert {d["agent"] for d in runs} == {"policy", "world-model"}
    assert all(d["error"] is None and d["actions"] == 4 and d["recording"] is None for d in runs)
