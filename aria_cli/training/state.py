"""The resumable state in `last/train_state.pt`, the same format for every trainer.

Everything in it is a tensor, a number, a string, None, or a list/tuple/dict of those (optimizer and
scheduler state dicts, RNG states, counters, history), so it loads with `torch.load(weights_only=True)`:
a checkpoint folder from someone else cannot run code on `--resume`. The weights sit beside it in the
same folder, which `checkpoints.save_folder` replaces as one unit, so the two always name the same step.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from aria_cli.common.errors import CheckpointError
from aria_cli.training.checkpoints import STATE_FILE


def rng_state() -> dict:
    """Python's, NumPy's global, torch's (and CUDA's) RNG states, as tensors and numbers."""
    st = np.random.get_state()
    out = {
        "python": random.getstate(),
        "numpy": (st[0], torch.from_numpy(st[1].copy()), int(st[2]), int(st[3]), float(st[4])),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(st: dict) -> None:
    python = st["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    n = st["numpy"]
    np.random.set_state((n[0], n[1].numpy(), n[2], n[3], n[4]))
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def writer(state: dict):
    """A `checkpoints.save_folder` writer for the state (checked to load back without pickle)."""

    def write(folder: Path) -> None:
        torch.save(state, folder / STATE_FILE)

    return write


def load(folder: Path, command: str) -> dict:
    """The state saved in `folder`; a missing or damaged file is a one-line CheckpointError naming it.

    A damaged state is an error rather than a fresh start: `--resume` asks to continue a run, and
    starting over in its place would silently overwrite what that run had saved."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"--resume: no training state at {path}; train without --resume first (`aria {command}`)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged file fails in many ways; say which file
        msg = str(e).splitlines()[0].split(". ")[0][:120] if str(e) else type(e).__name__
        raise CheckpointError(f"--resume: {path} does not load ({msg}); start afresh without --resume") from None
