"""`--device auto|cpu|cuda` resolved to a torch device."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aria_cli.common.errors import AriaError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> str:
    import torch

    if device not in DEVICE_CHOICES:
        raise AriaError(f"--device must be one of {', '.join(DEVICE_CHOICES)}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise AriaError("--device cuda: no CUDA GPU is visible to torch; use --device cpu")
    return device


def make_accelerator(device: str):
    """An `accelerate.Accelerator` for a resolved device: bf16 autocast on a GPU, full precision on a CPU.

    accelerate keeps one state per process and refuses an Accelerator for another device than the first
    one's. In a single process (a notebook, the tests, quickstart from Python) a run on the CPU after one
    on the GPU is legitimate, so that state is started afresh; under `accelerate launch` (WORLD_SIZE > 1)
    it belongs to the launcher and is left alone.
    """
    import os

    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if AcceleratorState._shared_state and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(cpu=device == "cpu", mixed_precision="bf16" if device == "cuda" else "no")


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on `n` CPU threads inside the block. Small layers and token-by-token inference gain little
    from a second thread and lose a lot when the machine is busy: two threads wait on each other (measured
    on a loaded 2-core machine: 17 vs 227 ms/action for the agent; the tokenizer ran ~4x slower)."""
    import torch

    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != before:
            torch.set_num_threads(before)
