"""Tokenizing and training at corpus scale (issue 28): hundreds of recordings, tens of millions of tokens.

    .venv/bin/python benchmarks/bench_corpus.py --data CORPUS --checkpoints CK       # CK/vqvae: a trained tokenizer
    .venv/bin/python benchmarks/bench_corpus.py --data CORPUS --sample 5             # a smoke run in a minute or two

Runs, each as its own `aria` process (2 threads): `aria tokenize` (a cold build, then again with nothing
changed) and `aria train-wm` for --time-budget minutes, on a copy of the tokenizer in a work folder (the
cache is never written into CK). Prints the corpus (recordings, steps, tokens), tokenize seconds and
frames/s, the cache's size on disk, each process's peak RSS, and training tokens/s. No targets: figures only.

Without --checkpoints a small tokenizer is trained first (`aria train-vqvae --epochs --tokenizer-epochs`) on
--tokenizer-files of the recordings: encoding speed depends on the frames' distinct cells, not on how good
the tokenizer is. The time budget covers each epoch's validation pass over the whole val split too: on
a CPU, a corpus of hundreds of recordings spends most of a short budget there (the figures say how long).
Peak RSS counts the pages of the memory-mapped token cache a process has read (they are
the file's, given back under memory pressure).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vqvae import run_aria  # noqa: E402
from workdir import work_folder  # noqa: E402


def sample_recordings(data: Path, n: int | None, seed: int, out: Path) -> tuple[Path, int, int]:
    """A data folder of `n` of the recordings under `data` (links; all of them when `n` is None), and
    how many it holds of how many."""
    from aria_cli.data.recordings import find_recordings
    from aria_cli.data.splits import link_recordings

    files = find_recordings(data)
    if n is None or n >= len(files):
        return data, len(files), len(files)
    pick = np.random.default_rng(seed).choice(len(files), size=n, replace=False)
    return link_recordings([files[i] for i in sorted(pick)], out), n, len(files)


def tokenizer_into(ck: Path, checkpoints: Path | None, data: Path, files: int, epochs: int, work: Path) -> str:
    """Put a tokenizer under ck/vqvae: a copy of the given one, or one trained briefly here."""
    if checkpoints is not None:
        shutil.copytree(checkpoints / "vqvae", ck / "vqvae")
        return f"tokenizer from {checkpoints / 'vqvae'}"
    sample, n, _ = sample_recordings(data, files, 1, work / "tokenizer-data")
    wall, peak, _ = run_aria(["train-vqvae", "--data", str(sample), "--checkpoints", str(ck), "--epochs", str(epochs),
                              "--device", "cpu"])  # fmt: skip
    return f"tokenizer trained here: {epochs} epoch(s) on {n} recordings in {wall:.0f} s (peak RSS {peak:.2f} GB)"


def cache_figures(ck: Path) -> dict:
    cache = ck / "world_model" / "cache"
    index = json.loads((cache / "index.json").read_text())
    size = lambda files: sum(f.stat().st_size for f in files if f.is_file())  # noqa: E731
    return {
        "recordings": len(index["episodes"]),
        "steps": sum(e["n_actions"] for e in index["episodes"]),
        "tokens": index["n_tokens"],
        "cache_mb": size([cache / "index.json", *cache.glob("cache-*")]) / 1e6,
        "entries_mb": size((cache / "entries").rglob("*.npz")) / 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="The corpus: a folder of recordings.")
    ap.add_argument("--checkpoints", type=Path, help="A checkpoints folder with a trained tokenizer (vqvae/).")
    ap.add_argument("--sample", type=int, help="Only this many recordings, drawn at random (default: all).")
    ap.add_argument("--seed", type=int, default=0, help="Seed of the --sample draw.")
    ap.add_argument("--tokenizer-epochs", type=int, default=1, help="Without --checkpoints: epochs of the tokenizer trained here.")
    ap.add_argument("--tokenizer-files", type=int, default=2, help="Without --checkpoints: recordings it trains on.")
    ap.add_argument("--time-budget", type=float, default=2.0, help="Minutes of `aria train-wm` (validation included).")
    ap.add_argument("--backbone", default="tiny", help="train-wm --backbone.")
    ap.add_argument("--device", default="cpu", help="train-wm --device (tokenize always runs on the CPU).")
    ap.add_argument("--work", type=Path, help="Work folder, kept (default: a temporary one, removed at the end).")
    args = ap.parse_args()

    work = work_folder("bench-corpus-", args.work)
    ck = work / "ck"
    data, n, of = sample_recordings(args.data, args.sample, args.seed, work / "data")
    print(f"work folder {work}; {n} of {of} recordings under {args.data}")
    print(tokenizer_into(ck, args.checkpoints, data, args.tokenizer_files, args.tokenizer_epochs, work))

    cmd = ["tokenize", "--data", str(data), "--checkpoints", str(ck), "--device", "cpu"]
    cold, cold_rss, out = run_aria(cmd)
    built = re.search(r"encoded ([\d,]+) frames .* \(([\d,]+) frames/s\)", out)
    warm, warm_rss, out_again = run_aria(cmd)
    c = cache_figures(ck)
    print(f"corpus      {c['recordings']:,} recordings, {c['steps']:,} steps, {c['tokens']:,} tokens")
    frames = f"{built[1]} frames encoded, {built[2]} frames/s" if built else "no frame encoded"
    print(f"tokenize    {cold:.1f} s ({frames}), peak RSS {cold_rss:.2f} GB")
    print(f"cache       {c['cache_mb']:,.1f} MB on disk (+ {c['entries_mb']:,.1f} MB of per-file entries)")
    reused = "reused" if "reused the token cache" in out_again else "NOT reused"
    print(f"tokenize    again, nothing changed: {warm:.1f} s ({reused}), peak RSS {warm_rss:.2f} GB")

    train = ["train-wm", "--data", str(data), "--checkpoints", str(ck), "--backbone", args.backbone,
             "--time-budget", str(args.time_budget), "--device", args.device]  # fmt: skip
    wall, rss, out = run_aria(train)
    history = [json.loads(x) for x in (ck / "world_model" / "metrics.jsonl").read_text().splitlines()]
    tokens = sum(r["train_tokens"] for r in history)
    seconds = sum(r["train_s"] for r in history)
    val_s = sum(r["epoch_s"] - r["train_s"] for r in history)
    plan = next((x.strip() for x in out.splitlines() if x.startswith("time budget")), "")
    if plan:
        print(f"train-wm    {plan}")
    print(f"train-wm    {args.backbone}, {args.time_budget:g} min budget: {wall:.0f} s in all, {history[-1]['step']:,} steps, "
          f"{tokens:,} tokens in {seconds:.0f} s = {tokens / max(seconds, 1e-9):,.0f} tok/s; validation {val_s:.0f} s; "
          f"peak RSS {rss:.2f} GB")


if __name__ == "__main__":
    main()
