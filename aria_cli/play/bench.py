"""`aria bench`: agents on every game of an environments folder, in worker processes, never losing a run.

    aria bench ../shared/realgames/environment_files --agent explore --agent random --max-actions 2000
    aria bench --game qmaz --game qtgl --seeds 0-2 --jobs 2 --out runs/bench-a
    aria bench ENV_DIR --shard 0/4 --out runs/b0  ...  aria bench --merge runs/b0 --merge runs/b1 --out runs/b
    aria bench --merge runs/wm --merge runs/wm-change8 --out runs/both   # world-model against world-model(wm-change=8)

Every (game, agent, seed) is one run (aria_cli.play.compare.play_one, scored by aria_cli.play.score).
Runs are planned in a fixed order; `--shard I/N` keeps the runs whose index is I modulo N, so N
cluster jobs with the same options split the work and `--merge` joins their folders (or whole
benches, a learned agent's under other options or models kept apart by name: `merge`). Runs go to
`--jobs` spawned worker processes (one torch thread each); a run that raises, cannot load its game,
or passes `--run-timeout` (its worker is killed and replaced) is a result with its error.

The results folder: `bench.json` (what was asked), `runs.jsonl` (one line per finished run, appended
and fsynced the moment it ends, so `--resume` skips what is done), `recordings/<game>/`, and at the
end `summary.json`, `table.txt` and `bench.png` (aria_cli.play.bench_report).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import queue
import re
import resource
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aria_cli.common import atomic
from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import short_game_id
from aria_cli.data.splits import named_games
from aria_cli.play.compare import ComparisonResult, RunResult

BENCH_SCHEMA = 1
DEFAULT_RUN_TIMEOUT = 600.0  # seconds: 2000 actions at 300 ms each; what a run played by then is kept
KILL_GRACE = 30.0  # a run that ignores its alarm (stuck in C code) is killed with its worker this much later


@dataclass
class BenchConfig:
    env_dir: Path | None = None  # None: the bundled games
    games: list[str] = field(default_factory=list)  # empty: every game of env_dir
    games_file: Path | None = None
    agents: list[str] = field(default_factory=lambda: ["explore"])
    seeds: list[int] = field(default_factory=lambda: [0])
    max_actions: int = 1000
    jobs: int = 0  # 0: os.cpu_count()
    out: Path | None = None  # None: runs/bench-<UTC time>
    resume: bool = False
    shard: str | None = None  # "I/N"
    run_timeout: float = DEFAULT_RUN_TIMEOUT
    record: bool = True
    checkpoints: Path = Path("checkpoints")
    device: str = "cpu"
    show_progress: bool = True
    # the learned agents' options, as `aria play`'s (PlayConfig); recorded in bench.json, so that --resume and
    # --merge refuse runs played with other ones
    temperature: float = 0.5
    level_weight: float = 1.0
    lead_p: float = 0.9  # world-model: AgentConfig.lead_p (0: off)
    # world-model: learning inside the game (AgentConfig.adapt_every, adapt_steps, wm_change_k, wm_novelty_k; 0: off)
    adapt_every: int = 0
    adapt_steps: int = 2
    wm_change: int = 0
    wm_novelty: int = 0
    learn_wins: int = 0  # world-model: AgentConfig.win_tune_steps (0: off)

    def agent_options(self) -> dict:
        return {k: getattr(self, k) for k in AGENT_OPTIONS}


AGENT_OPTIONS = ("temperature", "level_weight", "lead_p", "adapt_every", "adapt_steps", "wm_change", "wm_novelty",
                 "learn_wins")
DEFAULT_AGENT_OPTIONS = BenchConfig().agent_options()


def _with_defaults(options: dict | None) -> dict:
    """A bench.json's agent options, the defaults filling in those recorded before they existed."""
    return {**DEFAULT_AGENT_OPTIONS, **(options or {})}


def _options_in_play(meta: dict) -> dict | None:
    """The learned agents' options a bench.json's runs were played with; None where it has no learned agent
    (explore and random ignore them, so such a bench joins or resumes whatever options are given)."""
    from aria_cli.play.run import LEARNED_AGENTS

    return _with_defaults(meta.get("agent_options")) if set(meta["agents"]) & set(LEARNED_AGENTS) else None


