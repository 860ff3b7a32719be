"""`aria train-wm`: train the world model on token trajectories, with exact resume and data parallelism.

    aria train-wm                                   # tiny on CPU (time-capped), smollm2-360m on a GPU
    aria train-wm --backbone smollm2-360m --epochs 10
    aria train-wm --resume                          # continue checkpoints/world_model/last exactly
    accelerate launch --num_processes 4 -m aria_cli train-wm --backbone smollm2-360m   # 4 GPUs, data-parallel
    torchrun --nproc_per_node 2 -m aria_cli train-wm --device cpu                     # 2 CPU processes (gloo)

(`accelerate launch --cpu` starts a single process unless accelerate is configured for MPI; torchrun
sets the same environment that Accelerate reads, so it is the plain way to several CPU processes.)

The loop runs on Hugging Face Accelerate: each process takes its share of every global batch
(`--batch-size` windows per process) and DDP averages the gradients, so the same command scales
from one CPU to several GPUs. Output under `checkpoints/world_model/`:

    best/  last/            config.json + model.safetensors (tiny) or adapter.safetensors (LoRA)
    last/training_state.pt  optimizer, scheduler, RNG, epoch and step (torch.save; apart from the model)
    metrics.jsonl           one line per epoch: train loss, tokens/s, val metrics per game
    metrics.json            final val metrics per game (and those of the best epoch)
    curves.png              training curves

Exact resume: the windows of epoch e are a pure function of (seed, e), the model, optimizer, scheduler
and RNG states are saved together with the epoch and the step inside it, so a run stopped anywhere
(after an epoch, or by Ctrl-C mid-epoch) and resumed with `--resume` ends with the same weights as an
uninterrupted run.
"""

from __future__ import annotations

import json
import math
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from aria_cli.common import atomic
from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.common.ui import console, pct, print_warning
from aria_cli.world_model.backbones import TINY, LoraSettings, TinyArch, default_backbone
from aria_cli.world_model.data import (
    Windows,
    cell_code_counts,
    collate,
    epoch_order,
    epoch_windows,
    eval_windows,
    mask_some_windows,
)
from aria_cli.world_model.metrics import ALL, WMMetrics, evaluate_world_model, metrics_table
from aria_cli.world_model.model import WorldModel

STATE_FILE = "training_state.pt"
DEFAULT_EPOCHS = 30
CPU_TIME_BUDGET_MIN = 5.0  # default cap on a CPU when --epochs is not given; see TrainWMConfig.time_budget

# Defaults per kind of backbone: (context_steps, batch_size, lr).
TINY_DEFAULTS = (4, 8, 2e-3)
PRETRAINED_DEFAULTS = (29, 8, 2e-4)  # 29 steps ≈ 2048 tokens (docs/DESIGN.md §6)


@dataclass
class TrainWMConfig:
    data: Path = Path("recordings")
    checkpoints: Path = Path("checkpoints")
    epochs: int | None = None  # None: 30, capped by the CPU time budget
    backbone: str | None = None  # None: tiny on CPU, smollm2-360m on GPU
    context_steps: int | None = None
    batch_size: int | None = None  # windows per process per step
    lr: float | None = None
    lora_rank: int = 16
    device: str = "auto"
    resume: bool = False
    seed: int = 0
    skip_bad: bool = False
    # Minutes of training (all epochs, validation included). None: 5 on a CPU when --epochs is not given,
    # else unlimited; 0: unlimited. The cap is turned into a number of epochs before the first step (from a
    # short timing of real batches), so the LR schedule still spans the whole run and resume stays exact.
    time_budget: float | None = None
    weight_decay: float = 0.1  # 0.1 beat 0.01 on held-out recordings of the bundled games (less memorising)
    grad_clip: float = 1.0
    # Share of training windows read with every action masked, as the policy reads them (wm_data.mask_some_windows).
    action_mask: float = 0.15
    show: bool = True  # the rich live view
    arch: TinyArch | None = None  # override the tiny preset's size (tests, experiments)


@dataclass
class TrainResult:
    world_model: WorldModel
    out_dir: Path
    epochs: int  # epochs the run was set to
    epochs_done: int
    best_epoch: int | None
    final: dict | None  # WMMetrics.result() on val after the last epoch
    history: list[dict] = field(default_factory=list)


