"""Frame tokenizer on real ARC-AGI-3 frames, games seen in training and games never seen (issue 27).

    .venv/bin/python benchmarks/bench_tokenizer_real.py --bench-recordings RUNS/recordings --out OUT
    .venv/bin/python benchmarks/bench_tokenizer_real.py --out OUT -- --codebook-size 4096   # train-vqvae options after --
    .venv/bin/python benchmarks/bench_tokenizer_real.py --smoke --out /tmp/tokreal-smoke      # a minute; not a result

Data: the preview games' demonstrations (`make_demos.py`, `--demo-variants` per game, made under OUT/demos
unless `--preview-demos` names them) and `aria bench --record` runs over the community games
(`--bench-recordings DIR`, laid out DIR/<game>/<game>-<agent>-seed<s>.jsonl; without it the script
records `--agents` itself at `--record-actions` actions per run, under OUT/bench). The recordings of a
chosen game by `--agents` at `--run-seeds` are used: by default the explore agent's runs at seeds 0 and 1,
the data the issue names; with two files per game the tokenizer's own val split (aria_cli.data.splits)
holds one out, so seen games get val figures. (`--agents explore random --run-seeds 0` is the earlier
protocol: the random run as val shows content explore never reached, 3.1% of its cells against 0.5%.)

Games: `--unseen-games` community games (20) are drawn with `aria_cli.data.splits.draw_fold` (`--seed`);
training is the preview demos plus other community games, taken in a fixed order drawn with the same
seed until the training set reaches `--frames` (50,000) frames, or `--train-games` of them. The training
folder is made of links (OUT/train); the script checks with `leave_games_out` that none of its
recordings names an unseen game, and that every recording in OUT/unseen does.

Measured: `aria train-vqvae` in its own process on 2 threads (`--threads 2`, both cores of the target
machine; train-vqvae options after `--` come later and win): wall time and peak memory;
seen-game figures from its metrics.json; unseen-game figures by `aria_cli.tokenizer.evaluate`
(what `aria eval-tokenizer` prints); encoding speed of `FrameTokenizer.encode` on the unseen games'
frames in recording order, in batches of the token cache's size, on 1 thread (the tokenizer's default,
what `aria tokenize` uses: the target) and on 2 (reported; on a busy 2-core machine often slower).

Targets: seen games pixel accuracy >= 99.95%, frames exact >= 50%; unseen games (>= 20) pixel accuracy
>= 99.85% (frames exact reported); encoding >= 2,000 frames/s; training <= 30 min on 2 CPU cores
(<= 3 min with --device cuda) for ~50,000 frames; peak memory <= 6 GB. Output: a table and
OUT/summary.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aria_cli.common import atomic  # noqa: E402
from aria_cli.data.splits import draw_fold, leave_games_out, link_recordings, recording_games  # noqa: E402
from aria_cli.play.bench import recording_name  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vqvae import run_aria  # noqa: E402  (one `aria` process: wall time, peak memory, output)

ARIA = [sys.executable, "-m", "aria_cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "COLUMNS": "140"}
PREVIEW = ("ls20", "vc33", "ft09")
DEFAULT_ENVS = ROOT.parent / "shared" / "realgames" / "environment_files"
TARGETS = {"seen_pixel_acc": 0.9995, "seen_frame_exact": 0.50, "unseen_pixel_acc": 0.9985, "encode_fps": 2000,
           "train_seconds_cpu": 1800, "train_seconds_cuda": 180, "peak_gb": 6.0}  # fmt: skip


# --------------------------------------------------------------------------- data
def count_frames(files: list[Path]) -> int:
    """Steps of these recordings (one line each; a closing summary line without a frame is rare)."""
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            n += sum(1 for _ in fh)
    return n


def preview_demos(args, out: Path) -> Path:
    """The preview games' demonstrations: `--preview-demos`, or made once by make_demos.py under OUT/demos."""
    if args.preview_demos:
        return args.preview_demos
    games = PREVIEW[2:] if args.smoke else PREVIEW  # ft09 has the shortest solution
    demos = out / "demos"
    script, solutions = args.environments_dir.parent / "make_demos.py", args.environments_dir.parent / "solutions"
    for g in games:
        done = demos / g / ".complete"
        if done.exists():
            continue
        shutil.rmtree(demos / g, ignore_errors=True)
        cmd = [sys.executable, str(script), str(args.environments_dir), str(solutions / f"{g}.jsonl"), g, str(demos / g),
               str(args.demo_variants)]  # fmt: skip
        subprocess.run(cmd, check=True, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL)
        done.touch()
    return demos