def run_key(game: str, agent: str, seed: int) -> str:
    return f"{game}|{agent}|{seed}"


def parse_seeds(text: str) -> list[int]:
    """'0-4' or '0,3,7' -> seeds (the --seeds option)."""
    try:
        if re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", text):
            lo, hi = (int(v) for v in text.split("-"))
            if hi < lo:
                raise ValueError
            return list(range(lo, hi + 1))
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise AriaError(f"--seeds {text!r}: expected a range like 0-4 or a list like 0,3,7") from None


def parse_shard(text: str | None) -> tuple[int, int]:
    if text is None:
        return 0, 1
    m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not m or int(m[2]) < 1 or int(m[1]) >= int(m[2]):
        raise AriaError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4 (the first of four shards)")
    return int(m[1]), int(m[2])


def folder_games(env_dir: Path | None) -> list[str]:
    """The game ids (without version) of an environments folder, as the toolkit lists them, sorted."""
    from aria_cli.games.adapter import BUNDLED_ENVIRONMENTS, folder_game_ids

    folder = Path(env_dir) if env_dir is not None else BUNDLED_ENVIRONMENTS
    if not folder.is_dir():
        raise AriaError(f"{folder}: no such folder (expected an environments folder: <game>/<version>/metadata.json)")
    ids = sorted({short_game_id(g) for g in folder_game_ids(folder)})
    if not ids:
        raise AriaError(f"{folder}: no games in it (expected <game>/<version>/metadata.json inside)")
    return ids


def select_games(cfg: BenchConfig) -> list[str]:
    available = folder_games(cfg.env_dir)
    wanted = named_games(cfg.games, cfg.games_file)
    if not wanted:
        return available
    out = []
    for name, where in wanted:
        base = short_game_id(name)
        if base not in available:
            raise AriaError(f"{where}: unknown game {name!r} in {cfg.env_dir or 'the bundled games'}")
        if base not in out:
            out.append(base)
    return out


def plan(games: list[str], agents: list[str], seeds: list[int], shard: tuple[int, int]) -> list[tuple[str, str, int]]:
    """Every run in a fixed order (game, agent, seed), then this shard's share: index % N == I."""
    runs = [(g, a, s) for g in games for a in agents for s in seeds]
    i, n = shard
    return [r for k, r in enumerate(runs) if k % n == i]


# --------------------------------------------------------------------------- one run (in a worker)
class RunTimeout(BaseException):
    """Raised by a run's alarm; a BaseException, so neither the toolkit nor play_one takes it for a game error."""


def _on_alarm(signum, frame):
    raise RunTimeout


def run_one(game: str, agent: str, seed: int, max_actions: int, env_dir: Path | None,
            record_dir: Path | None, factories: dict, timeout: float | None = None) -> RunResult:  # fmt: skip
    """One run, never raising: a game that cannot load, an agent that breaks or a run past `timeout`
    seconds (an alarm, so what was played is kept) is the run's error. Call it from a main thread."""
    result = RunResult(game=game, agent=agent, seed=seed)
    previous = signal.signal(signal.SIGALRM, _on_alarm) if timeout else None
    try:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        _play_run(result, max_actions, env_dir, record_dir, factories)
    except RunTimeout:
        result.error = f"timed out after {timeout:g} s (--run-timeout); stopped there"
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    result.ms_per_action = round(result.ms_per_action, 3)
    result.game_ms_per_action = round(result.game_ms_per_action, 3)
    return result


def recording_name(game: str, agent: str, seed: int) -> str:
    """The file a run records to, under `<out>/recordings/<game>/`."""
    return f"{game}-{agent}-seed{seed}.jsonl"


