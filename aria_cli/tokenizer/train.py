"""Training the frame tokenizer (`aria train-vqvae`).

    aria train-vqvae --data recordings --checkpoints checkpoints
    aria train-vqvae --resume            # continue an interrupted run

Every frame of every recording is collected and identical frames are merged (with their counts).
Files are split train/val per game by `aria_cli.data.splits` (the split every stage uses). A step trains on
`batch_size` distinct training frames drawn with probability ∝ count ** sample_power (0.5: frequent
frames matter more, rare ones are not drowned out), a tenth as often while the last step that drew a frame
decoded it exactly (`exact_weight`: the steps go where the errors are); since a code depends only on its own cell (see
`aria_cli.tokenizer.model`), the encoder runs once per distinct cell of the batch. One epoch draws as many
frames as there are distinct training frames. In each step the decoder sees a random code in place of
the real one at `context_noise` (10%) of the cells and is scored on the other cells only: it learns to
decode a cell right even when a neighbour's code is odd (an unfamiliar patch), instead of leaning on
exact surroundings it saw in training.

After every epoch the model is measured on the val frames (a fixed sample of 4,096 distinct ones when
there are more); the best by val pixel accuracy on the cells whose content training has seen (a new
cell can only be decoded as its nearest code) is kept as `checkpoints/vqvae/{config.json,
model.safetensors}`. When that has not improved for `patience` epochs the LR falls to its floor over
`cooldown` epochs and training stops (or at once when every val pixel is right). Then the best model's
decoder memory is built from every training frame (`checkpoints/vqvae/memory.safetensors`,
aria_cli.tokenizer.memory; `decoder_memory`). The final metrics measure every val frame, with the memory
and without it (`val_pixel_acc_network`, ...). `metrics.json` and `reconstructions.png` describe the best
model, `metrics.jsonl` has a line per epoch. Resume state: `vqvae/last/` (weights at the end of the last
epoch and `train_state.pt`: optimizer, epoch, best so far), written as one folder after every epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from aria_cli.common import ui
from aria_cli.common.devices import torch_threads
from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.tokenizer.cells import encode_cells
from aria_cli.tokenizer.data import Batches, CellSet, TrainingData, collect_frames, frame_sample
from aria_cli.tokenizer.memory import MEMORY_FILE, DecoderMemory
from aria_cli.tokenizer.metrics import evaluate_tokenizer, final_metrics, frame_cells_seen
from aria_cli.tokenizer.model import SIZES, VQVAE, VQVAEConfig, load_model, save_model
from aria_cli.tokenizer.scores import cell_pixel_acc
from aria_cli.training import checkpoints as ck
from aria_cli.training import state as resumable
from aria_cli.training.loop import EpochLog, LiveView, StopFlag, TrainResult, stopped
from aria_cli.training.schedule import warmup_cosine
from aria_cli.training.tracking import check_report_to

LR_FLOOR = 0.1  # of `lr`: where the cosine and the cool-down end


@dataclass
class TokenizerTrainConfig:
    # At most (early stopping on `patience`). 48, not 24: on real frames the training frames were still being
    # learned at 24; 48 took val frames exact from 78.5% to 90.7% on the preview demos and from 26% to 33% on
    # issue 27's ~50,000 frames (docs/RESULTS.md §4).
    epochs: int = 48
    batch_size: int = 32  # frames per step
    lr: float = 1e-2  # on the preview games' frames 5e-3 reached 38% of val frames exact, 1e-2 62% (docs/RESULTS.md §4)
    # AdamW's second-moment decay. At 0.999 runs on real frames spiked mid-way (val 99.4% -> 94.7% in one
    # epoch, a fifth of the codes unused), which also ended them early; 0.95 did not (docs/RESULTS.md §4).
    beta2: float = 0.95
    codebook_size: int = 512
    code_dim: int = VQVAEConfig.code_dim
    channels: tuple[int, int, int] = VQVAEConfig.channels
    context_channels: int = VQVAEConfig.context_channels
    context_blocks: int = VQVAEConfig.context_blocks
    seed: int = 0
    # Epochs without a better val pixel accuracy before the run cools down: the LR falls linearly to the
    # schedule's floor over `cooldown` epochs, then training stops. 0: never stop early.
    patience: int = 3
    cooldown: int = 3
    sample_power: float = 0.5  # frames are drawn with probability ∝ count ** sample_power
    # ... times this while their last draw decoded them exactly (tokenizer.data.Batches); 1: off. On real
    # frames 0.1 halved the val errors on seen content at the same steps (0.02 starved the learned frames).
    exact_weight: float = 0.1
    reset_every: int = 10  # steps between dead-code resets
    # 224 steps an epoch whatever the data's size: a small data set still gets the steps the large model needs
    # (~10,750 in 48 epochs), a big one a val check (and a save) every 224 steps; ~50,000 frames train in
    # 12 minutes on 2 idle CPU cores (`--threads 2`).
    min_steps_per_epoch: int = 224
    max_steps_per_epoch: int = 224
    # Distinct val frames measured after each epoch (a fixed sample when there are more; the final
    # metrics use every val frame): on big data sets a full pass each epoch cost as much as the training.
    val_probe_frames: int = 4096
    threads: int = 1  # CPU threads for torch (see aria_cli.common.devices.torch_threads)
    # Share of cells whose code the decoder sees replaced by a random code during training (their own
    # pixels are left out of the loss): the other cells must still decode right, so one unfamiliar cell
    # (a code meant for something else) does not spoil its neighbours.
    context_noise: float = 0.1
    # Loss weight of pixels that are not their frame's most common colour (tokenizer.model.pixel_weights).
    foreground_weight: float = 1.0
    # When training ends, store every training cell under its codes' neighbourhood for decoding
    # (tokenizer.memory): on issue 27's ~50,000 real frames val frames exact 28.1% -> 53.2% (docs/RESULTS.md §4).
    decoder_memory: bool = True
    report_to: str = "none"  # none | tensorboard | wandb | mlflow (aria_cli.training.tracking)

    @classmethod
    def for_size(cls, size: str, **settings) -> TokenizerTrainConfig:
        """A model size's config (`--size`: tokenizer.model.SIZES, with SIZE_TRAINING's settings), then `settings`."""
        return cls(**{**SIZES[size], **SIZE_TRAINING[size], **settings})


# Training settings that go with a model size (`--size`, tokenizer.model.SIZES), over TokenizerTrainConfig's:
# the small model's codes cannot decode most frames exactly, and drawing those more often took the bundled
# games' val frames exact from 24.9% to 17.4% (docs/RESULTS.md §4), so it draws every frame alike. It keeps
# β2 0.999: at 0.95 its frames exact rose (39.6%) but quickstart's agent then won 10.8 levels of 20, not 13.4.
SIZE_TRAINING: dict[str, dict] = {"small": {"exact_weight": 1.0, "beta2": 0.999}, "large": {}}


@dataclass
class TrainState:
    """Everything but the weights that a resumed run needs."""

    epoch: int = 0  # completed epochs
    step: int = 0
    best_acc: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    cooldown_epoch: int = -1  # epochs completed when the cool-down began (-1: none)
    cooldown_from: float = 1.0  # the LR factor it began at
    seconds: float = 0.0
    stop_reason: str = ""  # "", "epochs", "early stop", "perfect"
    data_fingerprint: str = ""
    train_config: dict = field(default_factory=dict)
    history: list = field(default_factory=list)


def _save_last(d: Path, model: VQVAE, state: TrainState, optimizer: torch.optim.Optimizer, missed: np.ndarray) -> None:
    blob = {"state": asdict(state), "optimizer": optimizer.state_dict(), "missed": torch.from_numpy(missed)}
    ck.save_folder(ck.last_dir(d), [lambda tmp: save_model(model, tmp), resumable.writer(blob)])


def _load_last(d: Path) -> tuple[TrainState, dict, torch.Tensor | None]:
    last = ck.last_dir(d)
    if not (last / ck.STATE_FILE).exists():
        raise AriaError(f"nothing to resume under {d} (no {last / ck.STATE_FILE}); run without --resume")
    blob = resumable.load(last, "train-vqvae")
    try:
        known = {f.name for f in fields(TrainState)}
        return TrainState(**{k: v for k, v in blob["state"].items() if k in known}), blob["optimizer"], blob.get("missed")
    except (KeyError, TypeError, AttributeError):
        raise CheckpointError(f"--resume: {last / ck.STATE_FILE} is not a tokenizer training state; "
                                        "start afresh without --resume") from None


def train_vqvae(
    data_dir: Path,
    checkpoints: Path,
    config: TokenizerTrainConfig | None = None,
    device: str = "cpu",
    resume: bool = False,
    skip_bad: bool = False,
    quiet: bool = False,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train the frame tokenizer on every frame under `data_dir`; the best model goes to checkpoints/vqvae.
    `on_step(step)` is called after every optimizer step."""
    cfg = config or TokenizerTrainConfig()
    check_report_to(cfg.report_to)
    with torch_threads(cfg.threads):
        return _train(data_dir, checkpoints, cfg, device, resume, skip_bad, quiet, on_step)


