"""The learned agent's cost (issue 7): ms per action with the tiny backbone, and memory over 10,000 actions.

    .venv/bin/python benchmarks/bench_agent.py                       # builds small real checkpoints first
    .venv/bin/python benchmarks/bench_agent.py --checkpoints checkpoints --actions 2000
    .venv/bin/python benchmarks/bench_agent.py --agents world-model --game qtgl --threads 1

Each agent plays the game through the real toolkit (aria_cli.play.compare.play_one on a GameSession, no
recording) for `--actions` actions, in a process of its own so that memory figures are its own. A game
that is won before the budget is played again from the next seed (the agent resets, as in `aria play`
with several seeds); the game is not cycled. ms/action is the agent's own time per action, act +
observe (frame encoding, both KV-cached contexts, policy heads, P(level) for the top-k, the explorer),
the game's step time apart. Memory: the process RSS every `--sample-every` actions; the peak (VmHWM)
and the growth from the end of the first thousand actions to the end of the run.

Speed does not depend on how well the models are trained, so by default the checkpoints are built in a
temporary folder through the real training code (tests/helpers/pipeline.py: demonstrator recordings,
tokenizer, world model, policy heads), with the default model sizes — TinyArch and VQVAEConfig as
`aria train-wm` / `aria train-vqvae` make them on a CPU — trained for a moment only.
`--checkpoints DIR` uses a trained set instead.

Targets (issue 7): <= 30 ms/action on 2 CPU cores, including frame encoding; memory flat over 10,000
actions (here: growth <= 32 MiB from action 1,000 to the end). The wall-clock ms/action is the figure
judged; "CPU ms/action" (process CPU time) is beside it because on a shared machine the wall clock also
counts the time other processes held the cores. `world-model+online` (learning inside the game, ONLINE
below): its CPU time includes the adaptation thread's, which runs beside play.

Note: the `world-model` agent keeps the explorer's memory of the game (every distinct frame, the state
graph of each level and its transition log), which grows with the states seen until the game ends; the
`policy` agent (same models and token contexts, no explorer) shows what the learned part alone costs.
Measured on qmaz (2026-11-22): the policy agent +0.75 MiB per 1,000 actions over 10,000 (sampling noise);
the explore agent alone, no models, +2 MiB per 1,000 actions within a long game (Python objects traced by
tracemalloc: +0.9 MiB per 1,000, the transition log, frame keys and graph edges) and nothing left behind
once a game ends (eight 1,500-action games in one process: 101 MiB after the second and the eighth).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from workdir import work_folder

ROOT = Path(__file__).resolve().parent.parent
MS_TARGET = 30.0
GROWTH_TARGET_MB = 32.0


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc/self/status."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            k, v = line.split(":")
            fields[k] = int(v.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


# --------------------------------------------------------------------------- checkpoints
def build_checkpoints(root: Path) -> Path:
    """Small real checkpoints, default model sizes, through the tests' pipeline fixture."""
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import pipeline as pf

    from aria_cli.world_model.backbones import TinyArch

    # The fixture trains miniature models; the speed measured here is that of the default sizes, so its
    # size settings are replaced (everything else — data, epochs, steps — stays as the fixture has it).
    default_vq = pf.TokenizerTrainConfig()
    pf.WM_ARCH = TinyArch()
    pf.VQVAE_CONFIG = dataclasses.replace(
        pf.VQVAE_CONFIG,
        codebook_size=default_vq.codebook_size,
        code_dim=default_vq.code_dim,
        channels=default_vq.channels,
    )
    t0 = time.perf_counter()
    pipe = pf.build_pipeline(root)
    print(f"built checkpoints in {time.perf_counter() - t0:.0f} s: {pipe.checkpoints}", flush=True)
    return pipe.checkpoints


