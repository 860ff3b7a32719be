"""The frame tokenizer: a VQ-VAE that turns a 64x64 frame of 16 colours into an 8x8 grid of codes.

    64x64 one-hot (16 ch) ──► encoder: three 2x2 stride-2 convs (x8 down) + 1x1 convs ──► 8x8 x code_dim
                         ──► nearest of `codebook_size` codes (EMA updates, dead-code reset) ──► 8x8 codes
                         ──► decoder: 3x3 convs over the code grid (each code read with its neighbours)
                             + three 2x2 stride-2 transposed convs ──► 16 logits per pixel

The encoder's kernels equal their strides, so a cell's code depends on its own 8x8 pixels and nothing
else: the same patch gets the same code wherever it appears, in any game, and codes change only where
pixels change, which keeps them predictable for the world model. It also means frames are encoded cell
by cell, and game frames repeat cells a lot: `FrameTokenizer.encode` runs the encoder once per
*distinct* cell. The decoder sees a neighbourhood of codes (9x9 cells at the default size), so cells that
share a code can still be told apart by their surroundings: 512 codes go further than 512 patches.
`codebook_size` may be 2..4096; the token layout has at least 512 code slots and grows with a bigger
codebook (`VQVAEConfig.vocab`, aria_cli.vocab), so a world model is trained for one codebook size.

Checkpoint: `checkpoints/vqvae/{config.json, model.safetensors, memory.safetensors}` (never pickle; the
memory, aria_cli.tokenizer.memory, recalls training cells by their codes' neighbourhood when decoding).

    tok = load_tokenizer(Path("checkpoints"))
    codes = tok.encode(frames)      # uint8 (N, 64, 64) → int64 (N, 64), cell = (y // 8) * 8 + x // 8
    frames2 = tok.decode(codes)     # → uint8 (N, 64, 64)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aria_cli.common import atomic
from aria_cli.common.devices import torch_threads
from aria_cli.common.errors import CheckpointError
from aria_cli.tokenizer.cells import decode_frames, encode_cells, frames_to_cells, unique_cells  # noqa: F401 (re-exported)
from aria_cli.tokenizer.memory import MEMORY_FILE, DecoderMemory, load_memory
from aria_cli.tokenizer.quantizer import EMAQuantizer
from aria_cli.training.checkpoints import CONFIG_FILE, MODEL_FILE, tokenizer_dir
from aria_cli.vocab import CELL_PIXELS, FRAME_SIZE, GRID, MAX_CODES, N_CELLS, Vocab, layout_codes

N_COLOURS = 16


# Model sizes (`aria train-vqvae --size`). "large", the default, is what real ARC-AGI-3 frames need: on the
# preview games it reaches 99.96% val pixel accuracy where "small" stops near 99.3% (docs/RESULTS.md §4).
# "small" trains ~2.4x faster a step and does as well on the bundled games, so quickstart uses it.
SIZES: dict[str, dict] = {
    "small": {"code_dim": 32, "channels": (16, 32, 128), "context_channels": 64, "context_blocks": 2},
    "large": {"code_dim": 64, "channels": (32, 64, 256), "context_channels": 128, "context_blocks": 4},
}


@dataclass
class VQVAEConfig:
    codebook_size: int = 512
    code_dim: int = 64
    # Widths after each 2x2 stride-2 conv: at 32x32, 16x16 and 8x8 (the code grid).
    channels: tuple[int, int, int] = (32, 64, 256)
    # The decoder's view of the code grid: residual 3x3 conv blocks of this width; each block widens the
    # neighbourhood of codes a cell is decoded from by one cell on every side.
    context_channels: int = 128
    context_blocks: int = 4
    ema_decay: float = 0.99
    commitment: float = 0.25
    # A code that no cell has chosen for this many training steps is dead and gets reset.
    dead_after: int = 30

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        if len(self.channels) != 3:
            raise ValueError("channels needs three widths (32x32, 16x16, 8x8 levels)")
        if not 2 <= self.codebook_size <= MAX_CODES:
            raise ValueError(f"codebook_size must be 2..{MAX_CODES}, got {self.codebook_size}")

    def vocab(self, base: int = 0) -> Vocab:
        """The token layout this tokenizer's codes go into (aria_cli.vocab)."""
        return Vocab(base, layout_codes(self.codebook_size))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> VQVAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown keys {', '.join(unknown)}")
        return cls(**d)


def one_hot(frames: torch.Tensor) -> torch.Tensor:
    """(N, H, W) colour values → (N, H, W, 16) float one-hot (channels last, like every layer here)."""
    return F.one_hot(frames.long(), N_COLOURS).float()


