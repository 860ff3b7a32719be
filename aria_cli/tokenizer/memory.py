"""The decoder's memory: training cells recalled by the codes around them.

A code names its 8x8 cell only approximately (512 codes, tens of thousands of distinct cells); its
neighbours' codes together with it almost always name the cell exactly, and the network decodes what
that neighbourhood allows only as well as its training went. So when training ends, every training
cell is stored under the codes of its neighbourhood at radii 4, 3, 2 and 1 (a 9x9 .. 3x3 window of
codes, off-frame positions marked), the most frequent content where one neighbourhood held several.
Decoding looks each cell's neighbourhood up, widest first, and keeps the network's pixels only where no
neighbourhood was seen in training: content the codes cannot name alone comes back as it was.

Codes, and so token caches and world models, are unchanged by it. Checkpoint:
`checkpoints/vqvae/memory.safetensors` (64-bit hashes of the windows; an entry is left out where the
next smaller window recalls the same content, which gives the same lookups), tied to the model file
it was built with: a memory of another model is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aria_cli.common import atomic
from aria_cli.common.errors import CheckpointError
from aria_cli.tokenizer.cells import cells_to_frames, frames_to_cells
from aria_cli.vocab import CELL_PIXELS, GRID, N_CELLS

MEMORY_FILE = "memory.safetensors"
RADII = (4, 3, 2, 1)
CHUNK = 8192  # frames hashed at a time (bounds the memory of the windows)
_MULT = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime
_REMEDY = "delete it (the network alone then decodes) or train again with `aria train-vqvae`"


def neighbourhood_hashes(codes: np.ndarray, radius: int) -> np.ndarray:
    """int (N, 64) codes, or (N, G, G) code grids → uint64 (N * cells,): a hash of the (2r+1)^2 codes around
    each cell (off-grid positions marked), cells in token order."""
    codes = np.asarray(codes)
    grids = codes.reshape(len(codes), GRID, GRID) if codes.ndim == 2 else codes
    per = grids.shape[1] * grids.shape[2]
    out = np.empty(len(grids) * per, np.uint64)
    k = 2 * radius + 1
    for i in range(0, len(grids), CHUNK):
        g = grids[i : i + CHUNK].astype(np.uint64) + np.uint64(1)  # 0: off the grid
        padded = np.pad(g, ((0, 0), (radius, radius), (radius, radius)))
        h = np.full(g.shape, np.uint64(0xCBF29CE484222325) ^ np.uint64(radius), np.uint64)
        for dy in range(k):
            for dx in range(k):
                h = (h ^ padded[:, dy : dy + g.shape[1], dx : dx + g.shape[2]]) * _MULT
        out[i * per : i * per + h.size] = h.reshape(-1)
    return out


def window_majority(keys: np.ndarray, contents: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct window `keys` (sorted), each one's most frequent content by `weights` (ties: the lowest id), and
    each row's key index."""
    uk, kinv = np.unique(keys, return_inverse=True)
    n = int(contents.max()) + 1
    pairs, pinv = np.unique(kinv.astype(np.int64) * n + contents, return_inverse=True)
    w = np.bincount(pinv.reshape(-1), weights=weights)
    pk, pc = pairs // n, pairs % n
    order = np.lexsort((pc, -w, pk))
    first = np.r_[True, pk[order][1:] != pk[order][:-1]]
    return uk, pc[order][first], kinv.reshape(-1)


@dataclass
class DecoderMemory:
    cells: np.ndarray  # (C, 8, 8) uint8: the contents the tables point to
    tables: dict[int, tuple[np.ndarray, np.ndarray]]  # radius → (sorted uint64 hashes, int32 index into cells)
    model_fingerprint: str  # of the tokenizer model it was built with (model.load_model's fingerprint)

    @classmethod
    def build(cls, codes: np.ndarray, frame_cells: np.ndarray, counts: np.ndarray, cells: np.ndarray,
              model_fingerprint: str, radii: tuple[int, ...] = RADII) -> DecoderMemory:  # fmt: skip
        """From the training frames: `codes` (U, 64) of each distinct frame, `frame_cells` (U, 64) the index of
        each of its cells in `cells` (C, 8, 8), `counts` (U,) how often each frame occurs."""
        contents = np.asarray(frame_cells, np.int64).reshape(-1)
        weights = np.repeat(np.asarray(counts, np.float64), N_CELLS)
        tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        recalled = None  # each training cell's content as the smaller windows recall it
        for r in sorted(set(radii)):
            keys, best, kinv = window_majority(neighbourhood_hashes(codes, r), contents, weights)
            keep = np.ones(len(keys), bool)
            if recalled is not None:  # an entry the next smaller window already recalls adds nothing
                first = np.unique(kinv, return_index=True)[1]
                keep = best != recalled[first]
            tables[r] = (keys[keep], best[keep])
            recalled = best[kinv]
        used, index = np.unique(np.concatenate([v for _, v in tables.values()]), return_inverse=True)
        at = np.cumsum([0] + [len(v) for _, v in tables.values()])
        tables = {r: (k, index[at[j] : at[j + 1]].astype(np.int32)) for j, (r, (k, _)) in enumerate(tables.items())}
        return cls(np.ascontiguousarray(cells[used], np.uint8), tables, model_fingerprint)

    @property
    def entries(self) -> int:
        return sum(len(k) for k, _ in self.tables.values())

    def recall(self, codes: np.ndarray, decoded: np.ndarray) -> np.ndarray:
        """The network's `decoded` (N, 64, 64) frames of `codes` (N, 64), each cell whose neighbourhood training
        showed replaced by the content it held there (widest window first)."""
        n = len(codes)
        cells = frames_to_cells(np.asarray(decoded)).reshape(n * N_CELLS, CELL_PIXELS * CELL_PIXELS)
        todo = np.arange(n * N_CELLS)
        for r in sorted(self.tables, reverse=True):
            keys, values = self.tables[r]
            if not len(todo) or not len(keys):
                continue
            h = neighbourhood_hashes(codes, r)[todo]
            pos = np.minimum(np.searchsorted(keys, h), len(keys) - 1)
            hit = keys[pos] == h
            cells[todo[hit]] = self.cells[values[pos[hit]]].reshape(-1, CELL_PIXELS * CELL_PIXELS)
            todo = todo[~hit]
        return cells_to_frames(cells.reshape(-1, CELL_PIXELS, CELL_PIXELS))

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        tensors = {"cells": self.cells}
        for r, (k, v) in self.tables.items():
            tensors[f"keys_r{r}"], tensors[f"values_r{r}"] = k, v
        meta = {"model": self.model_fingerprint, "radii": ",".join(map(str, self.tables))}
        atomic.write_with(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def load_memory(path: Path, model_fingerprint: str) -> DecoderMemory | None:
    """The memory at `path` (None when there is none). CheckpointError (one line) when it is damaged or was
    built with another model than the one whose fingerprint is given."""
    from safetensors import safe_open

    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            radii = [int(r) for r in meta.get("radii", "").split(",") if r]
            cells = f.get_tensor("cells")
            tables = {r: (f.get_tensor(f"keys_r{r}"), f.get_tensor(f"values_r{r}")) for r in radii}
    except Exception as e:  # safetensors raises several types for a damaged file
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: not a decoder memory ({msg}); {_REMEDY}") from None
    if meta.get("model") != model_fingerprint:
        raise CheckpointError(f"{path}: built for another tokenizer model than the one beside it; {_REMEDY}")
    return DecoderMemory(cells, tables, model_fingerprint)