# --------------------------------------------------------------------------- run configuration
def _resolved(cfg: TrainWMConfig, device_type: str, world_size: int, cache) -> dict:
    """Everything that decides the result of a run (resume refuses a state whose values differ)."""
    backbone = cfg.backbone or default_backbone(device_type)
    ctx, bs, lr = TINY_DEFAULTS if backbone == TINY else PRETRAINED_DEFAULTS
    for name, value in (("context-steps", cfg.context_steps), ("batch-size", cfg.batch_size)):
        if value is not None and value < 1:
            raise AriaError(f"--{name} must be at least 1, got {value}")
    if cfg.lr is not None and not cfg.lr > 0:
        raise AriaError(f"--lr must be positive, got {cfg.lr}")
    if not 0.0 <= cfg.action_mask < 1.0:
        raise AriaError(f"--action-mask must be in [0, 1), got {cfg.action_mask}")
    if cfg.epochs is not None and cfg.epochs < 1:
        raise AriaError(f"--epochs must be at least 1, got {cfg.epochs}")
    if backbone != TINY and cfg.lora_rank < 1:
        raise AriaError(f"--lora-rank must be at least 1, got {cfg.lora_rank}")
    return {
        "backbone": backbone,
        "context_steps": cfg.context_steps or ctx,
        "batch_size": cfg.batch_size or bs,
        "lr": cfg.lr or lr,
        "lora_rank": None if backbone == TINY else cfg.lora_rank,
        "arch": asdict(cfg.arch or TinyArch()) if backbone == TINY else None,
        "seed": cfg.seed,
        "weight_decay": cfg.weight_decay,
        "grad_clip": cfg.grad_clip,
        "action_mask": cfg.action_mask,
        "processes": world_size,
        "data": cache.fingerprint,
    }


_RESUME_LABELS = {"data": "token cache (recordings or tokenizer)", "processes": "number of processes"}


def _check_resume(saved: dict, now: dict, folder: Path) -> None:
    diff = [k for k in now if saved.get(k) != now[k]]
    if diff:
        what = ", ".join(
            _RESUME_LABELS.get(k, k) if k in _RESUME_LABELS else f"{k} {saved.get(k)} → {now[k]}" for k in diff
        )
        raise CheckpointError(
            f"--resume: {folder} comes from a different configuration ({what}); "
            "rerun with the same options, or without --resume to start afresh"
        )


