"""Training the frame tokenizer (`aria train-vqvae`).

    aria train-vqvae --data recordings --checkpoints checkpoints
    aria train-vqvae --resume            # continue an interrupted run

Every frame of every recording is collected and identical frames are merged (with their counts).
Files are split train/val per game by `aria_cli.splits` (the split every stage uses). Because a code
depends only on its own 8x8 cell (see `aria_cli.vqvae`), training works on the *distinct* cells of the
training frames, sampled in proportion to count ** sample_power (0.5: frequent cells matter more,
rare ones are not drowned out). One epoch draws as many cells as the distinct training frames hold.

After every epoch the model is measured on every val frame; the best by val pixel accuracy is kept as
`checkpoints/vqvae/{config.json, model.safetensors}`. Training stops when val accuracy has not improved
for `patience` epochs (or is perfect). `metrics.json` and `reconstructions.png` describe the best
model. Resume state: `last.safetensors` (weights at the end of the last epoch) and `train_state.pt`
(optimizer, epoch, best so far), written after every epoch.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import TextColumn

from aria_cli import atomic, ui
from aria_cli.errors import AriaError, CheckpointError
from aria_cli.palette import diff_to_rgb, frame_grid, save_png
from aria_cli.recordings import find_recordings
from aria_cli.splits import assign_split
from aria_cli.token_cache import read_usable, relative_key
from aria_cli.vocab import N_CELLS
from aria_cli.vqvae import (
    VQVAE,
    VQVAEConfig,
    code_pictures,
    encode_cells,
    frames_to_cells,
    load_model,
    save_model,
    unique_cells,
    vqvae_dir,
)

LAST_FILE = "last.safetensors"
STATE_FILE = "train_state.pt"
METRICS_FILE = "metrics.json"
PICTURE_FILE = "reconstructions.png"


@dataclass
class TrainVQVAEConfig:
    epochs: int = 40
    batch_size: int = 1024  # cells (8x8 patches) per step
    lr: float = 2e-3
    codebook_size: int = 512
    code_dim: int = VQVAEConfig.code_dim
    channels: tuple[int, int, int] = VQVAEConfig.channels
    seed: int = 0
    patience: int = 4  # epochs without a better val pixel accuracy before stopping
    sample_power: float = 0.5  # cells are drawn with probability ∝ count ** sample_power
    reset_every: int = 10  # steps between dead-code resets
    min_steps_per_epoch: int = 20
    max_steps_per_epoch: int = 250  # so that big data sets still get a val check (and a save) often


# --------------------------------------------------------------------------- data
@dataclass
class FrameSet:
    """Distinct frames of one split, with how often each occurs."""

    frames: np.ndarray  # (U, 64, 64) uint8
    counts: np.ndarray  # (U,) int64
    files: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    @classmethod
    def from_frames(cls, frames: list[np.ndarray], files: list[str]) -> FrameSet:
        if not frames:
            return cls(np.zeros((0, 64, 64), np.uint8), np.zeros(0, np.int64), files)
        stacked = np.ascontiguousarray(np.concatenate(frames), dtype=np.uint8)
        keys = stacked.reshape(len(stacked), -1).view(np.dtype((np.void, stacked[0].size))).ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return cls(stacked[first], np.bincount(inverse.reshape(-1)).astype(np.int64), files)


@dataclass
class CellSet:
    """Distinct 8x8 cells of a FrameSet: what the model trains and is measured on."""

    cells: np.ndarray  # (C, 8, 8) uint8
    counts: np.ndarray  # (C,) occurrences over all frames (frame counts included)
    frame_cells: np.ndarray  # (U, 64) index into `cells` for each distinct frame

    @classmethod
    def from_frames(cls, fs: FrameSet) -> CellSet:
        cells, inverse = unique_cells(frames_to_cells(fs.frames))
        counts = np.bincount(inverse, weights=np.repeat(fs.counts, N_CELLS), minlength=len(cells))
        return cls(cells, counts.astype(np.int64), inverse.reshape(-1, N_CELLS))


@dataclass
class TrainingData:
    train: FrameSet
    val: FrameSet
    val_is_train: bool  # no game had two files, so val metrics are measured on the training frames
    fingerprint: str  # of the file list, sizes and times: warns when a resumed run sees other data


def collect_frames(data_dir: Path, skip_bad: bool = False) -> TrainingData:
    """Every frame of every recording under `data_dir`, de-duplicated per split."""
    data_dir = Path(data_dir)
    paths = find_recordings(data_dir)
    per_file: list[tuple[str, str, np.ndarray]] = []
    h = hashlib.sha256()
    for path in paths:
        rec = read_usable(path, skip_bad)
        if rec is None:
            continue
        key = relative_key(path, data_dir)
        st = path.stat()
        h.update(f"{key}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        per_file.append((key, rec.game, np.stack([s.frame for s in rec.steps])))
    if not per_file:
        raise AriaError(f"no usable recordings under {data_dir.resolve()} (every file was empty or bad)")
    split = assign_split((key, game) for key, game, _ in per_file)
    parts: dict[str, tuple[list, list]] = {"train": ([], []), "val": ([], [])}
    for key, _, frames in per_file:
        parts[split[key]][0].append(frames)
        parts[split[key]][1].append(key)
    train = FrameSet.from_frames(*parts["train"])
    val = FrameSet.from_frames(*parts["val"])
    val_is_train = val.total == 0
    if val_is_train:
        val = train
    return TrainingData(train, val, val_is_train, h.hexdigest())


# --------------------------------------------------------------------------- measuring
@dataclass
class Evaluation:
    pixel_acc: float  # over every frame (duplicates counted)
    frame_exact: float  # share of frames with zero wrong pixels (duplicates counted)
    pixel_acc_distinct: float  # over distinct frames
    codebook_used: float  # share of the codebook used by these frames
    wrong_per_frame: np.ndarray  # (U,) wrong pixels of each distinct frame
    reconstructions: np.ndarray | None = None  # (U, 64, 64) when asked for


@torch.no_grad()
def evaluate(model: VQVAE, cells: CellSet, fs: FrameSet, device: str, pictures: bool = False) -> Evaluation:
    model.eval()
    codes = encode_cells(model, cells.cells, device)
    decoded = code_pictures(model, device)[codes]
    wrong_cell = (decoded != cells.cells).sum(axis=(1, 2))
    wrong_frame = wrong_cell[cells.frame_cells].sum(axis=1)
    pixels = 64 * 64
    rec = None
    if pictures:
        from aria_cli.vqvae import cells_to_frames

        rec = cells_to_frames(decoded[cells.frame_cells.reshape(-1)])
    model.train()
    return Evaluation(
        pixel_acc=1.0 - float((wrong_frame * fs.counts).sum()) / (pixels * max(fs.total, 1)),
        frame_exact=float(fs.counts[wrong_frame == 0].sum()) / max(fs.total, 1),
        pixel_acc_distinct=1.0 - float(wrong_frame.sum()) / (pixels * max(len(wrong_frame), 1)),
        codebook_used=len(np.unique(codes)) / model.config.codebook_size,
        wrong_per_frame=wrong_frame,
        reconstructions=rec,
    )


def write_reconstructions(path: Path, fs: FrameSet, ev: Evaluation, n: int = 8) -> Path:
    """Val frames | reconstructions | wrong pixels: the worst frames first, then the most common."""
    order = np.lexsort((-fs.counts, -ev.wrong_per_frame))[:n]
    rows = [[fs.frames[i], ev.reconstructions[i], diff_to_rgb(fs.frames[i], ev.reconstructions[i], 4)] for i in order]
    labels = [f"{int(ev.wrong_per_frame[i])} wrong" for i in order]
    img = frame_grid(rows, col_labels=["val frame", "reconstruction", "wrong pixels"], row_labels=labels, scale=4)
    return save_png(img, path)


# --------------------------------------------------------------------------- training
@dataclass
class TrainState:
    """Everything but the weights that a resumed run needs."""

    epoch: int = 0  # completed epochs
    step: int = 0
    best_acc: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    seconds: float = 0.0
    stop_reason: str = ""  # "", "epochs", "early stop", "perfect"
    data_fingerprint: str = ""
    train_config: dict = field(default_factory=dict)
    history: list = field(default_factory=list)


@dataclass
class TrainResult:
    metrics: dict
    directory: Path


def _save_state(d: Path, state: TrainState, optimizer: torch.optim.Optimizer) -> None:
    blob = {"state": asdict(state), "optimizer": optimizer.state_dict()}
    atomic.write_with(d / STATE_FILE, lambda tmp: torch.save(blob, tmp))


def _load_state(d: Path) -> tuple[TrainState, dict]:
    path = d / STATE_FILE
    if not path.exists() or not (d / LAST_FILE).exists():
        raise AriaError(f"nothing to resume under {d} (no {STATE_FILE} / {LAST_FILE}); run without --resume")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        known = {f.name for f in fields(TrainState)}
        state = TrainState(**{k: v for k, v in blob["state"].items() if k in known})
    except Exception as e:  # a damaged file can fail in many ways; say which file
        raise CheckpointError(f"{path}: does not load ({type(e).__name__}); run without --resume") from None
    return state, blob["optimizer"]


def _sampling_probs(counts: np.ndarray, power: float) -> np.ndarray:
    p = counts.astype(np.float64) ** power
    return p / p.sum()


def _column(name: str) -> TextColumn:
    return TextColumn(f"{name} {{task.fields[{name}]}}")


def train_vqvae(
    data_dir: Path,
    checkpoints: Path,
    config: TrainVQVAEConfig | None = None,
    device: str = "cpu",
    resume: bool = False,
    skip_bad: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Train the frame tokenizer on every frame under `data_dir`; the best model goes to checkpoints/vqvae."""
    cfg = config or TrainVQVAEConfig()
    d = vqvae_dir(checkpoints)
    state, opt_state = _load_state(d) if resume else (TrainState(), None)
    if resume:
        saved = TrainVQVAEConfig(**{k: v for k, v in state.train_config.items() if k != "epochs"})
        saved.epochs = cfg.epochs
        cfg = saved
        if state.stop_reason not in ("", "epochs") or state.epoch >= cfg.epochs:
            ui.console.print(f"training already finished ({state.stop_reason or 'epochs'} at epoch {state.epoch}); nothing to resume")
            metrics = json.loads((d / METRICS_FILE).read_text()) if (d / METRICS_FILE).exists() else {}
            return TrainResult(metrics, d)
        state.stop_reason = ""  # more epochs than the finished run had
    t_start = time.perf_counter()
    data = collect_frames(data_dir, skip_bad)
    if resume and state.data_fingerprint and state.data_fingerprint != data.fingerprint:
        ui.print_warning("the recordings changed since the interrupted run; resuming on the new set")
    if data.val_is_train:
        ui.print_warning("no game has two recordings, so there is no val split: val metrics are on training frames")
    train_cells = CellSet.from_frames(data.train)
    val_cells = CellSet.from_frames(data.val)
    torch.manual_seed(cfg.seed)
    if resume:
        model, _ = load_model(d, LAST_FILE, device=device)
        model.train()
    else:
        model = VQVAE(VQVAEConfig(codebook_size=cfg.codebook_size, code_dim=cfg.code_dim, channels=cfg.channels)).to(device)
    optimizer = torch.optim.AdamW(
        [p for n, p in model.named_parameters() if not n.startswith("quantizer")], lr=cfg.lr, weight_decay=0.0
    )
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)
    state.train_config = {**asdict(cfg), "channels": list(cfg.channels)}
    state.data_fingerprint = data.fingerprint

    cells_t = torch.from_numpy(train_cells.cells).to(device)
    probs = _sampling_probs(train_cells.counts, cfg.sample_power)
    steps_per_epoch = min(
        cfg.max_steps_per_epoch,
        max(cfg.min_steps_per_epoch, math.ceil(len(data.train.frames) * N_CELLS / cfg.batch_size)),
    )
    total_steps = steps_per_epoch * cfg.epochs
    if not model.quantizer.initialized:
        _init_codebook(model, cells_t, np.random.default_rng([cfg.seed, 1]))
    if not quiet:
        ui.console.print(
            f"tokenizer: {data.train.total} train frames ({len(data.train.frames)} distinct, "
            f"{len(train_cells.cells)} distinct cells) from {len(data.train.files)} files; "
            f"{data.val.total} val frames ({len(data.val.frames)} distinct) from {len(data.val.files)} files; "
            f"{steps_per_epoch} steps per epoch on {device}"
        )
    d.mkdir(parents=True, exist_ok=True)
    cols = [_column("loss"), _column("acc"), _column("codes"), _column("val"), TextColumn("{task.fields[rate]} it/s")]
    prog = ui.progress(*cols) if not quiet else None
    with prog if prog is not None else nullcontext():
        task = None
        if prog is not None:
            best = ui.pct(state.best_acc, 3) if state.best_acc >= 0 else "—"
            task = prog.add_task("vq-vae", total=total_steps, completed=state.epoch * steps_per_epoch,
                                 loss="—", acc="—", codes="—", val=best, rate="—")  # fmt: skip
        while state.epoch < cfg.epochs and not state.stop_reason:
            rng = np.random.default_rng([cfg.seed, state.epoch])  # same batches after a resume
            t0, loss_sum, acc_sum = time.perf_counter(), 0.0, 0.0
            for i in range(steps_per_epoch):
                lr = _lr(cfg, state.step, total_steps)
                for g in optimizer.param_groups:
                    g["lr"] = lr
                loss, acc = _train_step(model, optimizer, cells_t, probs, rng, cfg, state.step)
                state.step += 1
                loss_sum, acc_sum = loss_sum + loss, acc_sum + acc
                if task is not None:
                    prog.update(
                        task, advance=1, description=f"vq-vae epoch {state.epoch + 1}/{cfg.epochs}",
                        loss=f"{loss_sum / (i + 1):.4f}", acc=ui.pct(acc_sum / (i + 1), 3),
                        codes=ui.pct(model.quantizer.used(model.config.dead_after), 0),
                        rate=f"{(i + 1) / (time.perf_counter() - t0):.1f}",
                    )  # fmt: skip
            ev = evaluate(model, val_cells, data.val, device)
            state.epoch += 1
            state.seconds += time.perf_counter() - t0
            state.history.append(
                {"epoch": state.epoch, "loss": loss_sum / steps_per_epoch, "train_batch_acc": acc_sum / steps_per_epoch,
                 "val_pixel_acc": ev.pixel_acc, "codebook_used": ev.codebook_used}
            )  # fmt: skip
            if ev.pixel_acc > state.best_acc:
                state.best_acc, state.best_epoch, state.bad_epochs = ev.pixel_acc, state.epoch, 0
                save_model(model, d)
            else:
                state.bad_epochs += 1
            if ev.pixel_acc >= 1.0:
                state.stop_reason = "perfect"
            elif state.bad_epochs >= cfg.patience:
                state.stop_reason = "early stop"
            elif state.epoch >= cfg.epochs:
                state.stop_reason = "epochs"
            save_model(model, d, LAST_FILE)
            _save_state(d, state, optimizer)
            if task is not None:
                prog.update(task, val=ui.pct(state.best_acc, 3))
    return _finish(d, data, train_cells, val_cells, state, device, time.perf_counter() - t_start, quiet)


