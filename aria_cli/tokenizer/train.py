"""Training the frame tokenizer (`aria train-vqvae`).

    aria train-vqvae --data recordings --checkpoints checkpoints
    aria train-vqvae --resume            # continue an interrupted run

Every frame of every recording is collected and identical frames are merged (with their counts).
Files are split train/val per game by `aria_cli.data.splits` (the split every stage uses). A step trains on
`batch_size` distinct training frames drawn with probability ∝ count ** sample_power (0.5: frequent
frames matter more, rare ones are not drowned out); since a code depends only on its own cell (see
`aria_cli.tokenizer.model`), the encoder runs once per distinct cell of the batch. One epoch draws as many
frames as there are distinct training frames. In each step the decoder sees a random code in place of
the real one at `context_noise` (10%) of the cells and is scored on the other cells only: it learns to
decode a cell right even when a neighbour's code is odd (an unfamiliar patch), instead of leaning on
exact surroundings it saw in training (on the bundled games' recordings: val pixel accuracy +0.1 points,
val frames reconstructed exactly 5% → 13%).

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
from rich.table import Table

from aria_cli.common import atomic, ui
from aria_cli.common.devices import torch_threads
from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.common.palette import diff_to_rgb, frame_grid, save_png
from aria_cli.data.recordings import find_recordings
from aria_cli.data.splits import assign_split
from aria_cli.data.token_cache import read_usable, relative_key
from aria_cli.tokenizer.model import (
    VQVAE,
    VQVAEConfig,
    decode_frames,
    encode_cells,
    frames_to_cells,
    load_model,
    save_model,
    unique_cells,
    vqvae_dir,
)
from aria_cli.vocab import CELL_PIXELS, GRID, N_CELLS

LAST_FILE = "last.safetensors"
STATE_FILE = "train_state.pt"
METRICS_FILE = "metrics.json"
PICTURE_FILE = "reconstructions.png"
FRAME_PIXELS = 64 * 64


@dataclass
class TrainVQVAEConfig:
    epochs: int = 24  # with early stopping (patience); 24 gained 0.2 pt val pixel acc over 12, in about 2 min
    batch_size: int = 32  # frames per step
    lr: float = 5e-3
    codebook_size: int = 512
    code_dim: int = VQVAEConfig.code_dim
    channels: tuple[int, int, int] = VQVAEConfig.channels
    context_channels: int = VQVAEConfig.context_channels
    context_blocks: int = VQVAEConfig.context_blocks
    seed: int = 0
    patience: int = 3  # epochs without a better val pixel accuracy before stopping; 0: never stop early
    sample_power: float = 0.5  # frames are drawn with probability ∝ count ** sample_power
    reset_every: int = 10  # steps between dead-code resets
    min_steps_per_epoch: int = 20
    max_steps_per_epoch: int = 200  # so that big data sets still get a val check (and a save) often
    threads: int = 1  # CPU threads for torch (see aria_cli.common.devices.torch_threads)
    # Share of cells whose code the decoder sees replaced by a random code during training (their own
    # pixels are left out of the loss): the other cells must still decode right, so one unfamiliar cell
    # (a code meant for something else) does not spoil its neighbours.
    context_noise: float = 0.1


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
    val_by_game: dict[str, FrameSet] = field(default_factory=dict)  # the val frames again, per game


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
    by_game: dict[str, tuple[list, list]] = {}
    for key, game, frames in per_file:
        if val_is_train or split[key] == "val":
            by_game.setdefault(game, ([], []))[0].append(frames)
            by_game[game][1].append(key)
    val_by_game = {game: FrameSet.from_frames(*by_game[game]) for game in sorted(by_game)}
    return TrainingData(train, val, val_is_train, h.hexdigest(), val_by_game)


# --------------------------------------------------------------------------- measuring
@dataclass
class Evaluation:
    pixel_acc: float  # over every frame (duplicates counted)
    frame_exact: float  # share of frames with zero wrong pixels (duplicates counted)
    pixel_acc_distinct: float  # over distinct frames
    codebook_used: float  # share of the codebook used by these frames
    wrong_per_frame: np.ndarray  # (U,) wrong pixels of each distinct frame
    reconstructions: np.ndarray  # (U, 64, 64)


@torch.no_grad()
def evaluate_tokenizer(model: VQVAE, cells: CellSet, fs: FrameSet, device: str) -> Evaluation:
    """Encode and decode every distinct frame; accuracies count each frame as often as it occurs."""
    was_training = model.training
    model.eval()
    codes = encode_cells(model, cells.cells, device)[cells.frame_cells]  # (U, 64)
    decoded = decode_frames(model, codes, device)
    model.train(was_training)
    wrong_frame = (decoded != fs.frames).sum(axis=(1, 2))
    total = max(fs.total, 1)
    return Evaluation(
        pixel_acc=1.0 - float((wrong_frame * fs.counts).sum()) / (FRAME_PIXELS * total),
        frame_exact=float(fs.counts[wrong_frame == 0].sum()) / total,
        pixel_acc_distinct=1.0 - float(wrong_frame.sum()) / (FRAME_PIXELS * max(len(wrong_frame), 1)),
        codebook_used=len(np.unique(codes)) / model.config.codebook_size,
        wrong_per_frame=wrong_frame,
        reconstructions=decoded,
    )


def per_game(model: VQVAE, train_cells: CellSet, by_game: dict[str, FrameSet], device: str) -> dict[str, dict]:
    """Val accuracy of each game, and the share of its val cells that no training frame contains.

    One overall figure hides where a tokenizer falls short: a game whose boards are drawn in tiles
    that do not line up with the 8-pixel cells keeps producing cells never seen in training, and a
    code that depends only on its own cell can get such a cell only approximately right.
    """
    n_train = len(train_cells.cells)
    out = {}
    for game, fs in by_game.items():
        cells = CellSet.from_frames(fs)
        _, ids = unique_cells(np.concatenate([train_cells.cells, cells.cells]))  # one id per distinct cell
        new = ~np.isin(ids[n_train:], ids[:n_train])
        ev = evaluate_tokenizer(model, cells, fs, device)
        out[game] = {
            "val_pixel_acc": ev.pixel_acc,
            "val_frame_exact": ev.frame_exact,
            "val_cells_unseen": float(cells.counts[new].sum()) / max(int(cells.counts.sum()), 1),
            "val_frames": fs.total,
        }
    return out


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
    with torch_threads(cfg.threads):
        return _train(data_dir, checkpoints, cfg, device, resume, skip_bad, quiet)


def _train(data_dir: Path, checkpoints: Path, cfg: TrainVQVAEConfig, device: str, resume: bool, skip_bad: bool,
           quiet: bool) -> TrainResult:  # fmt: skip
    d = vqvae_dir(checkpoints)
    state, opt_state = _load_state(d) if resume else (TrainState(), None)
    if resume:
        known = {f.name for f in fields(TrainVQVAEConfig)} - {"epochs"}
        saved = TrainVQVAEConfig(**{k: v for k, v in state.train_config.items() if k in known})
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
        mc = VQVAEConfig(codebook_size=cfg.codebook_size, code_dim=cfg.code_dim, channels=cfg.channels,
                         context_channels=cfg.context_channels, context_blocks=cfg.context_blocks)  # fmt: skip
        model = VQVAE(mc).to(device)
    optimizer = torch.optim.AdamW(
        [p for n, p in model.named_parameters() if not n.startswith("quantizer")], lr=cfg.lr, weight_decay=0.0
    )
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)
    state.train_config = {**asdict(cfg), "channels": list(cfg.channels)}
    state.data_fingerprint = data.fingerprint

    batches = _Batches(data.train, train_cells, cfg, device)
    steps_per_epoch = min(
        cfg.max_steps_per_epoch, max(cfg.min_steps_per_epoch, math.ceil(len(data.train.frames) / cfg.batch_size))
    )
    total_steps = steps_per_epoch * cfg.epochs
    if not model.quantizer.initialized:
        _init_codebook(model, batches.cells, np.random.default_rng([cfg.seed, 1]))
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
                loss, acc = _train_step(model, optimizer, batches, rng, cfg, state.step)
                state.step += 1
                loss_sum, acc_sum = loss_sum + loss, acc_sum + acc
                if task is not None:
                    prog.update(
                        task, advance=1, description=f"vq-vae epoch {state.epoch + 1}/{cfg.epochs}",
                        loss=f"{loss_sum / (i + 1):.4f}", acc=ui.pct(acc_sum / (i + 1), 3),
                        codes=ui.pct(model.quantizer.used(model.config.dead_after), 0),
                        rate=f"{(i + 1) / (time.perf_counter() - t0):.1f}",
                    )  # fmt: skip
            ev = evaluate_tokenizer(model, val_cells, data.val, device)
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
            state.stop_reason = stop_reason(ev.pixel_acc, state, cfg)
            save_model(model, d, LAST_FILE)
            _save_state(d, state, optimizer)
            if task is not None:
                prog.update(task, val=ui.pct(state.best_acc, 3))
    return _finish(d, data, train_cells, val_cells, state, device, time.perf_counter() - t_start, quiet)


def stop_reason(val_acc: float, state: TrainState, cfg: TrainVQVAEConfig) -> str:
    """Why training ends after the epoch just measured ("" while it goes on)."""
    if val_acc >= 1.0:
        return "perfect"
    if cfg.patience and state.bad_epochs >= cfg.patience:
        return "early stop"
    return "epochs" if state.epoch >= cfg.epochs else ""


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


class _Batches:
    """Training frames and their distinct cells on the device; draws the frames of each step."""

    def __init__(self, fs: FrameSet, cells: CellSet, cfg: TrainVQVAEConfig, device: str):
        self.frames = torch.from_numpy(fs.frames).to(device)
        self.cells = torch.from_numpy(cells.cells).to(device)
        self.frame_cells = cells.frame_cells
        self.probs = _sampling_probs(fs.counts, cfg.sample_power)
        self.size = cfg.batch_size
        self.device = device

    def draw(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(frames (B, 64, 64), distinct cell ids (U,), cell of each position (B, 64), uses of each cell (U,))."""
        idx = rng.choice(len(self.probs), size=self.size, p=self.probs)
        uniq, inverse = np.unique(self.frame_cells[idx], return_inverse=True)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)  # noqa: E731
        return self.frames[t(idx)], t(uniq), t(inverse.reshape(len(idx), N_CELLS)), t(np.bincount(inverse.ravel()))


