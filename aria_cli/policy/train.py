"""`aria train-policy`: policy heads on the frozen world model, trained on cached masked features.

    aria train-policy                      # after train-wm; features are computed once and cached
    aria train-policy --epochs 80 --resume

Writes `checkpoints/policy/`: model.safetensors + config.json (best by val), last/ (the heads, optimizer,
scheduler, epoch and RNG after the latest epoch: `--resume` continues), metrics.jsonl (a line per epoch),
metrics.json (per game: type_acc, loc_acc, top-3 of both, and the baselines "most frequent type" and
"repeat the previous action" beside them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from aria_cli.common import atomic, ui
from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.policy.features import load_features, world_model_folder
from aria_cli.policy.heads import TYPE_ATTENTION_HEADS, PolicyBatch, PolicyConfig, PolicyHeads
from aria_cli.policy.metrics import (
    ALL,
    allowed_mask,
    metrics_table,
    most_frequent_types,
    policy_metrics,
    predict,
    score,
    step_inputs,
)
from aria_cli.stack import check_stack, world_model_fingerprint
from aria_cli.training import checkpoints as ck
from aria_cli.training import state as resumable
from aria_cli.training.loop import EpochLog, LiveView, StopFlag, TrainResult, stopped
from aria_cli.training.schedule import constant, warmup_cosine
from aria_cli.training.tracking import check_report_to

LR_SCHEDULES = ("constant", "cosine")
# What a resumed run must share with the interrupted one (besides the features).
# A run saved before a setting existed ran with these.
_FIXED_BEFORE = {"lr_schedule": "constant", "click_points": False}
_FIXED = ("batch_size", "type_attention_heads", "previous_frame", "lr_schedule", "click_points")


@dataclass
class PolicyTrainConfig:
    data: Path = Path("recordings")
    checkpoints: Path = Path("checkpoints")
    epochs: int = 50
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 0.01
    patience: int = 10  # epochs without val improvement before stopping early
    # constant: the peak LR throughout (a few seconds per epoch leave little to anneal); cosine: the
    # warm-up + cosine decay of the other trainers (training.schedule) over `epochs`.
    lr_schedule: str = "constant"
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    skip_bad: bool = False
    type_attention_heads: int = TYPE_ATTENTION_HEADS  # 0: summary-only type head (docs/DESIGN.md §13)
    previous_frame: bool = True  # False: the heads read step t's states only (see PolicyConfig)
    click_points: bool = True  # False: no click-point head (PolicyConfig.click_points)
    report_to: str = "none"  # none | tensorboard | wandb | mlflow (aria_cli.training.tracking)
    force: bool = False  # use a world model trained with another tokenizer (aria_cli.stack), with a warning


@dataclass
class _Split:
    """The features of one split, with each step's game and the action types its game offers."""

    feats: object
    games: list[str]
    allowed: np.ndarray


def _splits(cache, feats, action_sets, data: Path) -> tuple[_Split, _Split]:
    split = np.array([cache.episodes[e].split for e in feats.episode])
    games = [cache.episodes[e].game for e in feats.episode]
    tr_idx, va_idx = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    if len(tr_idx) == 0:
        raise AriaError(f"no training steps under {data} ({len(feats)} steps, all in val); record more episodes")
    train, val = feats.take(tr_idx), feats.take(va_idx)
    tr_games, va_games = [games[i] for i in tr_idx], [games[i] for i in va_idx]
    if len(val) == 0:  # a single recording per game: report on train, and say so
        ui.print_warning("no val recordings: metrics below are on the training steps")
        val, va_games = train, tr_games
    return (_Split(train, tr_games, allowed_mask(tr_games, action_sets)),
            _Split(val, va_games, allowed_mask(va_games, action_sets)))  # fmt: skip