class Down(nn.Module):
    """A 2x2 stride-2 convolution, channels last: each 2x2 block of pixels → one output vector.

    Written as space-to-depth + Linear, which is the same operation as nn.Conv2d(k=2, s=2) and about
    twice as fast on a CPU for the small inputs used here.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.linear = nn.Linear(4 * c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, c = x.shape
        x = x.reshape(n, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h // 2, w // 2, 4 * c)
        return self.linear(x)


class Up(nn.Module):
    """A 2x2 stride-2 transposed convolution, channels last: each vector → a 2x2 block."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.c_out = c_out
        self.linear = nn.Linear(c_in, 4 * c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, _ = x.shape
        x = self.linear(x).reshape(n, h, w, 2, 2, self.c_out)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(n, 2 * h, 2 * w, self.c_out)


@dataclass
class VQOutput:
    logits: torch.Tensor  # (N, H, W, 16)
    codes: torch.Tensor  # (N, H/8, W/8) int64
    z_e: torch.Tensor  # (N, H/8, W/8, dim) encoder output
    commit_loss: torch.Tensor  # (N,) per-sample commitment loss, for weighting


class ContextBlock(nn.Module):
    """Pre-norm residual 3x3 convolution over the code grid (channels last)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(F.gelu(self.norm(x)).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class VQVAE(nn.Module):
    """Any (N, H, W) with H, W multiples of 8 works; an 8x8 patch on its own gets exactly the code it
    gets inside a frame. Channels last throughout."""

    def __init__(self, config: VQVAEConfig | None = None):
        super().__init__()
        self.config = config = config or VQVAEConfig()
        c1, c2, c3 = config.channels
        d, ctx = config.code_dim, config.context_channels
        self.encoder = nn.Sequential(
            Down(N_COLOURS, c1), nn.GELU(),  # 64 → 32
            Down(c1, c2), nn.GELU(),  # 32 → 16
            Down(c2, c3), nn.GELU(),  # 16 → 8
            nn.Linear(c3, ctx), nn.LayerNorm(ctx),  # 1x1 convs
            nn.Linear(ctx, d),
        )  # fmt: skip
        self.quantizer = EMAQuantizer(config.codebook_size, d, config.ema_decay)
        self.memory: DecoderMemory | None = None  # built when training ends; used by decode_frames
        self.decoder = nn.Sequential(
            nn.Linear(d, ctx),
            *[ContextBlock(ctx) for _ in range(config.context_blocks)],
            nn.LayerNorm(ctx), nn.Linear(ctx, c3), nn.GELU(),
            Up(c3, c2), nn.GELU(),  # 8 → 16
            Up(c2, c1), nn.GELU(),  # 16 → 32
            Up(c1, N_COLOURS),  # 32 → 64: logits
        )  # fmt: skip
        for m in self.modules():
            # He init: PyTorch's default shrinks the signal layer by layer and training crawls.
            if isinstance(m, nn.Linear | nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
            if isinstance(m, ContextBlock):
                m.conv.weight.data.mul_(0.5)  # residual branches start small

    @property
    def codebook(self) -> torch.Tensor:
        return self.quantizer.embedding

    def encode_latent(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, H, W) colours → (N, H/8, W/8, dim) encoder output before quantization."""
        return self.encoder(one_hot(frames))

    def quantize(self, z_e: torch.Tensor) -> torch.Tensor:
        """(..., dim) → (...) code indices."""
        return self.quantizer.nearest(z_e.reshape(-1, z_e.shape[-1])).reshape(z_e.shape[:-1])

    def decode_latent(self, z_q: torch.Tensor) -> torch.Tensor:
        """(N, h, w, dim) → (N, 8h, 8w, 16) logits."""
        return self.decoder(z_q)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, h, w) code indices → (N, 8h, 8w, 16) logits."""
        return self.decode_latent(self.codebook[codes])

    def forward(
        self, frames: torch.Tensor, z_e: torch.Tensor | None = None, replace: torch.Tensor | None = None
    ) -> VQOutput:
        """Encode, quantize, decode. `z_e` (N, H/8, W/8, dim) may be given when already computed (training
        encodes each distinct cell of a batch once). `replace` (N, H/8, W/8) int64, -1 = keep: the decoder
        sees that code instead at those cells (training uses it to make decoding robust to odd neighbours)."""
        if z_e is None:
            z_e = self.encode_latent(frames)
        codes = self.quantize(z_e)
        z_q = self.codebook[codes]
        commit = (z_e - z_q.detach()).pow(2).mean(dim=(1, 2, 3))
        # Straight-through: the decoder sees the code, the encoder gets the decoder's gradient.
        z_st = z_e + (z_q - z_e).detach()
        if replace is not None:
            z_st = torch.where((replace >= 0)[..., None], self.codebook[replace.clamp(min=0)], z_st)
        logits = self.decode_latent(z_st)
        return VQOutput(logits=logits, codes=codes, z_e=z_e, commit_loss=commit)

    def compute_loss(self, batch, foreground_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
        """Training loss of a `tokenizer.data.CellBatch`: pixel cross-entropy (over the cells whose code the
        decoder saw unreplaced; `pixel_weights` with `foreground_weight`) + commitment. Each distinct cell of the batch is encoded once. The metrics
        carry what `update_codebook` needs after the optimizer step."""
        frames = batch.frames
        z_cells = self.encode_latent(batch.cells).reshape(len(batch.cells), -1)
        z_e = z_cells[batch.where].reshape(len(frames), GRID, GRID, -1)
        out = self(frames, z_e=z_e, replace=batch.replace)
        ce = F.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]), frames.reshape(-1).long(), reduction="none")
        keep = pixel_weights(frames, foreground_weight)
        if batch.keep is not None:
            keep = batch.keep if keep is None else keep * batch.keep
        ce_mean = ce.mean() if keep is None else (ce * keep).sum() / keep.sum().clamp(min=1.0)
        loss = ce_mean + self.config.commitment * out.commit_loss.mean()
        with torch.no_grad():
            hit = out.logits.argmax(-1) == frames
        return loss, {"loss": float(loss.detach()), "acc": float(hit.float().mean()), "z": z_cells.detach(),
                      "pixel_ce": ce.detach(), "frame_missed": frames_missed(hit, batch.keep)}

    @torch.no_grad()
    def update_codebook(self, batch, metrics: dict, reset_dead: bool) -> None:
        """After an optimizer step: the EMA codebook update, and with `reset_dead` dead codes moved onto the
        distinct cells of the batch reconstructed worst (a replaced code is not its cell's fault)."""
        z = metrics["z"]
        self.quantizer.ema_update(z, self.quantize(z), batch.uses.float())
        if not reset_dead:
            return
        n = len(batch.frames)
        per_cell = metrics["pixel_ce"].reshape(n, GRID, CELL_PIXELS, GRID, CELL_PIXELS).mean(dim=(2, 4)).reshape(-1)
        if batch.replace is not None:
            per_cell = per_cell * (batch.replace.reshape(-1) < 0)
        worst = torch.zeros(len(batch.cells), device=z.device).scatter_reduce_(0, batch.where.reshape(-1), per_cell, "amax")
        order = torch.argsort(worst, descending=True)
        self.quantizer.reset_dead(self.config.dead_after, z[order[worst[order] > 1e-3]])


def frames_missed(hit: torch.Tensor, keep: torch.Tensor | None) -> np.ndarray:
    """(B,) True for each frame with a wrong pixel among those scored: `hit` (B, 64, 64) right pixels,
    `keep` (B*64*64,) 1 where the pixel's cell kept its own code (None: all scored)."""
    wrong = ~hit if keep is None else ~hit & keep.reshape(hit.shape).bool()
    return wrong.reshape(len(hit), -1).any(dim=1).cpu().numpy()


# --------------------------------------------------------------------------- checkpoint
def pixel_weights(frames: torch.Tensor, foreground_weight: float) -> torch.Tensor | None:
    """(B*H*W,) loss weights: `foreground_weight` for pixels unlike their frame's most common colour (most
    pixels of a real frame are background; the rest is what a world model needs right), else 1. None at 1."""
    if foreground_weight == 1.0:
        return None
    flat = frames.reshape(len(frames), -1).long()
    background = flat.mode(dim=1).values[:, None]
    return torch.where(flat != background, foreground_weight, 1.0).reshape(-1).float()


def vqvae_dir(checkpoints: Path) -> Path:
    return tokenizer_dir(checkpoints)


def tokenizer_exists(checkpoints: Path) -> bool:
    """True when a tokenizer checkpoint is there (complete or not: loading says what is wrong)."""
    d = vqvae_dir(checkpoints)
    return (d / MODEL_FILE).exists() or (d / CONFIG_FILE).exists()


def save_model(model: VQVAE, directory: Path, weights_name: str = MODEL_FILE) -> None:
    """config.json + safetensors weights (EMA codebook statistics included), each written atomically."""
    from safetensors.torch import save_file

    directory = Path(directory)
    atomic.write_json(directory / CONFIG_FILE, model.config.to_dict())
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic.write_with(directory / weights_name, lambda tmp: save_file(state, str(tmp)))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: missing; the tokenizer checkpoint needs {CONFIG_FILE} and {MODEL_FILE} "
            "(run `aria train-vqvae`)"
        ) from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror})") from None


