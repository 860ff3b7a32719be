"""Frames as 8x8 cells: splitting, finding the distinct ones, and running a VQ-VAE over them in batches."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from aria_cli.vocab import CELL_PIXELS, FRAME_SIZE, GRID, N_CELLS

if TYPE_CHECKING:
    from aria_cli.tokenizer.model import VQVAE


def frames_to_cells(frames: np.ndarray) -> np.ndarray:
    """(N, 64, 64) → (N*64, 8, 8): each frame's cells in token order, cell = (y // 8) * 8 + x // 8."""
    n = frames.shape[0]
    c = frames.reshape(n, GRID, CELL_PIXELS, GRID, CELL_PIXELS).transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(c).reshape(n * N_CELLS, CELL_PIXELS, CELL_PIXELS)


def cells_to_frames(cells: np.ndarray) -> np.ndarray:
    """(N*64, 8, 8) in token order → (N, 64, 64): frames_to_cells undone."""
    c = cells.reshape(-1, GRID, GRID, CELL_PIXELS, CELL_PIXELS).transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(c).reshape(-1, FRAME_SIZE, FRAME_SIZE)


# Odd 64-bit multipliers for hashing a cell's eight 8-byte words (fixed: results never depend on them).
_HASH = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x27D4EB2F165667C5, 0x94D049BB133111EB],
    dtype=np.uint64,
)  # fmt: skip


def unique_cells(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct 8x8 cells and, for each input cell, the index of its distinct cell (exact, byte-wise).

    Groups by a 64-bit hash (sorting integers is ~10x faster than sorting 64-byte rows), then checks
    every cell against its group's representative; on a collision it falls back to comparing bytes.
    """
    flat = np.ascontiguousarray(cells, dtype=np.uint8).reshape(len(cells), CELL_PIXELS * CELL_PIXELS)
    with np.errstate(over="ignore"):
        h = (flat.view(np.uint64) * _HASH).sum(axis=1, dtype=np.uint64)
        h ^= h >> np.uint64(29)
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if not np.array_equal(flat[first][inverse], flat):  # a hash collision (never seen in practice)
        keys = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
    return flat[first].reshape(-1, CELL_PIXELS, CELL_PIXELS), inverse


@torch.no_grad()
def encode_cells(model: VQVAE, cells: np.ndarray, device: str = "cpu", batch: int = 8192) -> np.ndarray:
    """(M, 8, 8) uint8 → (M,) int64 codes."""
    out = np.empty(len(cells), dtype=np.int64)
    for i in range(0, len(cells), batch):
        x = torch.from_numpy(np.ascontiguousarray(cells[i : i + batch])).to(device)
        out[i : i + batch] = model.quantize(model.encode_latent(x)).reshape(-1).cpu().numpy()
    return out


def decode_frames(model: VQVAE, codes: np.ndarray, device: str = "cpu", batch: int = 64) -> np.ndarray:
    """int (N, 64) codes → uint8 (N, 64, 64) frames: the network's, then its memory's where it has one
    (`model.memory`, aria_cli.tokenizer.memory)."""
    decoded = decode_network(model, codes, device, batch)
    return decoded if model.memory is None else model.memory.recall(np.asarray(codes), decoded)


@torch.no_grad()
def decode_network(model: VQVAE, codes: np.ndarray, device: str = "cpu", batch: int = 64) -> np.ndarray:
    """int (N, 64) codes → uint8 (N, 64, 64) frames, as the decoder network alone gives them."""
    out = np.empty((len(codes), FRAME_SIZE, FRAME_SIZE), dtype=np.uint8)
    for i in range(0, len(codes), batch):
        c = torch.from_numpy(np.ascontiguousarray(codes[i : i + batch], dtype=np.int64)).to(device)
        logits = model.decode_codes(c.reshape(-1, GRID, GRID))
        out[i : i + batch] = logits.argmax(-1).to(torch.uint8).cpu().numpy()
    return out
