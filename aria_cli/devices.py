"""`--device auto|cpu|cuda` resolved to a torch device."""

from __future__ import annotations

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