def _schedule(cfg: PolicyTrainConfig, n_train: int) -> Callable[[int], float]:
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise AriaError(f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, got {cfg.lr_schedule!r}")
    if cfg.lr_schedule == "constant":
        return constant
    total = cfg.epochs * -(-n_train // cfg.batch_size)
    return warmup_cosine(total, max(1, total // 20))


def train_policy(cfg: PolicyTrainConfig, on_epoch: Callable[[int], None] | None = None) -> TrainResult:
    """Train (or resume) the policy heads; `on_epoch(epoch)` is called after each epoch is saved."""
    from aria_cli.common.devices import resolve_device

    device = resolve_device(cfg.device)
    check_report_to(cfg.report_to)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    out_dir = ck.policy_dir(cfg.checkpoints)
    ck.recover(ck.last_dir(out_dir))
    saved = resumable.load(ck.last_dir(out_dir), "train-policy") if cfg.resume else None  # before the long work
    check_stack(cfg.checkpoints, force=cfg.force, policy=False)
    cache, wm, feats, reused, action_sets = load_features(cfg.data, cfg.checkpoints, device, cfg.skip_bad)
    ui.console.print(
        f"features: {len(feats)} steps from {len(cache.episodes)} recordings "
        f"({'reused cache' if reused else 'computed'}, {time.time() - t0:.1f} s)"
    )
    train, val = _splits(cache, feats, action_sets, cfg.data)
    most_frequent = most_frequent_types(train.feats, train.games)
    heads = PolicyHeads(PolicyConfig(hidden_size=train.feats.summary.shape[1], world_model_fingerprint=feats.key,
                                     world_model_checkpoint=world_model_fingerprint(world_model_folder(cfg.checkpoints)),
                                     type_attention_heads=cfg.type_attention_heads,
                                     previous_frame=cfg.previous_frame, click_points=cfg.click_points)).to(device)  # fmt: skip
    opt = torch.optim.AdamW(heads.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, len(train.feats)))
    run = _Run(cfg, out_dir, heads, opt, sched, feats.key, device)
    if saved is not None:
        run.restore(saved)
    log = EpochLog(out_dir, cfg.report_to, "train-policy", _fixed(cfg), run.history)
    try:
        run.fit(train, val, most_frequent, log, on_epoch)
    finally:
        log.close()
    best_heads = PolicyHeads.load(out_dir, device=device)
    result = policy_metrics(*predict(best_heads, val.feats, device), val.feats, most_frequent, val.games, val.allowed)
    metrics = {
        "games": {g: m for g, m in result.items() if g != ALL},
        ALL: result[ALL],
        "train_steps": len(train.feats),
        "val_steps": len(val.feats) if val.feats is not train.feats else 0,
        "features_reused": reused,
        "action_sets": {g: list(a) for g, a in action_sets.items()},
        "seconds": round(time.time() - t0, 1),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "history": run.history,
    }
    atomic.write_json(out_dir / ck.METRICS_FILE, metrics)
    ui.console.print(metrics_table(result))
    ui.console.print(f"saved {out_dir} ({metrics['seconds']} s)")
    return TrainResult(out_dir, metrics, run.history, cfg.epochs, len(run.history), run.best_epoch, heads)


def _fixed(cfg: PolicyTrainConfig) -> dict:
    return {k: getattr(cfg, k) for k in _FIXED}


class _Run:
    """The heads, optimizer and schedule of a run, where it stands, and its `last/` folder."""

    def __init__(self, cfg, out_dir: Path, heads: PolicyHeads, opt, sched, features_key: str, device: str):
        self.cfg, self.out_dir, self.heads, self.opt, self.sched = cfg, out_dir, heads, opt, sched
        self.features_key, self.device = features_key, device
        self.epoch, self.best, self.since_best, self.history = 0, -1.0, 0, []
        self.best_epoch: int | None = None

    def restore(self, st: dict) -> None:
        last = ck.last_dir(self.out_dir)
        saved = {k: st.get("config", {}).get(k, _FIXED_BEFORE.get(k)) for k in _FIXED}
        if st.get("features_key") != self.features_key or saved != _fixed(self.cfg):
            raise CheckpointError(f"--resume: {last} is from another world model, data, batch size, "
                                  "--type-attention-heads, --previous-frame, --lr-schedule or --click-points setting")
        self.heads.load_state_dict(PolicyHeads.load(last).state_dict())
        self.opt.load_state_dict(st["optimizer"])
        self.sched.load_state_dict(st["scheduler"])
        torch.set_rng_state(st["torch_rng"])
        self.epoch, self.best, self.since_best, self.history = st["epoch"], st["best"], st["since_best"], st["history"]
        self.best_epoch = st.get("best_epoch")

    def save_last(self) -> None:
        st = {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
              "torch_rng": torch.get_rng_state(), "epoch": self.epoch, "best": self.best,
              "since_best": self.since_best, "best_epoch": self.best_epoch, "history": self.history,
              "features_key": self.features_key, "config": _fixed(self.cfg)}  # fmt: skip
        ck.save_folder(ck.last_dir(self.out_dir), [self.heads.save, resumable.writer(st)])

    def train_epoch(self, train: _Split, gen: torch.Generator, view: LiveView, stop) -> float:
        cfg, feats = self.cfg, train.feats
        self.heads.train()
        t, loc, points, allowed = (torch.from_numpy(a) for a in (feats.types, feats.locs, feats.points, train.allowed))
        perm = torch.randperm(len(feats), generator=gen)
        total = 0.0
        for i in range(0, len(perm), cfg.batch_size):
            b = perm[i : i + cfg.batch_size]
            batch = PolicyBatch(step_inputs(feats, b.numpy(), self.device), t[b].to(self.device),
                                loc[b].to(self.device), allowed[b].to(self.device), points[b].to(self.device))  # fmt: skip
            loss, m = self.heads.compute_loss(batch)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            total += m["loss"] * m["steps"]
            view.step(f"loss {m['loss']:.3f}")
            if stop.requested:
                raise KeyboardInterrupt
        return total / len(feats)

    def fit(self, train: _Split, val: _Split, most_frequent: dict, log: EpochLog, on_epoch) -> None:
        cfg = self.cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        spe = -(-len(train.feats) // cfg.batch_size)
        view = LiveView(True, "train-policy")
        try:
            with StopFlag() as stop:
                view.start(cfg.epochs, cfg.epochs * spe, self.epoch * spe)
                while self.epoch < cfg.epochs and self.since_best < cfg.patience:
                    gen.manual_seed(cfg.seed * 1000 + self.epoch)  # per-epoch order: identical after --resume
                    view.begin_epoch(self.epoch, spe, 0)
                    loss = self.train_epoch(train, gen, view, stop)
                    result = policy_metrics(*predict(self.heads, val.feats, self.device), val.feats, most_frequent,
                                            val.games, val.allowed)  # fmt: skip
                    self.end_epoch(loss, result, log, view)
                    if on_epoch is not None:
                        on_epoch(self.epoch)
        except KeyboardInterrupt:
            view.stop()
            stopped(f"the run continues from the end of epoch {self.epoch} ({ck.last_dir(self.out_dir)})",
                    "train-policy")
            raise
        finally:
            view.stop()
        if self.since_best >= cfg.patience:
            ui.console.print(f"stopped early: val accuracy has not improved for {cfg.patience} epochs")

    def end_epoch(self, loss: float, result: dict, log: EpochLog, view: LiveView) -> None:
        self.epoch += 1
        record = {"epoch": self.epoch, "train_loss": loss,
                  **{k: result[ALL][k] for k in ("type_acc", "loc_acc", "point_acc")}}  # fmt: skip
        self.history.append(record)
        improved = score(result[ALL]) > self.best
        if improved:
            self.best, self.since_best, self.best_epoch = score(result[ALL]), 0, self.epoch
            self.heads.save(self.out_dir)
        else:
            self.since_best += 1
        self.save_last()
        log.write(record, self.epoch)
        view.epoch_end(f"epoch {self.epoch}: loss {loss:.3f} · val type {ui.pct(result[ALL]['type_acc'])} · "
                       f"loc {ui.pct(result[ALL]['loc_acc'])}"
                       + (f" · point {ui.pct(result[ALL]['point_acc'])}" if result[ALL]["point_acc"] is not None else "")
                       + (" [green]best[/]" if improved else ""))  # fmt: skip
