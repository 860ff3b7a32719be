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
from one CPU to several GPUs. Options left unset take the backbone's preset (world_model.presets).
Output under `checkpoints/world_model/` (names in aria_cli.training.checkpoints):

    best/  last/            config.json + model.safetensors (tiny) or adapter.safetensors (LoRA)
    last/train_state.pt     optimizer, scheduler, RNG, epoch and step (aria_cli.training.state)
    metrics.jsonl           one line per epoch: train loss, tokens/s, val metrics per game
    metrics.json            final val metrics per game (and those of the best epoch)
    curves.png              training curves

Exact resume: the windows of epoch e are a pure function of (seed, e), the model, optimizer, scheduler
and RNG states are saved together with the epoch and the step inside it, so a run stopped anywhere
(after an epoch, by Ctrl-C mid-epoch, or killed) and resumed with `--resume` ends with the same weights
as an uninterrupted run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from aria_cli.common import atomic
from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.common.ui import console
from aria_cli.training import checkpoints as ck
from aria_cli.training import state as resumable
from aria_cli.training.budget import calibrate, fit_steps
from aria_cli.training.loop import EpochLog, LiveView, StopFlag, TrainResult, stopped
from aria_cli.training.schedule import warmup_cosine
from aria_cli.training.tracking import check_report_to
from aria_cli.world_model.backbones import TINY, LoraSettings, TinyArch
from aria_cli.world_model.data import cell_code_counts, eval_windows, sample_windows
from aria_cli.world_model.model import WorldModel
from aria_cli.world_model.presets import Preset
from aria_cli.world_model.report import curves_writer, epoch_line, final_summary, throughput_line, val_table
from aria_cli.world_model.steps import EpochRunner, Progress, step_seed, train_step  # noqa: F401 (re-exported)

DEFAULT_EPOCHS = 30
CPU_TIME_BUDGET_MIN = 5.0  # default cap on a CPU when --epochs is not given; see the config's time_budget


@dataclass
class WorldModelTrainConfig:
    data: Path = Path("recordings")
    checkpoints: Path = Path("checkpoints")
    epochs: int | None = None  # None: 30, capped by the CPU time budget
    backbone: str | None = None  # None: tiny on CPU, smollm2-360m on GPU (Preset.for_device)
    context_steps: int | None = None  # None: the backbone's preset, as are batch_size, lr and lora_rank
    batch_size: int | None = None  # windows per process per step
    lr: float | None = None
    lora_rank: int | None = None
    device: str = "auto"
    resume: bool = False
    seed: int = 0
    skip_bad: bool = False
    # Minutes of training (all epochs, validation included). None: 5 on a CPU when --epochs is not given,
    # else unlimited; 0: unlimited. The cap is turned into a number of steps before the first one (from a
    # short timing of real batches), so the LR schedule still spans the whole run and resume stays exact.
    time_budget: float | None = None
    weight_decay: float = 0.1  # beat 0.01 on held-out recordings of the bundled games (less memorising)
    grad_clip: float = 1.0
    # Share of training windows read with every action masked, as the policy reads them (data.mask_some_windows).
    action_mask: float = 0.15
    # Val tokens measured after each epoch: a fixed sample of val windows when the val split holds more
    # (0: all); `aria eval` measures everything. On 100 real recordings the full pass took 5x the training.
    val_tokens: int = 500_000
    report_to: str = "none"  # none | tensorboard | wandb | mlflow (aria_cli.training.tracking)
    show: bool = True  # the rich live view
    arch: TinyArch | None = None  # override the tiny preset's size (tests, experiments)


# --------------------------------------------------------------------------- run configuration
def _check_options(cfg: WorldModelTrainConfig) -> None:
    for name, value in (("context-steps", cfg.context_steps), ("batch-size", cfg.batch_size),
                        ("epochs", cfg.epochs), ("lora-rank", cfg.lora_rank)):  # fmt: skip
        if value is not None and value < 1:
            raise AriaError(f"--{name} must be at least 1, got {value}")
    if cfg.lr is not None and not cfg.lr > 0:
        raise AriaError(f"--lr must be positive, got {cfg.lr}")
    if not 0.0 <= cfg.action_mask < 1.0:
        raise AriaError(f"--action-mask must be in [0, 1), got {cfg.action_mask}")
    check_report_to(cfg.report_to)