def _lr(cfg: TrainVQVAEConfig, step: int, total: int) -> float:
    """Linear warm-up (50 steps, fewer for short runs), then cosine decay to a tenth."""
    warm = min(1.0, (step + 1) / min(50, max(1, total // 10)))
    return cfg.lr * warm * (0.1 + 0.45 * (1 + math.cos(math.pi * min(step, total) / max(total, 1))))


def _init_codebook(model: VQVAE, cells: torch.Tensor, rng: np.random.Generator) -> None:
    """Start the codes at the encodings of distinct training cells (chosen uniformly)."""
    pick = rng.choice(len(cells), size=min(len(cells), 8192), replace=False)
    with torch.no_grad():
        z = model.encode_latent(cells[torch.from_numpy(pick).to(cells.device)]).reshape(-1, model.config.code_dim)
    model.quantizer.init_from(z, rng)


def _batch(rng: np.random.Generator, probs: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct cells of one step and their weights. Small sets: every cell, weighted by probability;
    otherwise `size` draws by probability, each distinct cell weighted by how often it was drawn."""
    if len(probs) <= size:
        return np.arange(len(probs)), probs * len(probs)
    idx, times = np.unique(rng.choice(len(probs), size=size, p=probs), return_counts=True)
    return idx, times.astype(np.float64)


def _train_step(model, optimizer, cells_t, probs, rng, cfg: TrainVQVAEConfig, step: int) -> tuple[float, float]:
    idx, w = _batch(rng, probs, cfg.batch_size)
    idx_t = torch.from_numpy(idx).to(cells_t.device)
    w_t = torch.from_numpy(w).float().to(cells_t.device)
    x = cells_t[idx_t]
    out = model(x)
    ce = F.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]), x.reshape(-1).long(), reduction="none")
    ce = ce.reshape(len(x), -1).mean(1)
    loss = ((ce + model.config.commitment * out.commit_loss) * w_t).sum() / w_t.sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    z = out.z_e.detach().reshape(-1, model.config.code_dim)
    model.quantizer.ema_update(z, out.codes.reshape(-1), w_t)
    if step % cfg.reset_every == 0:
        # Dead codes go to the worst-reconstructed cells of the batch (those with real error).
        ce = ce.detach()
        order = torch.argsort(ce, descending=True)
        model.quantizer.reset_dead(model.config.dead_after, z[order[ce[order] > 1e-3]])
    with torch.no_grad():
        acc = ((out.logits.argmax(-1) == x).float().mean(dim=(1, 2)) * w_t).sum() / w_t.sum()
    return float(loss.detach()), float(acc)


def _finish(d, data, train_cells, val_cells, state, device, wall, quiet) -> TrainResult:
    best, _ = load_model(d, device=device)
    val = evaluate(best, val_cells, data.val, device, pictures=True)
    train = evaluate(best, train_cells, data.train, device)
    write_reconstructions(d / PICTURE_FILE, data.val, val)
    metrics = {
        "val_pixel_acc": val.pixel_acc,
        "val_frame_exact": val.frame_exact,
        "val_pixel_acc_distinct_frames": val.pixel_acc_distinct,
        "codebook_used": val.codebook_used,
        "codebook_used_train": train.codebook_used,
        "train_pixel_acc": train.pixel_acc,
        "train_frame_exact": train.frame_exact,
        "train_frames": data.train.total,
        "val_frames": data.val.total if not data.val_is_train else 0,
        "train_frames_distinct": len(data.train.frames),
        "val_frames_distinct": len(data.val.frames) if not data.val_is_train else 0,
        "train_cells_distinct": len(train_cells.cells),
        "train_files": len(data.train.files),
        "val_files": len(data.val.files) if not data.val_is_train else 0,
        "val_measured_on": "train" if data.val_is_train else "val",
        "codebook_size": best.config.codebook_size,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "steps": state.step,
        "stop_reason": state.stop_reason,
        "seconds": round(state.seconds, 2),
        "wall_seconds": round(wall, 2),
        "device": device,
        "train_config": state.train_config,
        "model_config": best.config.to_dict(),
    }
    atomic.write_json(d / METRICS_FILE, metrics)
    if not quiet:
        ui.console.print(
            f"val pixel accuracy {ui.pct(val.pixel_acc, 3)}, frames exact {ui.pct(val.frame_exact, 1)}, "
            f"codebook used {ui.pct(val.codebook_used, 1)} (best epoch {state.best_epoch}, {state.stop_reason}, "
            f"{state.seconds:.0f} s) → {d}"
        )
    return TrainResult(metrics, d)