# --------------------------------------------------------------------------- one agent (child process)
class Timed:
    """The agent with each act + observe timed (the benchmark's only addition to a step)."""

    def __init__(self, agent, times: list[float], cpu: list[float]):
        self.agent, self.name, self.times, self.cpu = agent, agent.name, times, cpu
        self._t = self._c = 0.0

    def reset(self, game_info=None):
        self.agent.reset(game_info)

    def act(self, obs):
        t0, c0 = time.perf_counter(), time.process_time()
        d = self.agent.act(obs)
        self._t, self._c = time.perf_counter() - t0, time.process_time() - c0
        return d

    def observe(self, obs):
        t0, c0 = time.perf_counter(), time.process_time()
        self.agent.observe(obs)
        self.times.append(self._t + time.perf_counter() - t0)
        self.cpu.append(self._c + time.process_time() - c0)


ONLINE = {"adapt_every": 8, "adapt_steps": 2, "wm_change_k": 8, "wm_novelty_k": 8}  # world-model+online: learning inside the game


def run_agent(agent_name: str, checkpoints: Path, game: str, actions: int, threads: int, every: int) -> dict:
    from aria_cli.agents.contexts import LearnedModels
    from aria_cli.agents.learned import AgentConfig, PolicyAgent, WorldModelAgent
    from aria_cli.games.session import GameSession
    from aria_cli.play.compare import play_one

    models = LearnedModels.load(checkpoints, "cpu", threads=threads)
    cls = {"world-model": WorldModelAgent, "world-model+online": WorldModelAgent, "policy": PolicyAgent}[agent_name]
    config = AgentConfig(**ONLINE) if agent_name == "world-model+online" else AgentConfig()
    samples: list[tuple[int, float]] = []  # (actions so far, RSS MiB)
    done = 0
    episodes = []
    rss0, _ = rss_mb()
    times: list[float] = []  # seconds per action (wall clock), over every episode
    cpu: list[float] = []  # CPU seconds of the process per action (what a machine to itself would take)
    t_start = time.perf_counter()
    seed = 0
    while done < actions:
        timed = Timed(cls(models, config, seed), times, cpu)

        def on_step(obs, action, x, y, info, res, base=done):
            n = base + res.actions
            if action is not None and (n % every == 0 or n == 1):
                samples.append((n, rss_mb()[0]))

        session = GameSession(game, seed=seed, record_dir=None)
        try:
            r = play_one(session, timed, game, seed, actions - done, agent_name, on_step=on_step)
        finally:
            session.close()
        episodes.append(
            {
                "seed": seed,
                "actions": r.actions,
                "levels": r.levels_completed,
                "win_levels": r.win_levels,
                "won": r.won,
                "error": r.error,
                "game_ms": r.game_ms_per_action,
            }
        )
        done += r.actions
        if r.error or r.actions == 0:
            break
        seed += 1
    wall = time.perf_counter() - t_start
    ms = 1000 * np.asarray(times)
    _, peak = rss_mb()
    first = [m for n, m in samples if n <= 1000]
    return {
        "agent": agent_name,
        "game": game,
        "actions": done,
        "threads": threads,
        "wall_s": wall,
        "ms_mean": float(ms.mean()),
        "ms_p50": float(np.percentile(ms, 50)),
        "ms_p95": float(np.percentile(ms, 95)),
        "ms_max": float(ms.max()),
        "cpu_ms_mean": float(1000 * np.mean(cpu)),
        "rss_after_load_mb": rss0,
        "peak_rss_mb": peak,
        "rss_at_1k_mb": first[-1] if first else None,
        "rss_end_mb": samples[-1][1] if samples else None,
        "samples": samples,
        "episodes": episodes,
        "explorer": getattr(getattr(timed.agent, "explorer", None), "stats", lambda: None)(),
    }