def _train_step(model: VQVAE, optimizer, batches: _Batches, rng, cfg: TrainVQVAEConfig, step: int) -> tuple[float, float]:
    frames, cell_ids, where, uses = batches.draw(rng)
    z_cells = model.encode_latent(batches.cells[cell_ids]).reshape(len(cell_ids), -1)  # each distinct cell once
    z_e = z_cells[where].reshape(len(frames), GRID, GRID, -1)
    replace = keep = None
    if cfg.context_noise > 0:
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)  # per step: a resumed run draws the same
        noisy = (torch.rand(len(frames), GRID, GRID, generator=gen) < cfg.context_noise).to(frames.device)
        random_codes = torch.randint(0, model.config.codebook_size, noisy.shape, generator=gen).to(frames.device)
        replace = torch.where(noisy, random_codes, -1)
        keep = (~noisy).repeat_interleave(CELL_PIXELS, 1).repeat_interleave(CELL_PIXELS, 2).reshape(-1).float()
    out = model(frames, z_e=z_e, replace=replace)
    ce = F.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]), frames.reshape(-1).long(), reduction="none")
    ce_mean = ce.mean() if keep is None else (ce * keep).sum() / keep.sum().clamp(min=1.0)
    loss = ce_mean + model.config.commitment * out.commit_loss.mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    z = z_cells.detach()
    model.quantizer.ema_update(z, model.quantize(z), uses.float())
    if step % cfg.reset_every == 0:
        # Dead codes move onto the distinct cells of the batch reconstructed worst.
        per_cell = ce.detach().reshape(len(frames), GRID, CELL_PIXELS, GRID, CELL_PIXELS).mean(dim=(2, 4)).reshape(-1)
        if replace is not None:
            per_cell = per_cell * (replace.reshape(-1) < 0)  # a replaced code is not the cell's fault
        worst = torch.zeros(len(cell_ids), device=z.device).scatter_reduce_(0, where.reshape(-1), per_cell, "amax")
        order = torch.argsort(worst, descending=True)
        model.quantizer.reset_dead(model.config.dead_after, z[order[worst[order] > 1e-3]])
    with torch.no_grad():
        acc = (out.logits.argmax(-1) == frames).float().mean()
    return float(loss.detach()), float(acc)


def _finish(d, data, train_cells, val_cells, state, device, wall, quiet) -> TrainResult:
    best, _ = load_model(d, device=device)
    val = evaluate_tokenizer(best, val_cells, data.val, device)
    train = evaluate_tokenizer(best, train_cells, data.train, device)
    write_reconstructions(d / PICTURE_FILE, data.val, val)
    games = per_game(best, train_cells, data.val_by_game, device)
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
        "games": games,
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
            f"{state.seconds:.0f} s) → {d} (model, {METRICS_FILE}, {PICTURE_FILE})"
        )
        ui.console.print(games_table(games, "train" if data.val_is_train else "val"))
    return TrainResult(metrics, d)


def games_table(games: dict[str, dict], split: str) -> Table:
    t = Table(title=f"tokenizer per game ({split} frames)", title_justify="left")
    for name in ("game", "frames", "pixel acc", "frames exact", "cells new to training"):
        t.add_column(name, justify="left" if name == "game" else "right")
    for game, m in games.items():
        new = "—" if split == "train" else ui.pct(m["val_cells_unseen"], 2)
        t.add_row(game, str(m["val_frames"]), ui.pct(m["val_pixel_acc"], 3), ui.pct(m["val_frame_exact"], 1), new)
    return t