def _play_run(result: RunResult, max_actions: int, env_dir: Path | None, record_dir: Path | None,
              factories: dict) -> None:  # fmt: skip
    from aria_cli.agents.base import make_agent
    from aria_cli.play.compare import game_sessions, play_one

    game, agent, seed = result.game, result.agent, result.seed
    try:
        session = game_sessions(env_dir, False, record_dir)(game, seed)
    except Exception as e:  # noqa: BLE001 — a game that fails to load is a row of the bench
        result.error = f"{type(e).__name__}: {e}"
        return
    session.recording_name = recording_name(game, agent, seed)  # a rerun (--resume) overwrites, never piles up
    try:
        play_one(session, make_agent(agent, seed, factories), game, seed, max_actions, agent, result=result)
    except Exception as e:  # noqa: BLE001 — an agent that breaks mid-run keeps what it played
        result.error = f"{type(e).__name__}: {e}"
    finally:  # also on a timeout: the recording of what was played lands
        session.close()
        result.recording = str(session.recording_path) if session.recording_path else None


def _worker(wid: int, inbox, outbox, opts: dict) -> None:
    """A worker process: one torch thread, models loaded once, runs until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the bench's to handle: it stops the workers
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"  # before torch loads: N workers on N cores, not N x N threads
    # The recorder stages each run's file in a temporary folder: in the results folder's own, which the
    # bench removes once its workers are gone, because a worker killed mid-run (a timeout, a stop) cannot.
    tempfile.tempdir = opts["staging_dir"]
    from aria_cli.play.run import LEARNED_AGENTS, PlayConfig, agent_factories

    if any(a in LEARNED_AGENTS for a in opts["agents"]):
        import torch

        torch.set_num_threads(1)
    factories = agent_factories(PlayConfig(games=[], agents=opts["agents"], checkpoints=opts["checkpoints"],
                                           device=opts["device"], **opts["agent_options"]))  # fmt: skip
    parent = os.getppid()
    while True:
        try:
            task = inbox.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the bench was killed: do not linger
                return
            continue
        if task is None:
            return
        game, agent, seed = task
        outbox.put((wid, run_key(game, agent, seed), None))  # started: the run's timeout counts from here
        t0 = time.perf_counter()
        r = run_one(game, agent, seed, opts["max_actions"], opts["env_dir"], opts["record_dir"], factories,
                    opts["run_timeout"])
        line = asdict(r) | {"wall_s": round(time.perf_counter() - t0, 3), "ended_at": time.time(), "worker": wid,
                            "worker_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        outbox.put((wid, run_key(game, agent, seed), line))


class _Pool:
    """Spawned workers, each fed one run at a time so a hung run can be timed out by killing its worker."""

    def __init__(self, jobs: int, opts: dict, run_timeout: float):
        self.ctx = mp.get_context("spawn")  # torch and fork do not mix; spawn is safe everywhere
        self.opts, self.run_timeout = opts, run_timeout
        self.results = self.ctx.Queue()
        self.workers: dict[int, dict] = {}
        self.next_id = 0
        for _ in range(jobs):
            self._start()

    def _start(self) -> None:
        inbox = self.ctx.Queue()
        wid, self.next_id = self.next_id, self.next_id + 1
        p = self.ctx.Process(target=_worker, args=(wid, inbox, self.results, self.opts), daemon=True)
        p.start()
        self.workers[wid] = {"proc": p, "inbox": inbox, "task": None, "since": None}

    def _replace(self, wid: int) -> None:
        w = self.workers.pop(wid)
        w["proc"].kill()
        w["proc"].join(5)
        self._start()

    def run(self, tasks: list[tuple[str, str, int]]):
        """Yield each finished run's JSON line, in the order they finish."""
        pending = list(reversed(tasks))
        try:
            while pending or any(w["task"] for w in self.workers.values()):
                for w in self.workers.values():
                    if w["task"] is None and pending:
                        w["task"], w["since"] = pending.pop(), None  # `since` is set when the worker starts it
                        w["inbox"].put(w["task"])
                yield from self._collect()
                yield from self._failures()
        finally:
            for wid in list(self.workers):
                w = self.workers.pop(wid)
                w["proc"].kill()
                w["proc"].join(5)

    def _collect(self):
        try:
            item = self.results.get(timeout=0.2)
        except queue.Empty:
            return
        while True:
            wid, key, line = item
            w = self.workers.get(wid)
            if w is not None and w["task"] is not None and run_key(*w["task"]) == key:
                if line is None:
                    w["since"] = time.monotonic()
                else:
                    w["task"] = None
                    yield line
            try:
                item = self.results.get_nowait()
            except queue.Empty:
                return

    def _failures(self):
        for wid, w in list(self.workers.items()):
            if w["task"] is None:
                continue
            game, agent, seed = w["task"]
            if w["since"] is not None and time.monotonic() - w["since"] > self.run_timeout + KILL_GRACE:
                error = f"timed out after {self.run_timeout:g} s (--run-timeout) and did not stop: its worker was killed"
            elif not w["proc"].is_alive():
                error = f"the worker process died (exit code {w['proc'].exitcode})"
            else:
                continue
            self._replace(wid)
            yield asdict(RunResult(game=game, agent=agent, seed=seed, error=error)) | {"worker": wid}


