"""The GPU path: the world model on SmolLM2-360M in bf16 with LoRA — training throughput and memory, and the
agent's KV-cached step.

    python benchmarks/bench_gpu.py                            # SmolLM2-360M's architecture, random weights
    python benchmarks/bench_gpu.py --backbone smollm2-360m    # the real weights (local Hugging Face cache)
    python benchmarks/bench_gpu.py --save-backbone DIR        # also keep the random-weight model, for
                                                              # `aria train-wm --backbone DIR` on a machine
                                                              # that cannot download SmolLM2

Nothing is downloaded by default: SmolLM2-360M's published configuration (32 layers, hidden size 960,
15 attention heads sharing 5 key/value heads, vocabulary 49,152, tied embeddings) with random weights is
saved to a folder and loaded through the same `--backbone PATH` code a real checkpoint goes through
(vocabulary extension, LoRA on q/k/v/o, trainable new-token rows). Speed and memory do not depend on the
weights' values; learning does, so this measures no accuracy.

Figures:
- training: tokens/s of `aria train-wm`'s own step (aria_cli.world_model.train.train_step: bf16 autocast through
  accelerate, weighted loss, gradient clipping, AdamW) at the pretrained defaults (29-step ≈ 2,048-token
  windows, batch 8), on episodes shaped like the games' (benchmarks/bench_train_wm.synthetic_cache);
  peak GPU memory;
- the agent's step: one step's 69 tokens fed to a KV-cached context of 28 steps, as the agent does per
  action (frame encoding apart), against a full forward of the same 29 steps; and the largest difference
  between the cached logits and the full forward's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_wm import synthetic_cache  # noqa: E402

from aria_cli.common.devices import make_accelerator  # noqa: E402
from aria_cli.vocab import STEP_TOKENS  # noqa: E402
from aria_cli.world_model.backbones import LoraSettings  # noqa: E402
from aria_cli.world_model.data import collate, epoch_order, epoch_windows  # noqa: E402
from aria_cli.world_model.model import WorldModel  # noqa: E402
from aria_cli.world_model.presets import SMOLLM2, Preset  # noqa: E402
from aria_cli.world_model.train import lr_lambda, train_step  # noqa: E402

# HuggingFaceTB/SmolLM2-360M's config.json (the fields that decide its shape and numerics).
SMOLLM2_360M = dict(
    vocab_size=49152,
    hidden_size=960,
    intermediate_size=2560,
    num_hidden_layers=32,
    num_attention_heads=15,
    num_key_value_heads=5,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
    hidden_act="silu",
    bos_token_id=0,
    eos_token_id=0,
)


def save_random_smollm2(folder: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2_360M)).to(torch.bfloat16)
    model.save_pretrained(folder)
    return folder


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def train_throughput(wm: WorldModel, device: str, steps: int, warmup: int) -> dict:
    acc = make_accelerator(device)
    p = Preset.from_name(SMOLLM2)
    ctx, batch_size, lr = p.context_steps, p.batch_size, p.lr
    cache = synthetic_cache(n_episodes=16, n_actions=300)
    opt = torch.optim.AdamW(wm.trainable_parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    model, opt = acc.prepare(wm, opt)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(10 * (steps + warmup)))
    windows = epoch_windows(cache, cache.split("train"), ctx, seed=0, epoch=0)
    order = epoch_order(len(windows), batch_size, 0, 0)
    n_batches = len(order) // batch_size
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tokens, t = 0, 0.0
    for i in range(warmup + steps):
        k = i % n_batches
        batch = collate(cache, windows.take(order[k * batch_size : (k + 1) * batch_size])).to(acc.device)
        sync(device)
        t0 = time.perf_counter()
        train_step(acc, model, opt, sched, batch, grad_clip=1.0)
        sync(device)
        if i >= warmup:
            t += time.perf_counter() - t0
            tokens += batch.n_tokens
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return {"tokens_per_s": tokens / t, "step_ms": 1000 * t / steps, "peak_gib": peak, "batch_size": batch_size,
            "context_tokens": ctx * STEP_TOKENS}  # fmt: skip


@torch.no_grad()
def agent_step(wm: WorldModel, device: str, repeats: int) -> dict:
    wm.eval()
    ctx = Preset.from_name(SMOLLM2).context_steps
    cache = synthetic_cache(n_episodes=2, n_actions=ctx + 2)
    tokens = torch.as_tensor(cache.tokens[: ctx * STEP_TOKENS + 1], dtype=torch.long, device=device)
    head, last = tokens[: (ctx - 1) * STEP_TOKENS + 1], tokens[(ctx - 1) * STEP_TOKENS + 1 :]
    full = wm.logits(tokens[None])[0, -len(last) :].float()
    state = wm.prefill(head)
    cached, _ = wm.extend(state, last)
    state.cache.crop(-len(last))
    max_diff = (cached[0].float() - full).abs().max().item()
    agree = (cached[0].argmax(-1) == full.argmax(-1)).float().mean().item()

    def timed(fn) -> float:
        for _ in range(3):
            fn()
        sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        sync(device)
        return 1000 * (time.perf_counter() - t0) / repeats

    def step() -> None:  # extend grows the cache in place; crop it back for the next repeat
        wm.extend(state, last)
        state.cache.crop(-len(last))

    step_ms = timed(step)
    full_ms = timed(lambda: wm.logits(tokens[None]))
    return {"step_ms": step_ms, "full_ms": full_ms, "max_abs_diff": max_diff, "argmax_agree": agree}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", help="a preset, path or hub id (default: SmolLM2-360M's shape, random weights)")
    ap.add_argument("--save-backbone", type=Path, help="where to keep the random-weight model (default: a temp dir)")
    ap.add_argument("--device", help="default: cuda; without a GPU the benchmark is skipped unless set")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    if args.device is None:
        if not torch.cuda.is_available():
            # `make bench` runs every benchmark: a 360M model's training steps would take most of an hour on
            # 2 CPU cores and measure nothing this benchmark is about
            print("skipped: no CUDA GPU (--device cpu runs it on the CPU anyway, slowly)")
            return 0
        args.device = "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        backbone = args.backbone
        if backbone is None:
            backbone = str(save_random_smollm2(args.save_backbone or Path(tmp) / "smollm2-360m-random"))
        dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
        t0 = time.perf_counter()
        wm = WorldModel.create(backbone, context_steps=Preset.from_name(SMOLLM2).context_steps, lora=LoraSettings(rank=16, alpha=32),
                               dtype=dtype).to(args.device)  # fmt: skip
        load_s = time.perf_counter() - t0
        n_all = sum(p.numel() for p in wm.parameters())
        n_train = sum(p.numel() for p in wm.trainable_parameters())
        name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
        print(f"backbone {args.backbone or 'SmolLM2-360M architecture, random weights'} on {name}, {dtype}")
        print(f"  {n_all / 1e6:.1f}M parameters, {n_train / 1e6:.2f}M trainable (LoRA r=16 + new token rows); "
              f"built in {load_s:.1f} s")  # fmt: skip
        tr = train_throughput(wm, args.device, args.steps, args.warmup)
        print(f"training   {tr['tokens_per_s']:>10,.0f} tokens/s   {tr['step_ms']:.0f} ms/step "
              f"(batch {tr['batch_size']} x {tr['context_tokens']} tokens)   peak GPU memory {tr['peak_gib']:.2f} GiB")  # fmt: skip
        st = agent_step(wm, args.device, args.repeats)
        print(f"agent step {st['step_ms']:>10.1f} ms (69 tokens on a KV cache of {Preset.from_name(SMOLLM2).context_steps - 1} steps)"
              f"   full forward of {Preset.from_name(SMOLLM2).context_steps} steps {st['full_ms']:.1f} ms")  # fmt: skip
        print(f"KV-cached vs full forward: max |logit diff| {st['max_abs_diff']:.3g}, argmax agrees on "
              f"{100 * st['argmax_agree']:.1f}% of the 69 positions")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