def _resolved(cfg: WorldModelTrainConfig, device_type: str, world_size: int, cache) -> dict:
    """Everything that decides the result of a run (resume refuses a state whose values differ)."""
    _check_options(cfg)
    backbone = cfg.backbone or Preset.for_device(device_type).name
    preset = Preset.from_name(backbone)
    return {
        "backbone": backbone,
        "context_steps": cfg.context_steps or preset.context_steps,
        "batch_size": cfg.batch_size or preset.batch_size,
        "lr": cfg.lr or preset.lr,
        "lora_rank": None if backbone == TINY else cfg.lora_rank or preset.lora_rank,
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
    return warmup_cosine(total_steps, max(1, min(100, total_steps // 20)))


def load_training_state(folder: Path) -> dict:
    state = resumable.load(folder, "train-wm")
    cfg = WorldModel.read_config(folder)
    if cfg.get("training", {}).get("global_step") != state.get("global_step"):
        raise CheckpointError(
            f"--resume: {folder} holds weights and training state from different steps; start afresh without --resume"
        )
    return state


# --------------------------------------------------------------------------- inputs
def _load_inputs(cfg: WorldModelTrainConfig, acc, device: str):
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


def _build_model(run: dict, cache, train_ids, codebook, tokenizer_fingerprint, device: str, seed: int) -> WorldModel:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    return WorldModel.create(
        run["backbone"],
        context_steps=run["context_steps"],
        lora=LoraSettings(rank=run["lora_rank"], alpha=2 * run["lora_rank"]) if run["lora_rank"] else None,
        arch=TinyArch(**run["arch"]) if run["arch"] else None,
        dtype=torch.bfloat16 if device == "cuda" else torch.float32,
        codebook=codebook,
        cell_code_counts=cell_code_counts(cache, train_ids),
        tokenizer_fingerprint=tokenizer_fingerprint,
        seed=seed,
        n_codes=cache.vocab.n_codes,
    )


# --------------------------------------------------------------------------- steps and time budget
def _plan_steps(cfg: WorldModelTrainConfig, r: EpochRunner, state: dict | None, device: str) -> int:
    """Total optimizer steps: --epochs, or what the saved run planned, or what fits the time budget."""
    from accelerate.utils import broadcast_object_list

    spe = r.steps_per_epoch
    if state is not None:
        return cfg.epochs * spe if cfg.epochs else state["total_steps"]
    total = (cfg.epochs or DEFAULT_EPOCHS) * spe
    budget = cfg.time_budget
    if budget is None and cfg.epochs is None and device == "cpu":
        budget = CPU_TIME_BUDGET_MIN
    if not budget:
        return total
    per_token, tokens = calibrate(r.forward_backward, r.first_batches())
    for p in r.wm.trainable_parameters():  # calibration makes no update: the run is the same without it
        p.grad = None
    step_s = per_token * tokens * 1.05  # + the optimizer step
    val_s = r.val_windows.n_tokens / r.acc.num_processes * per_token * 0.4  # forward only
    fitted = broadcast_object_list([fit_steps(budget * 60, step_s, val_s, spe, total)])[0]
    if fitted < total and r.acc.is_main_process:
        console.print(
            f"time budget {budget:g} min: {fitted / spe:.1f} of {total // spe} epochs fit "
            f"({fitted} steps; set --epochs, or --time-budget 0 for no cap)"
        )
    return fitted


# --------------------------------------------------------------------------- the run
def train_world_model(
    cfg: WorldModelTrainConfig,
    cache=None,
    codebook: torch.Tensor | None = None,
    tokenizer_fingerprint: str | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train (or resume) the world model. `cache`/`codebook` default to the token cache and frame tokenizer
    under cfg.checkpoints; `on_step(global_step)` is called after every optimizer step."""
    from aria_cli.common.devices import make_accelerator, resolve_device

    device = resolve_device(cfg.device)
    _check_options(cfg)
    acc = make_accelerator(device)
    out_dir = ck.world_model_dir(cfg.checkpoints)
    last_dir, best_dir = out_dir / ck.LAST, out_dir / ck.BEST
    if acc.is_main_process:
        ck.recover(last_dir)
        ck.recover(best_dir)
    acc.wait_for_everyone()
    state = load_training_state(last_dir) if cfg.resume else None  # before the long work
    if cache is None:
        cache, codebook, tokenizer_fingerprint = _load_inputs(cfg, acc, device)
    train_ids, val_ids = cache.split("train"), cache.split("val")
    _check_data(cache, train_ids, val_ids)
    run = _resolved(cfg, acc.device.type, acc.num_processes, cache)
    if state is not None:
        _check_resume(state["run"], run, last_dir)
    wm = _build_model(run, cache, train_ids, codebook, tokenizer_fingerprint, device, cfg.seed)
    if state is not None:
        wm.load_weights(last_dir)
    optimizer = torch.optim.AdamW(
        wm.trainable_parameters(), lr=run["lr"], weight_decay=run["weight_decay"], betas=(0.9, 0.95)
    )
    model, optimizer = acc.prepare(wm, optimizer)
    all_val = eval_windows(cache, val_ids, run["context_steps"])
    r = EpochRunner(acc, model, optimizer, cache, train_ids, sample_windows(all_val, cfg.val_tokens, cfg.seed), run)
    total_steps = _plan_steps(cfg, r, state, device)
    r.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(total_steps))
    p = Progress.start(total_steps, r.steps_per_epoch)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        r.scheduler.load_state_dict(state["scheduler"])
        resumable.set_rng_state(state["rng"])
        p = Progress.restore(state)
    _announce(r, run, p, len(val_ids), last_dir, resumed=state is not None, all_val=all_val)
    saver = _Saver(r, run, out_dir)
    log = EpochLog(out_dir, cfg.report_to, "train-wm", run, p.history, main=acc.is_main_process)
    try:
        _fit(cfg, r, p, saver, log, on_step)
    finally:
        log.close()
    return _finish(cfg, r, p, out_dir)


def _announce(r: EpochRunner, run: dict, p: Progress, n_val: int, last_dir: Path, resumed: bool, all_val) -> None:
    if not r.acc.is_main_process:
        return
    if len(r.val_windows) < len(all_val):
        console.print(f"val after each epoch: a fixed sample of {len(r.val_windows):,} of {len(all_val):,} windows "
                      f"({r.val_windows.n_tokens:,} of {all_val.n_tokens:,} tokens); `aria eval` measures them all")
    if resumed:
        console.print(f"resuming {last_dir}: epoch {p.epoch + 1}, step {p.step_in_epoch} of {r.steps_per_epoch}")
    n_train_tokens = sum(r.cache.episodes[i].n_tokens for i in r.train_ids)
    world = r.acc.num_processes
    n_trainable = sum(q.numel() for q in r.wm.trainable_parameters())
    console.print(
        f"world model: {run['backbone']} (base {r.wm.config.base}, {n_trainable / 1e6:.2f}M trainable), "
        f"{run['context_steps']} steps/window, {len(r.train_ids)} train / {n_val} val recordings, "
        f"{n_train_tokens:,} train tokens, {r.steps_per_epoch} steps/epoch, {p.total_steps} steps ({p.epochs} epochs), "
        f"{world} process{'es' if world > 1 else ''} on {r.acc.device}"
    )


class _Saver:
    """`best/` and `last/` (weights + resumable state), each written as one folder (checkpoints.save_folder)."""

    def __init__(self, r: EpochRunner, run: dict, out_dir: Path):
        self.r, self.run, self.out_dir = r, run, out_dir

    def info(self, p: Progress, epoch: int, step_in_epoch: int, val: dict | None) -> dict:
        from aria_cli.world_model.metrics import ALL

        return {"training": {"run": self.run, "epochs": p.epochs, "total_steps": p.total_steps, "epoch": epoch,
                             "step_in_epoch": step_in_epoch, "global_step": p.global_step,
                             "val": None if val is None else val[ALL]}}  # fmt: skip

    def best(self, p: Progress, val: dict | None) -> None:
        info = self.info(p, p.epoch, 0, val)
        ck.save_folder(self.out_dir / ck.BEST, [lambda d: self.r.wm.save(d, info)])

    def last(self, p: Progress, val: dict | None) -> None:
        info = self.info(p, p.epoch, p.step_in_epoch, val)
        st = {"run": self.run, **p.to_state(), "optimizer": self.r.optimizer.state_dict(),
              "scheduler": self.r.scheduler.state_dict(), "rng": resumable.rng_state()}  # fmt: skip
        ck.save_folder(self.out_dir / ck.LAST, [lambda d: self.r.wm.save(d, info), resumable.writer(st)])


def _fit(cfg, r: EpochRunner, p: Progress, saver: _Saver, log: EpochLog, on_step) -> None:
    main = r.acc.is_main_process
    view = LiveView(cfg.show and main, "run")
    saved = (p.epoch, p.step_in_epoch)  # what `last` holds
    try:
        with StopFlag() as stop:
            view.start(p.epochs, p.total_steps, p.global_step)
            while p.epoch < p.epochs:
                r.train_epoch(p, view, stop, on_step)
                val, record, improved = r.end_epoch(p)
                log.write(record, p.global_step)
                if main:
                    if improved:
                        saver.best(p, val)
                    saver.last(p, val)
                    atomic.write_with(saver.out_dir / ck.CURVES_FILE, curves_writer(p.history))
                    view.epoch_end(epoch_line(record, improved), val_table(val, p.epoch))
                saved = (p.epoch, p.step_in_epoch)
                r.acc.wait_for_everyone()
    except KeyboardInterrupt:
        view.stop()
        if main and (p.epoch, p.step_in_epoch) != saved:
            saver.last(p, None)
            stopped(f"epoch {p.epoch + 1}, step {p.step_in_epoch} saved in {saver.out_dir / ck.LAST}", "train-wm")
        raise
    finally:
        view.stop()


def _finish(cfg, r: EpochRunner, p: Progress, out_dir: Path) -> TrainResult:
    summary = final_summary(p)
    if r.acc.is_main_process:
        if p.history:
            atomic.write_json(out_dir / ck.METRICS_FILE, summary)
        if summary["final"] is not None and cfg.show:
            from aria_cli.world_model.metrics import metrics_table

            title = f"val metrics after epoch {p.epochs} (best: epoch {p.best_epoch})"
            console.print(metrics_table(summary["final"], title=title))
        if p.history:
            console.print(throughput_line(p.history))
        console.print(f"saved {out_dir / ck.BEST} and {out_dir / ck.LAST}")
    return TrainResult(out_dir, summary, p.history, p.epochs, len(p.history), p.best_epoch, r.wm)