# --------------------------------------------------------------------------- the results folder
def read_runs(folder: Path) -> dict[str, dict]:
    """The finished runs of a results folder by key; a torn last line (a kill mid-write) is ignored."""
    path = Path(folder) / "runs.jsonl"
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        out[run_key(d["game"], d["agent"], d["seed"])] = d
    return out


def comparison(runs: list[dict], games: list[str], agents: list[str], seeds: list[int],
               max_actions: int) -> ComparisonResult:  # fmt: skip
    results = [RunResult.from_dict(d) for d in runs]
    results.sort(key=lambda r: (games.index(r.game), agents.index(r.agent), seeds.index(r.seed)))
    return ComparisonResult(games, agents, seeds, max_actions, results)


def _prepare_folder(cfg: BenchConfig, meta: dict) -> Path:
    out = cfg.out or Path("runs") / time.strftime("bench-%Y%m%d-%H%M%S", time.gmtime())
    old = out / "bench.json"
    if old.exists():
        if not cfg.resume:
            raise AriaError(f"--out {out}: already holds a bench; add --resume to finish it, or choose another --out")
        before = json.loads(old.read_text())
        diff = [k for k in ("env_dir", "games", "agents", "seeds", "max_actions", "shard") if before.get(k) != meta[k]]
        if not diff and _options_in_play(before) != _options_in_play(meta):
            diff = ["agent_options"]
        if not diff and None not in (before.get("models"), meta["models"]) and before["models"] != meta["models"]:
            raise AriaError(f"--resume: {out} was played with other models than --checkpoints {meta['checkpoints']} "
                            "holds now (retrained, or another folder); resume with those, or choose another --out")
        if diff:
            raise AriaError(f"--resume: {out} was a bench with other {', '.join(diff)}; rerun it with the same options")
    elif cfg.resume and (out / "runs.jsonl").exists():
        raise AriaError(f"--resume: {out}/bench.json is missing, so this folder cannot be resumed")
    atomic.write_json(old, meta)
    return out


def bench(cfg: BenchConfig):
    """Run the bench as configured; returns (results folder, ComparisonResult). See the module docstring."""
    from aria_cli.agents.base import AGENT_NAMES
    from aria_cli.play.run import LEARNED_AGENTS
    from aria_cli.stack import models_fingerprint

    if cfg.max_actions < 1:
        raise AriaError(f"--max-actions must be at least 1, got {cfg.max_actions}")
    if cfg.run_timeout <= 0:
        raise AriaError(f"--run-timeout must be positive, got {cfg.run_timeout}")
    for a in cfg.agents:
        if a not in (*AGENT_NAMES, *LEARNED_AGENTS):
            raise AriaError(f"--agent {a!r}: unknown agent; choose from {', '.join((*AGENT_NAMES, *LEARNED_AGENTS))}")
        if a in LEARNED_AGENTS and not Path(cfg.checkpoints).is_dir():
            raise AriaError(f"--agent {a} needs trained models: --checkpoints {cfg.checkpoints} is not a folder")
    shard = parse_shard(cfg.shard)
    games = select_games(cfg)
    agents, seeds = list(dict.fromkeys(cfg.agents)), list(dict.fromkeys(cfg.seeds))
    learned = any(a in LEARNED_AGENTS for a in agents)
    meta = {"schema": BENCH_SCHEMA, "env_dir": str(cfg.env_dir) if cfg.env_dir else None, "games": games,
            "agents": agents, "seeds": seeds, "max_actions": cfg.max_actions, "shard": list(shard),
            "agent_options": cfg.agent_options(), "checkpoints": str(cfg.checkpoints) if learned else None,
            "models": models_fingerprint(cfg.checkpoints) if learned else None}  # fmt: skip
    out = _prepare_folder(cfg, meta)
    planned = plan(games, agents, seeds, shard)
    done = read_runs(out)
    todo = [r for r in planned if run_key(*r) not in done]
    _execute(cfg, out, todo, len(planned))
    from aria_cli.play.bench_report import write_report

    keys = {run_key(*r) for r in planned}
    runs = [d for k, d in read_runs(out).items() if k in keys]
    result = comparison(runs, games, agents, seeds, cfg.max_actions)
    write_report(out, result, meta)
    return out, result


