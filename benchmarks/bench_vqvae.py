"""Frame tokenizer: accuracy and training time, encoding speed, training memory (issue 4).

    .venv/bin/python benchmarks/bench_vqvae.py                     # records the bundled games if needed
    .venv/bin/python benchmarks/bench_vqvae.py --data recordings   # your own recordings

Targets, on 2 CPU cores:
- `aria train-vqvae` with default options on recordings of the bundled games (default `aria record`
  settings): val pixel accuracy >= 99.9% (codebook use reported) in <= 3 minutes of training;
- encoding >= 2,000 frames/s;
- peak memory of train-vqvae on 10,000 frames <= 3 GB.

Every run is a separate `aria` process (OpenMP/MKL capped at 2 threads; the tokenizer itself uses one), so
figures match what a user sees.
Recordings made here are kept under $TMPDIR/aria-bench/ and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from workdir import work_folder

ROOT = Path(__file__).resolve().parents[1]
ARIA = [sys.executable, "-m", "aria_cli"]
BENCH_DIR = Path(tempfile.gettempdir()) / "aria-bench"
ENV = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "COLUMNS": "120"}


def bundled_recordings(episodes: int, seed: int = 0) -> Path:
    """Recordings of every bundled game (`aria record` defaults apart from the episode count)."""
    from aria_cli.games.adapter import list_games

    out = BENCH_DIR / f"recordings-{episodes}ep-seed{seed}"
    done = out / ".complete"
    if done.exists():
        return out
    for info in list_games():
        if info.source != "bundled":
            continue
        cmd = [*ARIA, "record", info.game, "--episodes", str(episodes), "--seed", str(seed), "--out", str(out / info.game)]
        subprocess.run(cmd, check=True, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL)
    done.touch()
    return out


def run_aria(args: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in GB, output) of one `aria` command in its own process."""
    with tempfile.TemporaryFile("w+") as log:
        t = time.perf_counter()
        proc = subprocess.Popen([*ARIA, *args], env=ENV, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
        wall = time.perf_counter() - t
        log.seek(0)
        out = log.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"aria {' '.join(args)} failed:\n{out}")
    return wall, usage.ru_maxrss / 1e6, out  # ru_maxrss is in KB on Linux


def encoding_speed(checkpoints: Path, data: Path) -> tuple[float, float, int]:
    """Frames/s of FrameTokenizer.encode on every recorded frame, and on frames of random pixels."""
    import torch

    from aria_cli.data.recordings import find_recordings, read_recording
    from aria_cli.tokenizer.model import load_tokenizer

    torch.set_num_threads(2)
    frames = np.concatenate([np.stack([s.frame for s in read_recording(p).steps]) for p in find_recordings(data)])
    tok = load_tokenizer(checkpoints)
    tok.encode(frames[:256])  # warm-up
    t = time.perf_counter()
    tok.encode(frames)
    game_fps = len(frames) / (time.perf_counter() - t)
    noise = np.random.default_rng(0).integers(0, 16, (2000, 64, 64), dtype=np.uint8)
    t = time.perf_counter()
    tok.encode(noise)
    noise_fps = len(noise) / (time.perf_counter() - t)
    return game_fps, noise_fps, len(frames)