# --------------------------------------------------------------------------- report
def report(results: list[dict], load: tuple[float, float]) -> bool:
    from rich.table import Table

    from aria_cli.common.ui import console

    ok_all = True
    t = Table(
        title=f"learned agent cost, {results[0]['game']}, {results[0]['threads']} torch thread(s)",
        title_justify="left",
    )
    for col in ("agent", "figure", "value", "target", ""):
        t.add_column(col, justify="right" if col in ("value",) else "left")
    for r in results:
        growth = None if r["actions"] < 2000 else r["rss_end_mb"] - r["rss_at_1k_mb"]
        rows = [
            ("ms/action, mean", f"{r['ms_mean']:.1f}", f"<= {MS_TARGET:.0f}", r["ms_mean"] <= MS_TARGET),
            ("ms/action, p95", f"{r['ms_p95']:.1f}", "", None),
            ("ms/action, max", f"{r['ms_max']:.0f}", "", None),
            ("CPU ms/action, mean", f"{r['cpu_ms_mean']:.1f}", "", None),
            ("actions", f"{r['actions']:,}", "", None),
            ("RSS after loading, MiB", f"{r['rss_after_load_mb']:.0f}", "", None),
            ("peak RSS, MiB", f"{r['peak_rss_mb']:.0f}", "report", None),
            (
                f"RSS growth 1k → {r['actions'] / 1000:g}k, MiB",
                "—" if growth is None else f"{growth:+.1f}",
                f"flat (<= {GROWTH_TARGET_MB:.0f})",
                None if growth is None else growth <= GROWTH_TARGET_MB,
            ),
            (
                "  per 1,000 actions, MiB",
                "—" if growth is None else f"{1000 * growth / (r['actions'] - 1000):+.2f}",
                "",
                None,
            ),
        ]
        for i, (name, value, target, passed) in enumerate(rows):
            mark = "" if passed is None else ("[green]PASS[/]" if passed else "[red]MISS[/]")
            ok_all &= passed is not False
            t.add_row(r["agent"] if i == 0 else "", name, value, target, mark)
        t.add_section()
    console.print(t)
    for r in results:
        series = "  ".join(f"{n}:{m:.0f}" for n, m in r["samples"])
        console.print(f"[dim]{r['agent']} RSS MiB by action: {series}[/]")
        eps = ", ".join(
            f"seed {e['seed']}: {e['actions']} actions, {e['levels']}/{e['win_levels']} levels"
            + (" (won)" if e["won"] else "")
            + (f" [red]{e['error']}[/]" if e["error"] else "")
            for e in r["episodes"]
        )
        console.print(
            f"[dim]{r['agent']} episodes: {eps}; game step {np.mean([e['game_ms'] for e in r['episodes']]):.1f}"
            f" ms/action; wall {r['wall_s']:.0f} s[/]"
        )
        if r["explorer"]:
            ex = r["explorer"]
            console.print(
                f"[dim]{r['agent']} explorer: {ex['frames']} distinct frames, states per level "
                f"{ex['states']}[/]"
            )
    console.print(
        f"load average while measuring: {load[0]:.2f} at the start, {load[1]:.2f} at the end "
        f"(1-minute; {os.cpu_count()} CPUs)"
    )
    return ok_all


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--checkpoints", type=Path, help="A trained set (default: build small real ones in a temp dir)."
    )
    ap.add_argument("--actions", type=int, default=10_000)
    ap.add_argument(
        "--game", default="qmaz", help="One game (default qmaz); replayed from the next seed if won."
    )
    ap.add_argument("--agents", default="world-model,policy", help="world-model, world-model+online, policy")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (play uses 1)")
    ap.add_argument("--sample-every", type=int, default=500, help="actions between RSS samples")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--work", type=Path, help="Work folder, kept (default: a temporary one, removed at the end).")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # one agent, in this process; result JSON to this file
    args = ap.parse_args()
    if args.child:
        r = run_agent(args.agents, args.checkpoints, args.game, args.actions, args.threads, args.sample_every)
        Path(args.child).write_text(json.dumps(r))
        return
    work = work_folder("bench-agent-", args.work)
    ck = args.checkpoints or build_checkpoints(work)
    load_start = os.getloadavg()[0]
    results = []
    for agent in args.agents.split(","):
        out = work / f"{agent}.json"
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(out),
            "--agents",
            agent,
            "--checkpoints",
            str(ck),
            "--game",
            args.game,
            "--actions",
            str(args.actions),
            "--threads",
            str(args.threads),
            "--sample-every",
            str(args.sample_every),
        ]
        print(f"{agent}: {args.actions:,} actions on {args.game} ...", flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
        results.append(json.loads(out.read_text()))
    ok = report(results, (load_start, os.getloadavg()[0]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
        print(f"wrote {args.json}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