def lr_lambda(total_steps: int) -> Callable[[int], float]:
    """Linear warm-up (5% of the run, at most 100 steps), then cosine decay to 10% of the peak."""
    warmup = max(1, min(100, total_steps // 20))

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

    return f


# --------------------------------------------------------------------------- RNG and state
def step_seed(seed: int, global_step: int, rank: int) -> int:
    return (seed * 1_000_003 + global_step * 1009 + rank) % (2**63)


def _rng_state() -> dict:
    st = np.random.get_state()
    out = {
        "python": random.getstate(),
        "numpy": (st[0], torch.from_numpy(st[1].copy()), int(st[2]), int(st[3]), float(st[4])),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def _set_rng_state(st: dict) -> None:
    random.setstate(st["python"])
    n = st["numpy"]
    np.random.set_state((n[0], n[1].numpy(), n[2], n[3], n[4]))
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def load_training_state(folder: Path) -> dict:
    path = folder / STATE_FILE
    if not path.is_file():
        raise CheckpointError(
            f"--resume: no training state at {path}; train without --resume first (`aria train-wm`)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable state is the same one-line error
        raise CheckpointError(f"--resume: {path} is unreadable ({type(e).__name__}); start afresh without --resume") from None
    cfg = WorldModel.read_config(folder)
    if cfg.get("training", {}).get("global_step") != state.get("global_step"):
        raise CheckpointError(
            f"--resume: {folder} holds weights and training state from different steps (interrupted save?); "
            "start afresh without --resume"
        )
    return state


# --------------------------------------------------------------------------- the live view
class LiveView:
    """Progress bars (epoch and run: loss, tokens/s, ETA) above the latest val metrics table."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.live = None

    def start(self, epochs: int, total_steps: int, done: int) -> None:
        if not self.enabled:
            return
        from rich.console import Group
        from rich.live import Live
        from rich.progress import TextColumn
        from rich.text import Text

        from aria_cli.common.ui import progress

        self.epochs = epochs
        self.progress = progress(TextColumn("{task.fields[info]}"))
        self.run_task = self.progress.add_task("run", total=total_steps, completed=done, info="")
        self.epoch_task = self.progress.add_task("epoch", total=1, info="")
        self.table = Text("val metrics after the first epoch", style="dim")
        self.group = Group(self.progress, self.table)
        # Transient: the bars and table vanish at the end; the per-epoch lines and the final table stay.
        self.live = Live(self.group, console=console, refresh_per_second=4, transient=True)
        self.live.start()

    def begin_epoch(self, epoch: int, n_steps: int, done: int) -> None:
        if self.live is not None:
            desc = f"epoch {epoch + 1}/{self.epochs}"
            self.progress.reset(self.epoch_task, total=n_steps, completed=done, description=desc, info="")

    def step(self, loss: float, tok_s: float) -> None:
        if self.live is None:
            return
        info = f"loss {loss:.3f} · {tok_s:,.0f} tok/s"
        self.progress.update(self.epoch_task, advance=1, info=info)
        self.progress.update(self.run_task, advance=1)

    def epoch_end(self, line: str, table) -> None:
        if self.live is None:
            return
        self.live.console.print(line, highlight=False)
        self.group.renderables[1] = table

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


class _StopFlag:
    """Ctrl-C during training: finish the current step, save `last`, then stop (a second Ctrl-C stops at once)."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                if self.requested:
                    raise KeyboardInterrupt
                self.requested = True

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


# --------------------------------------------------------------------------- inputs
def _load_inputs(cfg: TrainWMConfig, acc, device: str):
    from aria_cli.data.token_cache import build_token_cache
    from aria_cli.tokenizer import model as vqvae

    with acc.main_process_first():
        cache = build_token_cache(cfg.data, cfg.checkpoints, skip_bad=cfg.skip_bad, device=device)
    tok = vqvae.load_tokenizer(cfg.checkpoints, device="cpu")
    return cache, tok.codebook.detach().cpu(), tok.fingerprint


def _check_data(cache, train_ids: list[int], val_ids: list[int]) -> None:
    train_steps = sum(cache.episodes[i].n_actions for i in train_ids)
    if train_steps == 0:
        n = len(cache.episodes)
        raise AriaError(
            f"too little data for one training window: {n} recording{'s' if n != 1 else ''} "
            f"({len(train_ids)} train, {len(val_ids)} val) with {train_steps} train steps; a window needs a "
            "train recording with at least one action — record more play"
        )


CALIBRATION_WARMUP, CALIBRATION_BATCHES = 2, 8  # batches timed but not counted, batches counted


def _calibrate(model, wm, acc, cache, windows: Windows, order, per_proc: int, val_tokens: int) -> tuple[float, float]:
    """Seconds per training step and per validation pass, from forward+backward on real batches (the
    gradients are dropped: no update is made, so the run is the same as without calibration).

    The median over eight batches after two that pay one-off set-up (on 2 CPU cores the first two are
    15-35% slower than the rest): with the mean of the second and third, a fresh clone's quickstart
    took its steps for 1.7x slower than they were, and its world model trained 587 steps in 167 s of a
    270 s budget."""
    times, tokens = [], []
    for k in range(CALIBRATION_WARMUP + CALIBRATION_BATCHES):
        idx = order[k * per_proc : (k + 1) * per_proc]
        if len(idx) == 0:
            break
        batch = collate(cache, windows.take(idx)).to(acc.device)
        t0 = time.perf_counter()
        with acc.autocast():
            out = model(batch.tokens, batch.valid)
        acc.backward(out.loss)
        times.append(time.perf_counter() - t0)
        tokens.append(batch.n_tokens)
    for p in wm.trainable_parameters():
        p.grad = None
    if len(times) > CALIBRATION_WARMUP:
        times, tokens = times[CALIBRATION_WARMUP:], tokens[CALIBRATION_WARMUP:]
    sec_per_token = float(np.median([t / max(1, n) for t, n in zip(times, tokens, strict=True)]))
    step_s = sec_per_token * sum(tokens) / len(tokens) * 1.05  # + the optimizer step
    val_s = val_tokens / acc.num_processes * sec_per_token * 0.4  # forward only
    return step_s, val_s


def fit_steps(budget_s: float, step_s: float, val_s: float, steps_per_epoch: int, max_steps: int) -> int:
    """How many optimizer steps fit in `budget_s`, each epoch (the last, partial one too) ending with a
    validation pass. A last partial epoch shorter than a tenth of an epoch is left out."""
    epoch_s = steps_per_epoch * step_s + val_s
    full = int(budget_s // epoch_s)
    extra = int(max(0.0, budget_s - full * epoch_s - val_s) // step_s)
    extra = min(extra, steps_per_epoch - 1)
    if extra < steps_per_epoch / 10:
        extra = 0
    return max(1, min(max_steps, full * steps_per_epoch + extra))


# --------------------------------------------------------------------------- the loop
def train_step(acc, model, optimizer, scheduler, batch, grad_clip: float, inputs=None):
    """One optimizer step on one batch (this process's share of the global batch)."""
    with acc.autocast():
        out = model(batch.tokens, batch.valid, inputs)
    acc.backward(out.loss)
    if grad_clip:
        acc.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return out


def train_world_model(
    cfg: TrainWMConfig,
    cache=None,
    codebook: torch.Tensor | None = None,
    tokenizer_fingerprint: str | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train (or resume) the world model. `cache`/`codebook` default to the token cache and frame tokenizer
    under cfg.checkpoints; `on_step(global_step)` is called after every optimizer step."""
    from accelerate.utils import broadcast_object_list, gather_object

    from aria_cli.common.devices import make_accelerator, resolve_device

    device = resolve_device(cfg.device)
    acc = make_accelerator(device)
    main = acc.is_main_process
    if cache is None:
        cache, codebook, tokenizer_fingerprint = _load_inputs(cfg, acc, device)
    train_ids, val_ids = cache.split("train"), cache.split("val")
    _check_data(cache, train_ids, val_ids)
    run = _resolved(cfg, acc.device.type, acc.num_processes, cache)
    out_dir = Path(cfg.checkpoints) / "world_model"
    last_dir, best_dir = out_dir / "last", out_dir / "best"

    state = None
    if cfg.resume:
        state = load_training_state(last_dir)
        _check_resume(state["run"], run, last_dir)

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    wm = WorldModel.create(
        run["backbone"],
        context_steps=run["context_steps"],
        lora=LoraSettings(rank=run["lora_rank"], alpha=2 * run["lora_rank"]) if run["lora_rank"] else None,
        arch=TinyArch(**run["arch"]) if run["arch"] else None,
        dtype=torch.bfloat16 if device == "cuda" else torch.float32,
        codebook=codebook,
        cell_code_counts=cell_code_counts(cache, train_ids),
        tokenizer_fingerprint=tokenizer_fingerprint,
        seed=cfg.seed,
    )
    if state is not None:
        wm.load_weights(last_dir)
    n_trainable = sum(p.numel() for p in wm.trainable_parameters())
    optimizer = torch.optim.AdamW(
        wm.trainable_parameters(), lr=run["lr"], weight_decay=run["weight_decay"], betas=(0.9, 0.95)
    )
    model, optimizer = acc.prepare(wm, optimizer)
    wm = acc.unwrap_model(model)

    C, B, world, rank = run["context_steps"], run["batch_size"], acc.num_processes, acc.process_index
    n_windows = len(epoch_windows(cache, train_ids, C, cfg.seed, 0))
    steps_per_epoch = -(-n_windows // (B * world))
    val_windows = eval_windows(cache, val_ids, C)
    my_val = val_windows.take(np.arange(rank, len(val_windows), world))

    if state is not None:
        total_steps = cfg.epochs * steps_per_epoch if cfg.epochs else state["total_steps"]
    else:
        total_steps = (cfg.epochs or DEFAULT_EPOCHS) * steps_per_epoch
        budget = cfg.time_budget
        if budget is None and cfg.epochs is None and device == "cpu":
            budget = CPU_TIME_BUDGET_MIN
        if budget:
            w0 = epoch_windows(cache, train_ids, C, cfg.seed, 0)
            order0 = epoch_order(len(w0), B * world, cfg.seed, 0)
            step_s, val_s = _calibrate(model, wm, acc, cache, w0, order0, B, val_windows.n_tokens)
            fitted = fit_steps(budget * 60, step_s, val_s, steps_per_epoch, total_steps)
            fitted = broadcast_object_list([fitted])[0]
            if fitted < total_steps and main:
                console.print(
                    f"time budget {budget:g} min: {fitted / steps_per_epoch:.1f} of {total_steps // steps_per_epoch} "
                    f"epochs fit ({fitted} steps; set --epochs, or --time-budget 0 for no cap)"
                )
            total_steps = fitted
    epochs = -(-total_steps // steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(total_steps))

    start_epoch, skip_steps, global_step = 0, 0, 0
    history: list[dict] = []
    best_loss, best_epoch = math.inf, None
    partial = {"loss_sum": 0.0, "weight_sum": 0.0, "tokens": 0, "seconds": 0.0}
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        start_epoch, skip_steps, global_step = state["epoch"], state["step_in_epoch"], state["global_step"]
        history, best_loss, best_epoch = state["history"], state["best_loss"], state["best_epoch"]
        partial = state["partial"]
        if main:
            console.print(f"resuming {last_dir}: epoch {start_epoch + 1}, step {skip_steps} of {steps_per_epoch}")
    if main:
        if state is None:
            (out_dir / "metrics.jsonl").unlink(missing_ok=True)
        else:  # drop lines of epochs after the saved state (a crash between the two writes)
            atomic.write_text(out_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
        n_train_tokens = sum(cache.episodes[i].n_tokens for i in train_ids)
        console.print(
            f"world model: {run['backbone']} (base {wm.config.base}, {n_trainable / 1e6:.2f}M trainable), "
            f"{C} steps/window, {len(train_ids)} train / {len(val_ids)} val recordings, "
            f"{n_train_tokens:,} train tokens, {steps_per_epoch} steps/epoch, {total_steps} steps ({epochs} epochs), "
            f"{world} process{'es' if world > 1 else ''} on {acc.device}"
        )

    def training_info(epoch: int, step_in_epoch: int, val: dict | None) -> dict:
        return {
            "training": {
                "run": run,
                "epochs": epochs,
                "total_steps": total_steps,
                "epoch": epoch,
                "step_in_epoch": step_in_epoch,
                "global_step": global_step,
                "val": None if val is None else val[ALL],
            }
        }

    def save_last(epoch: int, step_in_epoch: int, val: dict | None) -> None:
        """`last`: weights first, then the state that names the same step (checked on resume)."""
        wm.save(last_dir, training_info(epoch, step_in_epoch, val))
        st = {
            "run": run,
            "epochs": epochs,
            "total_steps": total_steps,
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "global_step": global_step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(),
            "history": history,
            "best_loss": best_loss,
            "best_epoch": best_epoch,
            "partial": partial,
        }
        atomic.write_with(last_dir / STATE_FILE, lambda p: torch.save(st, p))

    view = LiveView(cfg.show and main)
    final = None
    t_run = time.perf_counter()
    pos = saved = (start_epoch, skip_steps)  # (epoch, steps done in it): where training is / what `last` holds
    try:
        with _StopFlag() as stop:
            view.start(epochs, total_steps, global_step)
            for epoch in range(start_epoch, epochs):
                n_steps = min(steps_per_epoch, total_steps - epoch * steps_per_epoch)
                model.train()
                windows = epoch_windows(cache, train_ids, C, cfg.seed, epoch)
                order = epoch_order(len(windows), B * world, cfg.seed, epoch, steps_per_epoch)
                first = skip_steps if epoch == start_epoch else 0
                view.begin_epoch(epoch, n_steps, first)
                if first == 0:
                    partial = {"loss_sum": 0.0, "weight_sum": 0.0, "tokens": 0, "seconds": 0.0}
                for step in range(first, n_steps):
                    t0 = time.perf_counter()
                    lo = step * B * world + rank * B
                    batch = collate(cache, windows.take(order[lo : lo + B])).to(acc.device)
                    # Dropout draws from a generator seeded per (seed, step, process): a resumed run draws
                    # the same masks as an uninterrupted one, whatever the number of processes.
                    seed_now = step_seed(cfg.seed, global_step, rank)
                    torch.manual_seed(seed_now)
                    inputs = mask_some_windows(batch.tokens, run["action_mask"], np.random.default_rng(seed_now))
                    out = train_step(acc, model, optimizer, scheduler, batch, run["grad_clip"], inputs)
                    global_step += 1
                    pos = (epoch, step + 1)
                    dt = time.perf_counter() - t0
                    w = float(out.weight_sum.detach())
                    loss = float(out.loss.detach())
                    partial["loss_sum"] += loss * w
                    partial["weight_sum"] += w
                    partial["tokens"] += batch.n_tokens * world
                    partial["seconds"] += dt
                    view.step(loss, batch.n_tokens * world / dt)
                    if on_step is not None:
                        on_step(global_step)
                    requested = stop.requested
                    if world > 1:
                        flag = torch.tensor([float(requested)], device=acc.device)
                        requested = bool(acc.reduce(flag, reduction="sum").item() > 0)
                    if requested:
                        raise KeyboardInterrupt
                pos = (epoch, n_steps)
                # ---- end of epoch: validation, logs, checkpoints
                t_val = time.perf_counter()
                with acc.autocast():
                    m = evaluate_world_model(wm, cache, my_val, batch_size=2 * B, device=acc.device)
                states = gather_object([m.state()]) if world > 1 else [m.state()]
                val = WMMetrics.from_states(states).result() if len(val_windows) else None
                train_loss = partial["loss_sum"] / max(partial["weight_sum"], 1e-8)
                val_loss = val[ALL]["loss"] if val else None
                score = val_loss if val_loss is not None else train_loss
                improved = score < best_loss
                if improved:
                    best_loss, best_epoch = score, epoch + 1
                record = {
                    "epoch": epoch + 1,
                    "step": global_step,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "lr": scheduler.get_last_lr()[0],
                    "tokens_per_s": partial["tokens"] / max(partial["seconds"], 1e-9),
                    "epoch_s": partial["seconds"] + time.perf_counter() - t_val,
                    "elapsed_s": time.perf_counter() - t_run,
                    "val": val,
                }
                history.append(record)
                final = val
                if main:
                    atomic.append_line(out_dir / "metrics.jsonl", json.dumps(record))
                    if improved:
                        wm.save(best_dir, training_info(epoch + 1, 0, val))
                    save_last(epoch + 1, 0, val)
                    write_curves(out_dir / "curves.png", history)
                    view.epoch_end(_epoch_line(record, improved), _table(val, epoch + 1))
                pos = saved = (epoch + 1, 0)
                acc.wait_for_everyone()
    except KeyboardInterrupt:
        view.stop()
        if main and pos != saved:
            save_last(*pos, None)
            print_warning(
                f"stopped at epoch {pos[0] + 1}, step {pos[1]}: saved {last_dir}; "
                "continue with `aria train-wm --resume`"
            )
        raise
    finally:
        view.stop()

    if main:
        if final is not None or history:
            summary = {
                "epochs": epochs,
                "best_epoch": best_epoch,
                "final": final,
                "best": history[best_epoch - 1]["val"] if best_epoch and best_epoch <= len(history) else None,
            }
            atomic.write_json(out_dir / "metrics.json", summary)
        if final is not None and cfg.show:
            console.print(metrics_table(final, title=f"val metrics after epoch {epochs} (best: epoch {best_epoch})"))
        console.print(f"saved {best_dir} and {last_dir}")
    return TrainResult(wm, out_dir, epochs, len(history), best_epoch, final, history)


def _table(val: dict | None, epoch: int):
    if val is None:
        from rich.text import Text

        return Text("no val recordings: every game has a single recording", style="dim")
    return metrics_table(val, title=f"val metrics after epoch {epoch}")


def _epoch_line(r: dict, improved: bool) -> str:
    v = r["val"][ALL] if r["val"] else None
    parts = [
        f"epoch {r['epoch']}",
        f"train loss {r['train_loss']:.3f}",
        f"val loss {r['val_loss']:.3f}" if r["val_loss"] is not None else "no val",
    ]
    if v:
        parts.append(f"frame {pct(v['frame_acc'])} (copy {pct(v['copy_frame_acc'])})")
        parts.append(f"type {pct(v['action_type_acc'])}")
    parts.append(f"{r['tokens_per_s']:,.0f} tok/s, {r['epoch_s']:.0f}s")
    return " · ".join(parts) + (" [green]best[/]" if improved else "")


def write_curves(path: Path, history: list[dict]) -> None:
    """Loss and val accuracy per epoch as a PNG (matplotlib, off-screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], label="train")
    if any(h["val_loss"] is not None for h in history):
        a.plot(ep, [h["val_loss"] for h in history], label="val")
    a.set_xlabel("epoch")
    a.set_ylabel("weighted loss")
    a.legend()
    a.grid(alpha=0.3)
    for key, label in (("frame_acc", "frame"), ("copy_frame_acc", "copy baseline"), ("changed_acc", "changed"),
                       ("action_type_acc", "action type"), ("action_loc_acc", "action loc")):  # fmt: skip
        ys = [h["val"][ALL][key] if h["val"] else None for h in history]
        if any(y is not None for y in ys):
            b.plot(ep, [np.nan if y is None else y for y in ys], label=label, ls="--" if key == "copy_frame_acc" else "-")
    b.set_xlabel("epoch")
    b.set_ylabel("val accuracy")
    b.set_ylim(0, 1)
    b.legend()
    b.grid(alpha=0.3)
    fig.tight_layout()
    atomic.write_with(path, lambda p: fig.savefig(p, format="png", dpi=90))
    plt.close(fig)