def _resumed_config(cfg: TokenizerTrainConfig, state: TrainState) -> TokenizerTrainConfig:
    """The interrupted run's settings; only --epochs, --threads and where metrics are reported can change."""
    known = {f.name for f in fields(TokenizerTrainConfig)} - {"epochs", "threads", "report_to"}
    saved = TokenizerTrainConfig(**{"exact_weight": 1.0, "beta2": 0.999,  # as runs saved before these options trained
                                    **{k: v for k, v in state.train_config.items() if k in known}})
    saved.epochs, saved.threads, saved.report_to = cfg.epochs, cfg.threads, cfg.report_to
    return saved


def _train(data_dir, checkpoints, cfg: TokenizerTrainConfig, device: str, resume: bool, skip_bad: bool, quiet: bool,
           on_step) -> TrainResult:  # fmt: skip
    d = ck.tokenizer_dir(checkpoints)
    ck.recover(ck.last_dir(d))
    state, opt_state, missed = _load_last(d) if resume else (TrainState(), None, None)
    if resume:
        cfg = _resumed_config(cfg, state)
        if state.stop_reason not in ("", "epochs") or state.epoch >= cfg.epochs:
            ui.console.print(f"training already finished ({state.stop_reason or 'epochs'} at epoch {state.epoch}); nothing to resume")
            return _result(d, state, _read_metrics(d), cfg.epochs)
        state.stop_reason = ""  # more epochs than the finished run had
    (d / MEMORY_FILE).unlink(missing_ok=True)  # the model it was built with is about to be replaced
    t_start = time.perf_counter()
    data = collect_frames(data_dir, skip_bad)
    if resume and state.data_fingerprint and state.data_fingerprint != data.fingerprint:
        ui.print_warning("the recordings changed since the interrupted run; resuming on the new set")
    if data.val_is_train:
        ui.print_warning("no game has two recordings, so there is no val split: val metrics are on training frames")
    run = _Run(d, cfg, data, device, resume)
    if opt_state is not None:
        run.optimizer.load_state_dict(opt_state)
    if missed is not None and len(missed) == len(run.batches.missed):  # else the recordings changed: start afresh
        run.batches.missed[:] = missed.numpy()
    state.train_config = {**asdict(cfg), "channels": list(cfg.channels)}
    state.data_fingerprint = data.fingerprint
    run.announce(quiet)
    log = EpochLog(d, cfg.report_to, "train-vqvae", state.train_config, state.history)
    try:
        run.fit(state, log, quiet, on_step)
    finally:
        log.close()
    if cfg.decoder_memory:
        build_memory(d, data, run.train_cells, device, quiet)
    metrics = final_metrics(d, data, run.train_cells, run.val_cells, state, device, time.perf_counter() - t_start, quiet)
    return _result(d, state, metrics, cfg.epochs)