def config_from_bytes(raw: bytes, path: Path) -> VQVAEConfig:
    try:
        return VQVAEConfig.from_dict(json.loads(raw))
    except (ValueError, TypeError, AttributeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: not a valid tokenizer config ({msg}); retrain with `aria train-vqvae`") from None


def model_from_bytes(config: VQVAEConfig, raw: bytes, path: Path) -> VQVAE:
    from safetensors.torch import load

    try:
        state = load(raw)
    except Exception as e:  # safetensors raises several types for a damaged file
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: does not load as safetensors ({msg}); retrain with `aria train-vqvae`") from None
    model = VQVAE(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = " ".join(str(e).split())[:200]
        raise CheckpointError(f"{path}: does not match {CONFIG_FILE} beside it ({first})") from None
    return model


def load_model(directory: Path, weights_name: str = MODEL_FILE, device: str = "cpu") -> tuple[VQVAE, str]:
    """The model in `directory` (with its decoder memory when one is beside it) and the fingerprint of its
    files. CheckpointError names a bad file."""
    directory = Path(directory)
    raw_config = _read(directory / CONFIG_FILE)
    raw_model = _read(directory / weights_name)
    config = config_from_bytes(raw_config, directory / CONFIG_FILE)
    model = model_from_bytes(config, raw_model, directory / weights_name)
    fingerprint = _fingerprint(raw_config, raw_model)
    model.memory = load_memory(directory / MEMORY_FILE, fingerprint)
    return model.to(device).eval(), fingerprint


def _fingerprint(raw_config: bytes, raw_model: bytes) -> str:
    h = hashlib.sha256()
    for raw in (raw_config, raw_model):
        h.update(len(raw).to_bytes(8, "little"))
        h.update(raw)
    return h.hexdigest()


def tokenizer_fingerprint(checkpoints: Path) -> str:
    """The fingerprint `load_tokenizer(...).fingerprint` would have, without building the model."""
    d = vqvae_dir(checkpoints)
    return _fingerprint(_read(d / CONFIG_FILE), _read(d / MODEL_FILE))


def tokenizer_vocab(checkpoints: Path) -> Vocab:
    """The token layout (base 0) of the tokenizer in `checkpoints`, read from its config alone."""
    path = vqvae_dir(checkpoints) / CONFIG_FILE
    return config_from_bytes(_read(path), path).vocab()


class FrameTokenizer:
    """A trained VQ-VAE ready to turn frames into codes and back (no gradients, batched)."""

    def __init__(self, model: VQVAE, fingerprint: str = "", device: str = "cpu", batch: int = 8192, threads: int = 1):
        self.model = model.to(device).eval()
        self.config = model.config
        self.fingerprint = fingerprint
        self.device = device
        self.batch = batch
        self.threads = threads

    @property
    def codebook(self) -> torch.Tensor:
        """(codebook_size, code_dim) code vectors."""
        return self.model.codebook

    @property
    def vocab(self) -> Vocab:
        """The token layout (base 0) its codes go into: follows the codebook size."""
        return self.config.vocab()

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (N, 64, 64) → int64 (N, 64). Each distinct cell goes through the network once."""
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim != 3 or frames.shape[1:] != (FRAME_SIZE, FRAME_SIZE):
            raise ValueError(f"frames must be (N, 64, 64), got {frames.shape}")
        if frames.size and (frames.min() < 0 or frames.max() >= N_COLOURS):
            raise ValueError("frame colours must be 0-15")
        n = len(frames)
        out = np.empty((n, N_CELLS), dtype=np.int64)
        step = max(1, self.batch * 4 // N_CELLS)  # bounds the memory of the de-duplication
        with torch_threads(self.threads):
            for i in range(0, n, step):
                distinct, inverse = unique_cells(frames_to_cells(frames[i : i + step].astype(np.uint8, copy=False)))
                codes = encode_cells(self.model, distinct, self.device, self.batch)
                out[i : i + step] = codes[inverse].reshape(-1, N_CELLS)
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """int (N, 64) → uint8 (N, 64, 64)."""
        codes = np.asarray(codes)
        if codes.ndim == 1:
            codes = codes[None]
        if codes.ndim != 2 or codes.shape[1] != N_CELLS:
            raise ValueError(f"codes must be (N, 64), got {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= self.config.codebook_size):
            raise ValueError(f"codes must be 0..{self.config.codebook_size - 1}")
        with torch_threads(self.threads):
            return decode_frames(self.model, codes, self.device)


def load_tokenizer(checkpoints: Path, device: str = "cpu") -> FrameTokenizer:
    """The tokenizer under `checkpoints/vqvae/`. Raises CheckpointError (one line, names the file)."""
    d = vqvae_dir(checkpoints)
    if not tokenizer_exists(checkpoints):
        raise CheckpointError(f"no frame tokenizer under {d}: run `aria train-vqvae` first")
    model, fingerprint = load_model(d, device=device)
    return FrameTokenizer(model, fingerprint, device=device)
