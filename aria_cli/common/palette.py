"""The ARC colour palette and frame pictures: every image aria draws uses these colours.

The palette is the toolkit's own (`arc_agi.rendering.COLOR_MAP`), so frames look the same as in the
toolkit's renderer. Only the constant is imported here; talking to games stays in the game adapter.

    rgb = frame_to_rgb(frame, scale=4)                      # (256, 256, 3) uint8
    img = frame_grid([[f0, r0], [f1, r1]], col_labels=["frame", "recon"])
    save_png(img, "out.png")                                 # atomic
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from aria_cli.common import atomic


def _palette() -> np.ndarray:
    from arc_agi.rendering import COLOR_MAP

    out = np.zeros((16, 3), dtype=np.uint8)
    for value, colour in COLOR_MAP.items():
        hexa = colour.lstrip("#")
        out[int(value)] = [int(hexa[i : i + 2], 16) for i in (0, 2, 4)]
    return out


PALETTE: np.ndarray = _palette()  # (16, 3) uint8: colour value 0-15 → RGB
HIGHLIGHT = np.array([255, 0, 0], dtype=np.uint8)  # wrong pixels in difference pictures
_MUTED = np.array([40, 40, 40], dtype=np.uint8)
_LABEL_BG = (24, 24, 24)
_LABEL_FG = (230, 230, 230)


def frame_to_rgb(frame: np.ndarray, scale: int = 1) -> np.ndarray:
    """A (H, W) frame of colour values 0-15 → (H*scale, W*scale, 3) uint8 RGB in the ARC palette."""
    frame = np.asarray(frame)
    if frame.ndim != 2:
        raise ValueError(f"a frame is 2-D (H, W), got shape {frame.shape}")
    rgb = PALETTE[np.clip(frame, 0, 15).astype(np.intp)]
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    return rgb


def diff_to_rgb(target: np.ndarray, predicted: np.ndarray, scale: int = 1) -> np.ndarray:
    """The target frame, dimmed, with every pixel the prediction got wrong in bright red."""
    target, predicted = np.asarray(target), np.asarray(predicted)
    rgb = frame_to_rgb(target).astype(np.uint16)
    rgb = ((rgb + _MUTED) // 3).astype(np.uint8)  # dim, so the highlights stand out on any colour
    rgb[target != predicted] = HIGHLIGHT
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    return rgb


def frame_grid(
    rows: Sequence[Sequence[np.ndarray]],
    col_labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    scale: int = 4,
    gap: int = 4,
) -> Image.Image:
    """A labelled grid of pictures. Each cell is a 2-D frame (drawn in the palette) or an RGB array
    (H, W, 3) that is already drawn (e.g. from `diff_to_rgb`); 2-D frames are scaled by `scale`."""
    if not rows or not rows[0]:
        raise ValueError("frame_grid needs at least one picture")
    pics = [[frame_to_rgb(p, scale) if np.asarray(p).ndim == 2 else np.asarray(p, dtype=np.uint8) for p in r] for r in rows]
    n_cols = max(len(r) for r in pics)
    cell_h = max(p.shape[0] for r in pics for p in r)
    cell_w = max(p.shape[1] for r in pics for p in r)
    font = ImageFont.load_default()
    label_h = 14 if col_labels else 0
    label_w = 8 + 6 * max((len(s) for s in row_labels), default=0) if row_labels else 0
    width = label_w + n_cols * cell_w + (n_cols + 1) * gap
    height = label_h + len(pics) * cell_h + (len(pics) + 1) * gap
    img = Image.new("RGB", (width, height), _LABEL_BG)
    draw = ImageDraw.Draw(img)
    for j, text in enumerate(col_labels or []):
        draw.text((label_w + gap + j * (cell_w + gap), 1), text, fill=_LABEL_FG, font=font)
    for i, row in enumerate(pics):
        top = label_h + gap + i * (cell_h + gap)
        if row_labels and i < len(row_labels):
            draw.text((2, top + cell_h // 2 - 6), row_labels[i], fill=_LABEL_FG, font=font)
        for j, pic in enumerate(row):
            img.paste(Image.fromarray(pic), (label_w + gap + j * (cell_w + gap), top))
    return img


def save_png(img: Image.Image, path: str | Path) -> Path:
    """Write a PNG atomically (a reader never sees half an image)."""
    path = Path(path)
    atomic.write_with(path, lambda tmp: img.save(tmp, format="PNG"))
    return path