def val_ceiling(train_cells, val) -> tuple[float, float, float]:
    """What a val FrameSet allows a tokenizer whose codes are cell-local (its code depends on its 8x8 pixels
    only), given the training cells: (share of val cells never seen in training, share of val frames with such
    a cell, pixel accuracy of a perfect memoriser that reproduces every training cell and turns each new cell
    into its nearest training cell by pixel distance). Counts include repeated frames, like val_pixel_acc."""
    from aria_cli.tokenizer.data import CellSet

    vc = CellSet.from_frames(val)
    train = train_cells.cells.reshape(len(train_cells.cells), -1)
    dist = np.array([int((train != c).sum(1).min()) for c in vc.cells.reshape(len(vc.cells), -1)])
    n_cells = int(vc.counts.sum())
    unseen_frames = float(val.counts @ (dist[vc.frame_cells] > 0).any(1)) / val.total
    return float(vc.counts[dist > 0].sum()) / n_cells, unseen_frames, 1.0 - float(dist @ vc.counts) / (64 * n_cells)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="Recordings (default: record the bundled games, 10 episodes each).")
    ap.add_argument("--work", type=Path, help="Work folder, kept (default: a temporary one, removed at the end).")
    ap.add_argument("--skip-memory", action="store_true", help="Skip the 10,000-frame memory run.")
    args = ap.parse_args()
    data = args.data or bundled_recordings(10)
    work = work_folder("bench-vqvae-", args.work)
    ck = work / "ck"
    print(f"recordings: {data}   (each run in its own process on 2 cores; load average now {os.getloadavg()[0]:.1f})")

    wall, peak, out = run_aria(["train-vqvae", "--data", str(data), "--checkpoints", str(ck), "--device", "cpu"])
    m = json.loads((ck / "vqvae" / "metrics.json").read_text())
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    print(f"train-vqvae (defaults): {m['train_frames']} train / {m['val_frames']} val frames, "
          f"{m['epochs']} epochs ({m['stop_reason']}), best epoch {m['best_epoch']}")  # fmt: skip
    print(f"  val pixel accuracy   {100 * m['val_pixel_acc']:.3f}%   target >= 99.9%  {ok(m['val_pixel_acc'] >= 0.999)}")
    print(f"  val frames exact     {100 * m['val_frame_exact']:.1f}%")
    print(f"  train pixel accuracy {100 * m['train_pixel_acc']:.3f}%")
    print(f"  codebook used        {100 * m['codebook_used']:.1f}% on val, {100 * m['codebook_used_train']:.1f}% on train")
    from aria_cli.tokenizer.data import CellSet, collect_frames

    d = collect_frames(data)
    train_cells = CellSet.from_frames(d.train)
    unseen, unseen_frames, ceiling = val_ceiling(train_cells, d.val)
    print(f"  val cells never seen in training: {100 * unseen:.2f}% (in {100 * unseen_frames:.1f}% of val frames); "
          f"a perfect memoriser of training cells (nearest training cell for new ones) gets {100 * ceiling:.3f}%")
    print("  per game (val):  pixel acc   cells new to training   perfect memoriser")
    for game, g in m["games"].items():
        unseen, _, ceiling = val_ceiling(train_cells, d.val_by_game[game])
        print(f"    {game:<12} {100 * g['val_pixel_acc']:8.3f}%   {100 * unseen:19.2f}%   {100 * ceiling:16.3f}%")
    print(f"  training time        {m['seconds']:.0f} s (whole command {wall:.0f} s)   target <= 180 s  {ok(m['seconds'] <= 180)}")
    print(f"  peak memory          {peak:.2f} GB")

    game_fps, noise_fps, n = encoding_speed(ck, data)
    print(f"encoding: {game_fps:,.0f} frames/s on {n} game frames   target >= 2,000  {ok(game_fps >= 2000)}")
    print(f"          {noise_fps:,.0f} frames/s on random-pixel frames (worst case: no repeated cells)")

    if not args.skip_memory:
        big = bundled_recordings(20, seed=100)
        from aria_cli.data.recordings import find_recordings, read_recording

        frames = sum(len(read_recording(p).steps) for p in find_recordings(big))
        ck2 = work / "ck-big"
        wall, peak, _ = run_aria(["train-vqvae", "--data", str(big), "--checkpoints", str(ck2), "--device", "cpu", "--epochs", "1"])
        print(f"memory: train-vqvae on {frames:,} frames (1 epoch, {wall:.0f} s): peak {peak:.2f} GB   "
              f"target <= 3 GB  {ok(peak <= 3)}")  # fmt: skip


if __name__ == "__main__":
    main()
