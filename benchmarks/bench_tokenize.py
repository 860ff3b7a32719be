"""`aria tokenize` speed (issue 4): 10,000 steps in <= 20 s on 2 CPU cores; cached runs are cheap.

    .venv/bin/python benchmarks/bench_tokenize.py                  # records the bundled games if needed
    .venv/bin/python benchmarks/bench_tokenize.py --data recordings --checkpoints checkpoints

Measures whole `aria tokenize` processes (start-up included, 2 threads): a cold build, a run with
nothing changed (reuse), and a run after one recording changed (only that file is encoded again).
Without --checkpoints the tokenizer is an untrained default-size model: encoding cost depends on the
frames (distinct cells), not on the weights.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vqvae import bundled_recordings, run_aria  # noqa: E402
from workdir import work_folder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="Recordings (default: the bundled games, 20 episodes each).")
    ap.add_argument("--checkpoints", type=Path, help="Use this tokenizer (default: an untrained one).")
    ap.add_argument("--work", type=Path, help="Work folder, kept (default: a temporary one, removed at the end).")
    args = ap.parse_args()
    from aria_cli.data.recordings import find_recordings, read_recording

    data = args.data or bundled_recordings(20, seed=100)
    work = work_folder("bench-tokenize-", args.work)
    ck = work / "ck"
    if args.checkpoints:
        shutil.copytree(args.checkpoints / "vqvae", ck / "vqvae")
    else:
        import torch

        from aria_cli.tokenizer import model as vqvae

        torch.manual_seed(0)
        vqvae.save_model(vqvae.VQVAE(vqvae.VQVAEConfig()), vqvae.vqvae_dir(ck))
    copy = work / "data"
    shutil.copytree(data, copy)  # so that changing a file below leaves the originals alone
    files = find_recordings(copy)
    steps = sum(len(read_recording(p).steps) - 1 for p in files)
    print(f"{len(files)} recordings, {steps:,} steps; load average now {os.getloadavg()[0]:.1f}")

    cmd = ["tokenize", "--data", str(copy), "--checkpoints", str(ck), "--device", "cpu"]
    cold, peak, _ = run_aria(cmd)
    per_10k = cold * 10_000 / steps
    ok = "ok" if per_10k <= 20 else "MISSED"
    print(f"cold build      {cold:6.1f} s  ({per_10k:.1f} s per 10,000 steps; target <= 20 s  {ok}), peak {peak:.2f} GB")
    warm, _, out = run_aria(cmd)
    print(f"nothing changed {warm:6.1f} s  ({'reused' if 'reused' in out else 'NOT reused'})")
    lines = files[0].read_bytes().splitlines(keepends=True)
    files[0].write_bytes(b"".join(lines[:-1]))  # drop the last step
    one, _, out = run_aria(cmd)
    line = next((x for x in out.splitlines() if "token cache" in x), "")
    print(f"one file changed {one:5.1f} s  ({line.strip()})")


if __name__ == "__main__":
    main()
