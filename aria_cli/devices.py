"""`--device auto|cpu|cuda` resolved to a torch device."""

from __future__ import annotations

from contextlib import contextmanager

from aria_cli.errors import AriaError

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


@contextmanager
def single_thread():
    """Run token-by-token inference on one CPU thread: with batches this small, a second thread only adds
    synchronisation, and on a busy machine it can make each step ten times slower (measured: 17 vs 227
    ms/action for the agent on a loaded 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
