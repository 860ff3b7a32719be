"""World-model training speed, memory and overhead; optionally the quality target on real recordings.

    .venv/bin/python benchmarks/bench_train_wm.py                      # throughput, memory, overhead
    .venv/bin/python benchmarks/bench_train_wm.py --data recordings --checkpoints checkpoints
                                                                       # + the default `aria train-wm` run

Targets (issue 5), on 2 CPU cores:
- tiny preset: >= 3,000 training tokens/s, peak memory <= 6 GB;
- data pipeline and loss overhead <= 10%: full training steps (collate windows, weighted loss, clipping,
  optimizer) against bare forward + backward + optimizer step of the same model on the same, already
  collated batches with a plain cross-entropy;
- with --data: the default `aria train-wm` (tiny, CPU time budget) reaches val frame_acc > 80% and above
  copy_frame_acc in <= 6 minutes.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aria_cli.common.devices import make_accelerator
from aria_cli.data.token_cache import EpisodeEntry, TokenCache
from aria_cli.vocab import CLICK, LOC_NULL, N_SPECIAL, Vocab, episode_tokens
from aria_cli.world_model.data import collate, epoch_order, epoch_windows
from aria_cli.world_model.model import WorldModel
from aria_cli.world_model.presets import TINY, Preset
from aria_cli.world_model.train import WorldModelTrainConfig, lr_lambda, train_step, train_world_model


def synthetic_cache(n_episodes: int = 12, n_actions: int = 200, seed: int = 0) -> TokenCache:
    """Episodes whose frames change a few cells per step (like the games): realistic lengths and roles."""
    rng = np.random.default_rng(seed)
    parts, episodes, start = [], [], 0
    for e in range(n_episodes):
        frame = rng.integers(0, 40, 64)
        frames = [frame.copy()]
        for _ in range(n_actions):
            frame[rng.integers(0, 64, 3)] = rng.integers(0, 512, 3)
            frames.append(frame.copy())
        types = rng.integers(1, 7, n_actions)
        locs = np.where(types == CLICK, rng.integers(0, 64, n_actions), LOC_NULL)
        level = rng.random(n_actions) < 0.02
        tokens, offsets = episode_tokens(Vocab(0), np.stack(frames), types, locs, level)
        parts.append(tokens)
        episodes.append(EpisodeEntry(f"ep{e}.jsonl", "synth", "train" if e else "val", start, start + len(tokens),
                                     offsets, n_actions, int(level.sum()), [], []))  # fmt: skip
        start += len(tokens)
    return TokenCache(np.concatenate(parts).astype(np.int32), episodes, "synthetic", Path("."))


def measure(steps: int, warmup: int) -> dict:
    acc = make_accelerator("cpu")
    cache = synthetic_cache()
    preset = Preset.from_name(TINY)
    ctx, batch_size, lr = preset.context_steps, preset.batch_size, preset.lr
    torch.manual_seed(0)
    wm = WorldModel.create("tiny", context_steps=ctx)
    opt = torch.optim.AdamW(wm.trainable_parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    model, opt = acc.prepare(wm, opt)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(10 * (steps + warmup)))
    train_ids = cache.split("train")
    windows = epoch_windows(cache, train_ids, ctx, seed=0, epoch=0)
    order = epoch_order(len(windows), batch_size, 0, 0)
    n = warmup + steps
    idx = [order[i * batch_size : (i + 1) * batch_size] for i in range(n)]

    lm = wm._lm()

    def full_step(i: int) -> int:
        """Exactly what `aria train-wm` does per step: collate windows, weighted loss, clip, update."""
        batch = collate(cache, windows.take(idx[i]))
        train_step(acc, model, opt, sched, batch, grad_clip=1.0)
        return batch.n_tokens

    collated = [collate(cache, windows.take(idx[i])) for i in range(n)]

    def bare_step(i: int) -> None:
        """The same model and batch, collated beforehand, plain cross-entropy, no clipping."""
        b = collated[i]
        logits = lm(input_ids=b.tokens, use_cache=False).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, N_SPECIAL), b.tokens[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    # Interleaved, so that load from other processes falls on both alike.
    t_full = t_bare = 0.0
    tokens = 0
    for i in range(n):
        t0 = time.perf_counter()
        n_tok = full_step(i)
        t1 = time.perf_counter()
        bare_step(i)
        t2 = time.perf_counter()
        if i >= warmup:
            t_full += t1 - t0
            t_bare += t2 - t1
            tokens += n_tok
    return {
        "tokens_per_s": tokens / t_full,
        "overhead": t_full / t_bare - 1,
        "params_m": sum(p.numel() for p in wm.parameters()) / 1e6,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def quality(data: Path, checkpoints: Path) -> dict:
    """The default `aria train-wm` on a CPU; val metrics of `best/` (the checkpoint every later stage uses)."""
    t0 = time.perf_counter()
    res = train_world_model(WorldModelTrainConfig(data=data, checkpoints=checkpoints, device="cpu"))
    best = res.history[res.best_epoch - 1]["val"] if res.best_epoch else None
    return {
        "minutes": (time.perf_counter() - t0) / 60,
        "epochs": res.epochs_done,
        "best_epoch": res.best_epoch,
        "final_frame_acc": res.metrics["final"]["all"]["frame_acc"] if res.metrics["final"] else None,
        **(best["all"] if best else {}),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (the target is for 2 cores)")
    ap.add_argument("--data", type=Path, help="recordings: also run the default `aria train-wm` on them")
    ap.add_argument("--checkpoints", type=Path, help="checkpoints with a trained tokenizer (with --data)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    m = measure(args.steps, args.warmup)
    ok = True

    def report(name: str, value: str, target: str, passed: bool) -> None:
        nonlocal ok
        ok &= passed
        print(f"{name:<34} {value:>12}   target {target:<10} {'ok' if passed else 'MISSED'}")

    print(f"tiny preset: {m['params_m']:.2f}M parameters, {args.threads} threads")
    report("training throughput", f"{m['tokens_per_s']:,.0f} tok/s", ">= 3,000", m["tokens_per_s"] >= 3000)
    report("peak memory (RSS)", f"{m['peak_gb']:.2f} GB", "<= 6 GB", m["peak_gb"] <= 6)
    report("data pipeline + loss overhead", f"{100 * m['overhead']:.1f}%", "<= 10%", m["overhead"] <= 0.10)
    if args.data is not None:
        q = quality(args.data, args.checkpoints or Path("checkpoints"))
        report("default train-wm wall time", f"{q['minutes']:.1f} min", "<= 6 min", q["minutes"] <= 6)
        fa, ca = q.get("frame_acc"), q.get("copy_frame_acc")
        report("val frame_acc", f"{100 * (fa or 0):.1f}%", "> 80%", fa is not None and fa > 0.8)
        report("val frame_acc - copy_frame_acc", f"{100 * ((fa or 0) - (ca or 0)):+.1f} pt", "> 0",
               fa is not None and ca is not None and fa > ca)  # fmt: skip
        print(f"(best/ = epoch {q['best_epoch']} of {q['epochs']}; frame_acc after the last epoch "
              f"{q['final_frame_acc']}); changed_acc {q.get('changed_acc')}, action_type_acc {q.get('action_type_acc')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
