"""`aria bench` itself: wall time, runs/s, the speed-up of --jobs 2 over --jobs 1, peak memory per worker.

Runs the real CLI (`python -m aria_cli bench`) as a subprocess, as a user would:
1. the bench over the chosen games at --max-actions and --jobs: time taken, runs/s, levels and score per agent;
2. on the first --speedup-games of them, the same bench at --jobs 1 and at --jobs 2: the speed-up;
3. from the main bench's runs.jsonl, each worker's peak RSS after its first run and at its last run
   (ru_maxrss only grows, so flat = the two are close).

Targets (issue 26): the 242-game bench finishes; --jobs 2 over --jobs 1 >= 1.8x on 2 cores; flat worker memory.
Run:  .venv/bin/python benchmarks/bench_aria_bench.py ../shared/realgames/environment_files --sample 12 \\
          --max-actions 500 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from workdir import work_folder

from aria_cli.play.bench import folder_games


def run_bench(env_dir: str | None, games: list[str], agents: list[str], max_actions: int, jobs: int,
              out: Path) -> float:  # fmt: skip
    """Seconds one `aria bench` takes, end to end (worker start-up included)."""
    gf = out.with_suffix(".games.txt")
    gf.write_text("\n".join(games) + "\n")
    cmd = [sys.executable, "-m", "aria_cli", "bench", *([env_dir] if env_dir else []), "--games-file", str(gf),
           "--max-actions", str(max_actions), "--jobs", str(jobs), "--out", str(out)]  # fmt: skip
    for a in agents:
        cmd += ["--agent", a]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def runs_span(out: Path) -> float:
    """Seconds from the first run's start to the last run's end: the bench without its start-up."""
    lines = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]
    return max(d["ended_at"] for d in lines) - min(d["ended_at"] - d["wall_s"] for d in lines)


def worker_memory(out: Path) -> dict[int, tuple[int, float, float]]:
    """worker -> (runs, peak RSS MB after its first run, peak RSS MB after its last)."""
    per: dict[int, list[float]] = defaultdict(list)
    for line in (out / "runs.jsonl").read_text().splitlines():
        d = json.loads(line)
        if "worker_rss_mb" in d:
            per[d["worker"]].append(d["worker_rss_mb"])
    return {w: (len(v), v[0], v[-1]) for w, v in sorted(per.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("env_dir", nargs="?", default=None, help="environments folder (default: the bundled games)")
    ap.add_argument("--sample", type=int, default=0, help="this many games spread over the folder (0: all)")
    ap.add_argument("--agent", action="append", default=None)
    ap.add_argument("--max-actions", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--speedup-games", type=int, default=4, help="games in the --jobs 1 vs 2 comparison")
    ap.add_argument("--work", type=Path, help="Work folder, kept (default: a temporary one, removed at the end).")
    args = ap.parse_args()
    agents = args.agent or ["explore", "random"]
    games = folder_games(Path(args.env_dir) if args.env_dir else None)
    if args.sample and args.sample < len(games):
        step = len(games) / args.sample
        games = [games[int(i * step)] for i in range(args.sample)]
    tmp = work_folder("aria-bench-bench-", args.work)
    n_runs = len(games) * len(agents)
    print(f"{len(games)} games × {len(agents)} agents ({', '.join(agents)}), ≤ {args.max_actions} actions, "
          f"--jobs {args.jobs}; results under {tmp}{"" if args.work else " (removed at the end)"}")  # fmt: skip

    secs = run_bench(args.env_dir, games, agents, args.max_actions, args.jobs, tmp / "main")
    summary = json.loads((tmp / "main" / "summary.json").read_text())
    print(f"bench: {secs:.1f} s for {n_runs} runs, {n_runs / secs:.2f} runs/s, "
          f"{summary['failed_runs']} failed runs")  # fmt: skip
    for agent, t in summary["totals"].items():
        score = "—" if t["score"] is None else f"{t['score']:.2f}"
        print(f"  {agent:8s} levels {t['levels']:.0f} of {t['win_levels']:.0f}, wins {t['wins']}, mean score {score}, "
              f"{t['ms_per_action']:.2f} ms/action")  # fmt: skip

    sub = games[: args.speedup_games]
    t1 = run_bench(args.env_dir, sub, agents, args.max_actions, 1, tmp / "jobs1")
    t2 = run_bench(args.env_dir, sub, agents, args.max_actions, 2, tmp / "jobs2")
    print(f"speed-up on {len(sub)} games: --jobs 1 {t1:.1f} s, --jobs 2 {t2:.1f} s -> {t1 / t2:.2f}x (target ≥ 1.8x)")
    r1, r2 = runs_span(tmp / "jobs1"), runs_span(tmp / "jobs2")
    print(f"  without start-up (first run start to last run end): {r1:.1f} s vs {r2:.1f} s -> {r1 / r2:.2f}x")

    print("peak RSS per worker (MB): after its first run -> after its last run")
    for w, (runs, first, last) in worker_memory(tmp / "main").items():
        print(f"  worker {w}: {runs} runs, {first:.0f} -> {last:.0f} (+{last - first:.0f})")


if __name__ == "__main__":
    main()