def _execute(cfg: BenchConfig, out: Path, todo: list[tuple[str, str, int]], planned: int) -> None:
    from aria_cli.common.ui import progress

    staging = out / ".staging"  # a bench killed outright leaves it here, emptied when the folder is resumed
    shutil.rmtree(staging, ignore_errors=True)
    if not todo:
        return
    jobs = max(1, min(cfg.jobs or os.cpu_count() or 1, len(todo)))
    opts = {"agents": cfg.agents, "checkpoints": cfg.checkpoints, "device": cfg.device,
            "max_actions": cfg.max_actions, "env_dir": cfg.env_dir, "run_timeout": cfg.run_timeout,
            "record_dir": out / "recordings" if cfg.record else None, "agent_options": cfg.agent_options(),
            "staging_dir": str(staging)}  # fmt: skip
    staging.mkdir(exist_ok=True)  # the workers of a bench killed just before may still be finishing a run in it
    bar = progress() if cfg.show_progress else None
    task = bar.add_task(f"bench · {jobs} jobs", total=planned, completed=planned - len(todo)) if bar else None
    if bar:
        bar.start()
    previous = _stop_on_sigterm()
    try:
        with contextlib.closing(_Pool(jobs, opts, cfg.run_timeout).run(todo)) as lines:  # closing kills the workers
            for line in lines:
                atomic.append_line(out / "runs.jsonl", json.dumps(line))
                if bar:
                    status = "error" if line.get("error") else f"{line['levels_completed']}/{line['win_levels']} levels"
                    bar.update(task, advance=1, description=f"bench · {line['game']} · {line['agent']} · {status}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the pool has killed its workers by now
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if bar:
            bar.stop()


def _stop_on_sigterm():
    """Make SIGTERM (a job manager's stop, `kill`) end the bench as Ctrl-C does, so that its workers are
    stopped with it instead of finishing their runs as orphans; returns the handler it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, stop)


def variant_name(agent: str, options: dict, models: str = "") -> str:
    """A learned agent named by the options it played with that are not the defaults, and by its models where
    merged benches played other ones: world-model(wm-change=8), world-model@ck210(lead-p=0)."""
    diff = ",".join(f"{k.replace('_', '-')}={v}" for k, v in options.items() if v != DEFAULT_AGENT_OPTIONS.get(k))
    name = f"{agent}@{models}" if models else agent
    return f"{name}({diff})" if diff else name  # not [...]: rich would read it as markup


def _model_tags(metas: list[dict]) -> dict[str | None, str]:
    """How merged benches that played other models name them: the checkpoints folder's name, or the
    fingerprint's start where two folders share a name; benches that recorded none (older ones) 'unrecorded'."""
    folders = {m.get("models"): Path(m["checkpoints"]).name for m in metas if m.get("checkpoints")}
    folders[None] = "unrecorded"
    names = list(folders.values())
    return {fp: (name if names.count(name) == 1 or fp is None else fp[:8]) for fp, name in folders.items()}


def _learned_names(dirs: list[Path], metas: list[dict], folder_runs: list[dict]) -> tuple[dict, dict]:
    """The folders grouped by their learned agents' (options, models), and each folder's learned agents'
    names in the merged result: their own with one group, `variant_name`s with several, which must then be
    whole benches of the same games and seeds (shards of one bench played otherwise are refused)."""
    from aria_cli.play.run import LEARNED_AGENTS

    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(metas):
        if (options := _options_in_play(m)) is not None:
            groups.setdefault((tuple(sorted(options.items())), m.get("models")), []).append(i)
    names: dict[int, dict[str, str]] = {i: {} for i in range(len(dirs))}
    if len(groups) < 2:
        return names, groups
    played = {key: {(r["game"], r["agent"], r["seed"]) for i in idx for r in folder_runs[i].values()
                    if r["agent"] in LEARNED_AGENTS} for key, idx in groups.items()}  # fmt: skip
    first, *others = groups
    for key in others:
        if played[key] != played[first]:
            d, what = dirs[groups[key][0]], "options" if key[0] != first[0] else "models"
            raise AriaError(f"--merge {d}: its learned agents were played with other {what} than those of "
                            f"{dirs[groups[first][0]]}, and not on the same games and seeds, so they cannot be "
                            "set side by side either")  # fmt: skip
    tags = _model_tags([metas[i] for idx in groups.values() for i in idx])
    tagged = len({models for _, models in groups}) > 1
    for (options, models), idx in groups.items():
        for i in idx:
            names[i] = {a: variant_name(a, dict(options), tags[models] if tagged else "")
                        for a in metas[i]["agents"] if a in LEARNED_AGENTS}  # fmt: skip
    return names, groups


def merge(dirs: list[Path], out: Path | None):
    """Join results folders into one summary in `out`: the shards of one bench (split with --shard), or whole
    benches to set side by side. A learned agent played under other options or with other models, in benches
    of the same games and seeds, is kept apart under a name that says how (`_learned_names`); shards played
    so are refused, and so is a run that two folders hold (one would silently replace the other)."""
    from aria_cli.play.bench_report import write_report

    metas = []
    for d in dirs:
        f = Path(d) / "bench.json"
        if not f.is_file():
            raise AriaError(f"--merge {d}: not a bench results folder (no bench.json)")
        metas.append(json.loads(f.read_text()))
        if metas[-1]["max_actions"] != metas[0]["max_actions"]:
            raise AriaError(f"--merge {d}: ran at --max-actions {metas[-1]['max_actions']}, not {metas[0]['max_actions']}")
    folder_runs = [read_runs(Path(d)) for d in dirs]
    names, groups = _learned_names(dirs, metas, folder_runs)
    runs: dict[str, dict] = {}
    for i, these_runs in enumerate(folder_runs):
        for r in these_runs.values():
            r = {**r, "agent": names[i].get(r["agent"], r["agent"])}
            key = run_key(r["game"], r["agent"], r["seed"])
            if key in runs:
                raise AriaError(f"--merge {dirs[i]}: holds a run another folder holds too ({key}); merge the shards "
                                "of one bench, or benches of other agents, options or models")  # fmt: skip
            runs[key] = r
    union = lambda key: list(dict.fromkeys(x for m in metas for x in m[key]))  # noqa: E731
    games, seeds = union("games"), union("seeds")
    agents = list(dict.fromkeys(names[i].get(a, a) for i, m in enumerate(metas) for a in m["agents"]))
    plain = next(iter(groups)) if len(groups) == 1 else None  # the learned agents kept their names
    variants = {n: {"options": dict(key[0]), "models": key[1]}
                for key, idx in groups.items() for i in idx for a, n in names[i].items() if n != a}  # fmt: skip
    out = out or Path("runs") / time.strftime("bench-merged-%Y%m%d-%H%M%S", time.gmtime())
    meta = {"schema": BENCH_SCHEMA, "env_dir": metas[0]["env_dir"], "games": games, "agents": agents,
            "seeds": seeds, "max_actions": metas[0]["max_actions"], "shard": [0, 1],
            "agent_options": dict(plain[0]) if plain else DEFAULT_AGENT_OPTIONS,
            "checkpoints": metas[groups[plain][0]].get("checkpoints") if plain else None,
            "models": plain[1] if plain else None, **({"variants": variants} if variants else {}),
            "merged_from": [str(d) for d in dirs]}  # fmt: skip
    atomic.write_json(out / "bench.json", meta)
    atomic.write_text(out / "runs.jsonl", "".join(json.dumps(runs[k]) + "\n" for k in sorted(runs)))
    result = comparison(list(runs.values()), games, agents, seeds, meta["max_actions"])
    write_report(out, result, meta)
    return out, result