def game_files(recordings: Path, game: str, args) -> list[Path]:
    """The game's recordings by `--agents` at `--run-seeds` that exist."""
    names = (recording_name(game, a, s) for a in args.agents for s in args.run_seeds)
    return sorted(f for f in (recordings / game / n for n in names) if f.is_file())


def record_games(args, games: list[str], out: Path) -> Path:
    """`aria bench --record` runs of `--agents` over these games (resumed when OUT/bench has some)."""
    cmd = [*ARIA, "bench", str(args.environments_dir), *[x for g in games for x in ("--game", g)],
           *[x for a in args.agents for x in ("--agent", a)], "--seeds", ",".join(map(str, args.run_seeds)), "--record",
           "--max-actions", str(args.record_actions),
           "--jobs", "2", "--out", str(out / "bench")]  # fmt: skip
    if (out / "bench" / "runs.jsonl").exists():
        cmd.append("--resume")
    subprocess.run(cmd, check=True, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL)
    return out / "bench" / "recordings"


def cut(files: list[Path], steps: int, out: Path) -> list[Path]:
    """Copies of the first `steps` lines of each file (--max-steps, for the smoke run)."""
    cut_files = []
    for f in files:
        dst = out / "cut" / f.parent.name / f.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(f) as src:
            dst.write_text("".join(itertools.islice(src, steps)))
        cut_files.append(dst)
    return cut_files