def build_memory(d: Path, data: TrainingData, cells: CellSet, device: str, quiet: bool = False) -> None:
    """The best model's decoder memory (tokenizer.memory) of every training frame, saved beside it."""
    best, fingerprint = load_model(d, device=device)
    with nullcontext() if quiet else ui.console.status(f"building the decoder memory of {len(cells.cells):,} training cells"):
        codes = encode_cells(best, cells.cells, device)[cells.frame_cells]
        DecoderMemory.build(codes, cells.frame_cells, data.train.counts, cells.cells, fingerprint).save(d / MEMORY_FILE)


def _read_metrics(d: Path) -> dict:
    import json

    path = d / ck.METRICS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _result(d: Path, state: TrainState, metrics: dict, epochs: int) -> TrainResult:
    return TrainResult(d, metrics, state.history, epochs, state.epoch, state.best_epoch or None)


class _Run:
    """A tokenizer run's model, optimizer, data and schedule."""

    def __init__(self, d: Path, cfg: TokenizerTrainConfig, data: TrainingData, device: str, resume: bool):
        self.d, self.cfg, self.data, self.device = d, cfg, data, device
        self.train_cells, self.val_cells = CellSet.from_frames(data.train), CellSet.from_frames(data.val)
        self.probe = frame_sample(data.val, cfg.val_probe_frames, cfg.seed)
        self.probe_cells = self.val_cells if self.probe is data.val else CellSet.from_frames(self.probe)
        self.probe_seen = frame_cells_seen(self.train_cells, self.probe_cells)
        torch.manual_seed(cfg.seed)
        if resume:
            self.model, _ = load_model(ck.last_dir(d), device=device)
            self.model.train()
        else:
            mc = VQVAEConfig(codebook_size=cfg.codebook_size, code_dim=cfg.code_dim, channels=cfg.channels,
                             context_channels=cfg.context_channels, context_blocks=cfg.context_blocks)  # fmt: skip
            self.model = VQVAE(mc).to(device)
        params = [p for n, p in self.model.named_parameters() if not n.startswith("quantizer")]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, cfg.beta2), weight_decay=0.0)
        self.batches = Batches(data.train, self.train_cells, cfg.batch_size, cfg.sample_power, device, cfg.exact_weight)
        n = len(data.train.frames)
        self.steps_per_epoch = min(cfg.max_steps_per_epoch, max(cfg.min_steps_per_epoch, math.ceil(n / cfg.batch_size)))
        self.total_steps = self.steps_per_epoch * cfg.epochs
        # Linear warm-up (50 steps, fewer for short runs) under a cosine decay to a tenth over the whole run.
        warm = min(50, max(1, self.total_steps // 10))
        self.lr_factor = warmup_cosine(self.total_steps, warm, floor=LR_FLOOR, decay_from_start=True)
        if not self.model.quantizer.initialized:
            init_codebook(self.model, self.batches.cells, np.random.default_rng([cfg.seed, 1]))

    def announce(self, quiet: bool) -> None:
        if quiet:
            return
        data = self.data
        ui.console.print(
            f"tokenizer: {data.train.total} train frames ({len(data.train.frames)} distinct, "
            f"{len(self.train_cells.cells)} distinct cells) from {len(data.train.files)} files; "
            f"{data.val.total} val frames ({len(data.val.frames)} distinct) from {len(data.val.files)} files; "
            f"{self.steps_per_epoch} steps per epoch on {self.device}"
        )

    def lr_at(self, state: TrainState) -> float:
        """The LR factor: warm-up and cosine over the whole run, or the cool-down's linear fall once begun."""
        if state.cooldown_epoch < 0:
            return self.lr_factor(state.step)
        begun = state.cooldown_epoch * self.steps_per_epoch  # every epoch is steps_per_epoch steps
        t = min(1.0, (state.step + 1 - begun) / max(1, self.cfg.cooldown * self.steps_per_epoch))
        return state.cooldown_from + (LR_FLOOR - state.cooldown_from) * t

    def train_step(self, state: TrainState) -> dict:
        cfg, model, step = self.cfg, self.model, state.step
        for g in self.optimizer.param_groups:
            g["lr"] = cfg.lr * self.lr_at(state)
        batch = self.batches.draw(self.rng, cfg.context_noise, model.config.codebook_size, cfg.seed * 1_000_003 + step)
        loss, metrics = model.compute_loss(batch, cfg.foreground_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        self.optimizer.step()
        model.update_codebook(batch, metrics, reset_dead=step % cfg.reset_every == 0)
        self.batches.mark(batch, metrics["frame_missed"])
        return metrics

    def fit(self, state: TrainState, log: EpochLog, quiet: bool, on_step) -> None:
        cfg, spe = self.cfg, self.steps_per_epoch
        view = LiveView(not quiet, "vq-vae")
        try:
            with StopFlag() as stop:
                view.start(cfg.epochs, self.total_steps, state.epoch * spe)
                while state.epoch < cfg.epochs and not state.stop_reason:
                    self.rng = np.random.default_rng([cfg.seed, state.epoch])  # same batches after a resume
                    view.begin_epoch(state.epoch, spe, 0)
                    t0, loss_sum, acc_sum = time.perf_counter(), 0.0, 0.0
                    for i in range(spe):
                        m = self.train_step(state)
                        state.step += 1
                        loss_sum, acc_sum = loss_sum + m["loss"], acc_sum + m["acc"]
                        codes = ui.pct(self.model.quantizer.used(self.model.config.dead_after), 0)
                        view.step(f"loss {loss_sum / (i + 1):.4f} · acc {ui.pct(acc_sum / (i + 1), 3)} · codes {codes}")
                        if on_step is not None:
                            on_step(state.step)
                        if stop.requested:
                            raise KeyboardInterrupt
                    self.end_epoch(state, log, view, time.perf_counter() - t0, loss_sum / spe, acc_sum / spe)
        except KeyboardInterrupt:
            view.stop()
            stopped(f"the run continues from the end of epoch {state.epoch} ({ck.last_dir(self.d)})", "train-vqvae")
            raise
        finally:
            view.stop()

    def end_epoch(self, state: TrainState, log: EpochLog, view: LiveView, seconds: float, loss: float, acc: float) -> None:
        ev = evaluate_tokenizer(self.model, self.probe_cells, self.probe, self.device)
        seen = cell_pixel_acc(ev.reconstructions, self.probe.frames, self.probe.counts, self.probe_seen)
        state.epoch += 1
        state.seconds += seconds
        record = {"epoch": state.epoch, "loss": loss, "train_batch_acc": acc, "val_pixel_acc": ev.pixel_acc,
                  "val_seen_cell_acc": seen, "codebook_used": ev.codebook_used,
                  "lr": self.optimizer.param_groups[0]["lr"]}  # fmt: skip
        state.history.append(record)
        # Judged on the val cells training has seen: a cell new to training can only be decoded as its nearest
        # code, which drifts from epoch to epoch, and that noise stopped runs on varied data early.
        judged = ev.pixel_acc if seen is None else seen
        improved = judged > state.best_acc
        if improved:
            state.best_acc, state.best_epoch, state.bad_epochs = judged, state.epoch, 0
            save_model(self.model, self.d)
        else:
            state.bad_epochs += 1
        state.stop_reason = stop_reason(ev.pixel_acc, state, self.cfg)
        cooling = state.stop_reason == "cool down"
        if cooling:
            state.cooldown_from = self.lr_at(state)
            state.stop_reason, state.cooldown_epoch = "", state.epoch
        _save_last(self.d, self.model, state, self.optimizer, self.batches.missed)
        log.write(record, state.step)
        on_seen = f" (on cells seen in training {ui.pct(seen, 3)})" if seen is not None and seen != ev.pixel_acc else ""
        view.epoch_end(f"epoch {state.epoch}: val pixel accuracy {ui.pct(ev.pixel_acc, 3)}{on_seen}"
                       + (" [green]best[/]" if improved else ""))
        if cooling:
            view.epoch_end(f"no better val accuracy for {state.bad_epochs} epochs: the LR falls to its floor over {self.cfg.cooldown} more, then training stops")


def stop_reason(val_acc: float, state: TrainState, cfg: TokenizerTrainConfig) -> str:
    """Why training ends after the epoch just measured ("" while it goes on; "cool down" when the plateau
    has lasted `patience` epochs and the cool-down should begin now)."""
    if val_acc >= 1.0:
        return "perfect"
    if state.epoch >= cfg.epochs:
        return "epochs"
    if state.cooldown_epoch >= 0:
        return "early stop" if state.epoch - state.cooldown_epoch >= cfg.cooldown else ""
    if cfg.patience and state.bad_epochs >= cfg.patience:
        return "cool down" if cfg.cooldown else "early stop"
    return ""


def init_codebook(model: VQVAE, cells: torch.Tensor, rng: np.random.Generator) -> None:
    """Start the codes at the encodings of distinct training cells (chosen uniformly)."""
    pick = rng.choice(len(cells), size=min(len(cells), 8192), replace=False)
    with torch.no_grad():
        z = model.encode_latent(cells[torch.from_numpy(pick).to(cells.device)]).reshape(-1, model.config.code_dim)
    model.quantizer.init_from(z, rng)
