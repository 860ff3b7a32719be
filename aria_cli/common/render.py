"""Pictures of frames for people: the terminal view (half-block characters) and GIF animations.

Both use the ARC palette (aria_cli.common.palette, taken from the arc-agi toolkit) so frames look as they do
in the toolkit's own renderer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.style import Style
from rich.text import Text

from aria_cli.common import atomic
from aria_cli.common.palette import PALETTE, frame_to_rgb

_STYLES: dict[tuple[int, int], Style] = {}


def _style(top: int, bottom: int) -> Style:
    key = (top, bottom)
    s = _STYLES.get(key)
    if s is None:
        t, b = PALETTE[top], PALETTE[bottom]
        s = _STYLES[key] = Style(color=f"rgb({t[0]},{t[1]},{t[2]})", bgcolor=f"rgb({b[0]},{b[1]},{b[2]})")
    return s


def frame_text(frame: np.ndarray) -> Text:
    """A 64x64 frame as 64 columns x 32 rows of '▀': the upper pixel is the foreground colour, the lower
    one the background colour."""
    frame = np.asarray(frame)
    text = Text(no_wrap=True, overflow="crop")
    for r in range(0, frame.shape[0], 2):
        top, bottom = frame[r], frame[r + 1] if r + 1 < frame.shape[0] else frame[r]
        for c in range(frame.shape[1]):
            text.append("▀", _style(int(top[c]), int(bottom[c])))
        if r + 2 < frame.shape[0]:
            text.append("\n")
    return text


class GifWriter:
    """Collects frames (as palette indices, 4 KB each) and writes an animated GIF atomically."""

    def __init__(self, path: Path, scale: int = 4, ms_per_frame: int = 120, max_frames: int = 5000):
        self.path = Path(path)
        self.scale = scale
        self.ms = ms_per_frame
        self.max_frames = max_frames
        self.frames: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> None:
        if len(self.frames) < self.max_frames:
            self.frames.append(np.asarray(frame, dtype=np.uint8).copy())

    def write(self) -> Path | None:
        if not self.frames:
            return None
        from PIL import Image

        images = [Image.fromarray(frame_to_rgb(f, self.scale)) for f in self.frames]
        atomic.write_with(
            self.path,
            lambda tmp: images[0].save(
                tmp, format="GIF", save_all=True, append_images=images[1:], duration=self.ms, loop=0
            ),
        )
        return self.path