def choose_games(args, out: Path) -> dict:
    """Unseen games, training games and their recording files (deterministic in --seed)."""
    source = args.bench_recordings
    if source is not None:
        community = sorted(p.name for p in source.iterdir() if p.is_dir() and p.name not in PREVIEW
                           and game_files(source, p.name, args))  # fmt: skip
    else:
        community = sorted(p.name for p in args.environments_dir.iterdir() if p.is_dir() and p.name not in PREVIEW)
    unseen = draw_fold(community, args.unseen_games, args.seed)
    rest = sorted(set(community) - set(unseen))
    order = [rest[i] for i in np.random.default_rng([args.seed, 1]).permutation(len(rest))]
    demo_files = sorted(preview_demos(args, out).rglob("*.jsonl"))
    if args.max_steps:
        demo_files = cut(demo_files, args.max_steps, out)
    budget = args.frames - count_frames(demo_files)
    if source is None:  # no recordings to count yet: size the draw by the action budget
        n = args.train_games or max(1, -(-budget // (args.record_actions * len(args.agents) * len(args.run_seeds))))
        source = record_games(args, unseen + order[:n], out)
    train_games, train_files = [], list(demo_files)
    for g in order:
        if (args.train_games and len(train_games) >= args.train_games) or (not args.train_games and budget <= 0):
            break
        files = game_files(source, g, args)
        if not files:
            continue
        files = cut(files, args.max_steps, out) if args.max_steps else files
        train_games.append(g)
        train_files += files
        budget -= count_frames(files)
    unseen_files = [f for g in unseen for f in game_files(source, g, args)]
    if args.max_steps:
        unseen_files = cut(unseen_files, args.max_steps, out)
    return {"unseen": unseen, "train": train_games, "train_files": train_files, "unseen_files": unseen_files}


def build_folders(sel: dict, out: Path) -> tuple[Path, Path, dict]:
    """OUT/train and OUT/unseen (links), and the leave-games-out check of both."""
    for name in ("train", "unseen"):
        shutil.rmtree(out / name, ignore_errors=True)
    train = link_recordings(sel["train_files"], out / "train")
    unseen = link_recordings(sel["unseen_files"], out / "unseen")
    kept, leaked = leave_games_out(train, sel["unseen"])
    not_unseen, held = leave_games_out(unseen, sel["unseen"])
    assert not leaked, f"recordings of unseen games in training: {leaked}"
    assert not not_unseen, f"recordings in OUT/unseen that name no unseen game: {not_unseen}"
    games_in_train = sorted({g for f in kept for g in recording_games(f)})
    check = {"train_files": len(kept), "unseen_files": len(held), "train_games": games_in_train,
             "unseen_in_train": sorted(set(games_in_train) & set(sel["unseen"]))}  # fmt: skip
    assert not check["unseen_in_train"]
    return train, unseen, check


# --------------------------------------------------------------------------- measuring
def encoding_speed(checkpoints: Path, data: Path, device: str) -> dict:
    """Frames/s of FrameTokenizer.encode on every frame under `data` in recording order, in batches of
    the token cache's size (what `aria tokenize` does), on 1 and 2 threads."""
    from aria_cli.data.recordings import find_recordings, read_recording
    from aria_cli.data.token_cache import ENCODE_FRAMES
    from aria_cli.tokenizer.model import load_tokenizer

    frames = np.concatenate([np.stack([s.frame for s in read_recording(p).steps]) for p in find_recordings(data)])
    tok = load_tokenizer(checkpoints, device=device)
    out = {"frames": len(frames)}
    for threads in (1, 2):
        tok.threads = threads
        tok.encode(frames[:256])  # warm-up
        passes, t = 0, time.perf_counter()
        while passes == 0 or time.perf_counter() - t < 2.0:  # a few frames (smoke) are timed over several passes
            for i in range(0, len(frames), ENCODE_FRAMES):
                tok.encode(frames[i : i + ENCODE_FRAMES])
            passes += 1
        out[f"fps_{threads}_threads"] = passes * len(frames) / (time.perf_counter() - t)
    return out


# --------------------------------------------------------------------------- report
def _gap(measured: float, target: float, unit: str) -> str:
    d = measured - target
    return f"{100 * d:+.2f} pt" if unit == "pct" else f"{d:+,.1f} {unit}"


def target_rows(s: dict, device: str) -> list[dict]:
    """Each target: measured figure, pass/fail, gap (positive: better than the target for an at-least target)."""
    seen, unseen = s["seen"], s["unseen"]
    rows = [("seen games: val pixel accuracy", seen["val_pixel_acc"], ">=", TARGETS["seen_pixel_acc"], "pct"),
            ("seen games: val frames exact", seen["val_frame_exact"], ">=", TARGETS["seen_frame_exact"], "pct"),
            ("seen games: val frames exact, the decoder network alone", seen["val_frame_exact_network"], None, None, "pct"),
            (f"unseen games ({len(s['games']['unseen'])}): pixel accuracy", unseen["val_pixel_acc"], ">=",
             TARGETS["unseen_pixel_acc"], "pct"),
            ("unseen games: frames exact", unseen["val_frame_exact"], None, None, "pct"),
            ("unseen games: non-background pixel accuracy", unseen["val_foreground_pixel_acc"], None, None, "pct"),
            ("unseen games: cells new to training", unseen["val_cells_unseen"], None, None, "pct"),
            ("encoding, 1 thread as `aria tokenize` runs it (frames/s)", s["encode"]["fps_1_threads"], ">=",
             TARGETS["encode_fps"], "frames/s"),
            ("encoding, 2 threads (frames/s)", s["encode"]["fps_2_threads"], None, None, "frames/s"),
            (f"training frames (train {seen['train_frames']:,} + val {seen['val_frames']:,})",
             seen["train_frames"] + seen["val_frames"], None, None, "frames")]  # fmt: skip
    key = "train_seconds_cuda" if device == "cuda" else "train_seconds_cpu"
    where = "GPU" if device == "cuda" else "2 CPU cores"
    rows += [(f"train-vqvae wall time, {where} (s)", s["train"]["wall_s"], "<=", TARGETS[key], "s"),
             ("train-vqvae peak memory (GB)", s["train"]["peak_gb"], "<=", TARGETS["peak_gb"], "GB")]  # fmt: skip
    out = []
    for name, value, op, target, unit in rows:
        row = {"target": name, "measured": value, "goal": None, "pass": None, "gap": None, "unit": unit}
        if op is not None and value is not None:
            ok = value >= target if op == ">=" else value <= target
            row["pass"] = ok
            row["goal"] = f"{op} {100 * target:g}%" if unit == "pct" else f"{op} {target:,}"
            row["gap"] = _gap(value, target, unit) if op == ">=" else _gap(target, value, unit)
        out.append(row)
    return out


def print_report(s: dict) -> None:
    from rich.table import Table

    from aria_cli.common import ui
    from aria_cli.tokenizer.metrics import games_table

    t = Table(title=f"issue 27: tokenizer on real frames{' (SMOKE: not a result)' if s['smoke'] else ''}",
              title_justify="left")  # fmt: skip
    for c in ("target", "measured", "goal", "pass", "gap (+: headroom)"):
        t.add_column(c, justify="left" if c == "target" else "right")
    for r in s["targets"]:
        v = r["measured"]
        shown = ui.pct(v, 3) if r["unit"] == "pct" else ("—" if v is None else f"{v:,.1f}" if r["unit"] in ("s", "GB")
                                                         else f"{v:,.0f}")  # fmt: skip
        passed = "" if r["pass"] is None else ("pass" if r["pass"] else "FAIL")
        t.add_row(r["target"], shown, r["goal"] or "reported", passed, r["gap"] or "")
    ui.console.print(games_table(s["seen"]["games"], "seen games: val"))
    ui.console.print(games_table(s["unseen"]["games"], "unseen games: all"))
    ui.console.print(t)


# --------------------------------------------------------------------------- main
def parse(argv: list[str]) -> argparse.Namespace:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench-recordings", type=Path, help="aria bench recordings folder (<game>/<game>-<agent>-seed<s>.jsonl).")
    ap.add_argument("--preview-demos", type=Path, help="Recordings of the preview games (default: make them with make_demos.py).")
    ap.add_argument("--environments-dir", type=Path, default=DEFAULT_ENVS, help="The real games (beside make_demos.py and solutions/).")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench-tokenizer-real")
    ap.add_argument("--unseen-games", type=int, default=20)
    ap.add_argument("--train-games", type=int, default=0, help="Community games in training (default: enough for --frames).")
    ap.add_argument("--frames", type=int, default=50_000, help="Training set size to reach, demos included.")
    ap.add_argument("--agents", nargs="+", default=["explore"], help="Whose bench recordings to use.")
    ap.add_argument("--run-seeds", type=lambda v: [int(x) for x in v.split(",")], default=[0, 1],
                    help="The bench runs' seeds to use, e.g. 0,1 (two files a game give seen games a val split).")
    ap.add_argument("--demo-variants", type=int, default=5)
    ap.add_argument("--record-actions", type=int, default=0, help="Actions per recorded run when recording here (2,000).")
    ap.add_argument("--max-steps", type=int, default=0, help="Use only each recording's first N steps.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--smoke", action="store_true", help="2 unseen + 2 training games, 120 steps each, 1 epoch.")
    args = ap.parse_args(argv)
    args.train_options = extra
    if args.smoke:
        args.unseen_games, args.train_games, args.demo_variants = 2, 2, 2
        args.max_steps = args.max_steps or 120
        args.train_options = ["--epochs", "1", *extra]
    args.record_actions = args.record_actions or (args.max_steps if args.smoke else 2000)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    needs_games = args.preview_demos is None or args.bench_recordings is None
    if needs_games and not (args.environments_dir / "ls20").is_dir():
        sys.exit(f"no real games in {args.environments_dir} (to make demos or recordings): give --environments-dir, "
                 "or both --preview-demos and --bench-recordings")  # fmt: skip
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    sel = choose_games(args, out)
    train, unseen, check = build_folders(sel, out)
    print(f"unseen games ({len(sel['unseen'])}): {' '.join(sel['unseen'])}")
    print(f"training: preview demos + {len(sel['train'])} community games: {' '.join(sel['train'])}")
    print(f"leave_games_out: {check['train_files']} training recordings name none of the unseen games; "
          f"all {check['unseen_files']} recordings in {unseen} name one")  # fmt: skip
    ck = out / "ck"
    shutil.rmtree(ck, ignore_errors=True)
    wall, peak, log = run_aria(["train-vqvae", "--data", str(train), "--checkpoints", str(ck), "--device", args.device,
                                "--threads", "2", *args.train_options])  # fmt: skip
    (out / "train-vqvae.log").write_text(log)
    seen = json.loads((ck / "vqvae" / "metrics.json").read_text())
    from aria_cli.tokenizer.evaluate import evaluate_recordings

    t = time.perf_counter()
    unseen_m = evaluate_recordings(ck, unseen, train_data=train, device=args.device)
    eval_s = time.perf_counter() - t
    summary = {
        "smoke": args.smoke, "seed": args.seed, "agents": args.agents, "run_seeds": args.run_seeds, "device": args.device,
        "train_options": args.train_options,
        "games": {"unseen": sel["unseen"], "train_community": sel["train"], "leave_games_out": check},
        "train": {"wall_s": round(wall, 1), "loop_s": seen["seconds"], "peak_gb": round(peak, 3), "epochs": seen["epochs"],
                  "stop_reason": seen["stop_reason"]},
        "seen": {k: seen[k] for k in ("val_pixel_acc", "val_frame_exact", "val_foreground_pixel_acc", "val_cells_unseen",
                                      "val_pixel_acc_network", "val_frame_exact_network", "train_frames", "val_frames", "train_pixel_acc", "codebook_used", "games")},
        "unseen": unseen_m, "eval_s": round(eval_s, 1),
        "encode": encoding_speed(ck, unseen, args.device),
        "load_average": os.getloadavg()[0],
    }  # fmt: skip
    summary["targets"] = target_rows(summary, args.device)
    atomic.write_json(out / "summary.json", summary)
    print_report(summary)
    print(f"train-vqvae: {seen['epochs']} epochs ({seen['stop_reason']}), {wall:.0f} s whole command; evaluation of "
          f"the unseen games {eval_s:.0f} s; wrote {out / 'summary.json'}")  # fmt: skip


if __name__ == "__main__":
    main()
