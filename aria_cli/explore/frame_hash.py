"""State keys: frame hashes that ignore the parts of the frame that change by themselves.

Many games draw a step counter or a budget bar that changes on every action, whatever the action did.
Hashing the raw frame would then make every state new, and an explorer could never recognise that it
came back somewhere. `VolatileMask` learns, from the transitions the agent observes, which pixels to
ignore:

- a pixel that changed in (nearly) every transition, no-ops included (a blinking cursor, a digit),
  provided some transitions changed nothing else (a sprite stepping back and forth over one cell
  also changes it every time, but never alone), and every action tried changed it at least once (a
  tile that the few actions tried so far all happen to flip is the game, not a counter);
- a thin band of rows (or columns) at the frame's edge that changed in (nearly) every transition, or
  in every transition that changed anything at all (a bar that shrinks one pixel per step), while
  other transitions changed things outside the band (so the band is not the game itself).

- a timer: pixels whose value is a function of the number of actions since the level (re)started —
  the same at step t on paths that began with different actions, even when the rest of the frame
  differs, and not the same as at step 0 (paths that share their first action may share its effect,
  e.g. a tile every replay flips first) — together with the single-colour region of the level's
  first frame they belong to (the whole bar, not only the part that has emptied so far), provided
  some transitions changed nothing else (a budget bar that shrinks by one pixel every few actions,
  whatever they did).

The mask only grows, and only on strong evidence (a minimum number of transitions, high fractions).
`FrameStore` keeps every distinct frame once and computes masked keys lazily, cached per mask
version, so everything keyed by state (the state graph) can be rebuilt whenever the mask grows.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np

from aria_cli.explore.objects import segment
from aria_cli.vocab import FRAME_SIZE

MASKED = 255  # value written over ignored pixels before hashing (frames hold colours 0-15)
MAX_ACTIONS_TRACKED = 128  # the pixel rule's "every action tried" looks at this many recent actions


@dataclass(frozen=True)
class VolatileConfig:
    min_transitions: int = 12  # evidence needed before anything is masked
    pixel_fraction: float = 0.9  # a pixel changed in this share of all transitions
    min_quiet: int = 3  # ... and this many transitions changed only such pixels
    band_fraction: float = 0.9  # a row/column changed in this share of all transitions
    band_fraction_changed: float = 0.98  # ... or of the transitions that changed anything
    min_changed_transitions: int = 24  # evidence for the second band rule
    max_band: int = 8  # thickest band (rows or columns) masked as a HUD
    edge_margin: int = 12  # a band must lie within this many pixels of the frame's edge
    max_pixel_cover: float = 0.25  # never mask more than this share of the frame by the pixel rule
    timer_confirmations: int = 2  # a timer pixel agreed at its step this often while others differed
    max_timer_region: int = 512  # largest first-frame region a timer pixel extends to
    max_timer_steps: int = 512  # steps since the level start remembered for the timer rule


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


class VolatileMask:
    """Per-pixel and per-line change statistics over observed transitions, and the mask they imply."""

    def __init__(self, config: VolatileConfig | None = None):
        self.config = config or VolatileConfig()
        self.mask = np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=bool)
        self.version = 0
        self.n = 0  # transitions observed
        self.n_changed = 0  # ... that changed at least one pixel
        self.pixel = np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=np.int32)
        self.rows = np.zeros(FRAME_SIZE, dtype=np.int32)
        self.cols = np.zeros(FRAME_SIZE, dtype=np.int32)
        # Changed rows / columns / pixels of recent changing transitions (bounded), for the
        # "outside the band" and "changed nothing else" tests.
        self._changed_rows: list[np.ndarray] = []
        self._changed_cols: list[np.ndarray] = []
        self._recent = np.zeros((256, FRAME_SIZE * FRAME_SIZE), dtype=bool)
        # Pixel rule: per recent action, the pixels it changed at least once.
        self._changed_by: dict[object, np.ndarray] = {}
        # Timer rule: the first frame seen at each (level, step since the level started), packed (up to
        # max_timer_steps frames per level: 2 MiB a level raw), and the first action of its path.
        self._refs: dict[tuple[int, int], tuple[PackedFrame, object]] = {}
        self._ref_regions: dict[int, np.ndarray] = {}  # level -> region labels of its step-0 frame
        self.confirm = np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=np.int32)
        self.disagree = np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=bool)
        self._timer_checked = (-1, -1)

    def observe(self, before: np.ndarray, after: np.ndarray, action=None) -> bool:
        """Count one in-level transition (not a reset, level-up or game over) by `action` (any hashable;
        None if unknown). True if the mask grew."""
        diff = before != after
        self.n += 1
        if action is not None:
            ever = self._changed_by.pop(action, None)
            ever = diff if ever is None else ever | diff
            self._changed_by[action] = ever  # most recent last
            if len(self._changed_by) > MAX_ACTIONS_TRACKED:
                del self._changed_by[next(iter(self._changed_by))]
        if diff.any():
            self.n_changed += 1
            self.pixel += diff
            r, k = diff.any(axis=1), diff.any(axis=0)
            self.rows += r
            self.cols += k
            self._recent[(self.n_changed - 1) % len(self._recent)] = diff.ravel()
            self._changed_rows.append(r)
            self._changed_cols.append(k)
            if len(self._changed_rows) > 512:
                self._changed_rows = self._changed_rows[-256:]
                self._changed_cols = self._changed_cols[-256:]
        return self._update()

    def _band_ok(self, start: int, end: int) -> bool:
        c = self.config
        return end - start <= c.max_band and (start < c.edge_margin or end > FRAME_SIZE - c.edge_margin)

    def _quiet(self, allowed: np.ndarray, must: np.ndarray | None = None) -> int:
        """Recent changing transitions that changed only `allowed` pixels (and some of `must`)."""
        recent = self._recent[: min(self.n_changed, len(self._recent))]
        ok = ~(recent & ~allowed.ravel()).any(axis=1)
        if must is not None:
            ok &= (recent & must.ravel()).any(axis=1)
        return int(ok.sum())

    def observe_time(self, frame: np.ndarray, level: int, step: int, first_action=None) -> bool:
        """Feed a frame seen `step` actions after the level (re)started, on a path that began with
        `first_action` (any hashable; None at step 0). True if the mask grew."""
        if step > self.config.max_timer_steps:
            return False
        stored = self._refs.get((level, step))
        if stored is None:
            self._refs[(level, step)] = (pack_frame(frame), first_action)
            return False
        packed, ref_first = stored
        if step > 0 and first_action == ref_first:
            return False  # the same opening: what it changed is not evidence of a timer
        ref = unpack_frame(packed)
        diff = ref != frame
        if not diff.any():
            return False  # the same frame: no evidence either way
        self.disagree |= diff
        base = self._refs.get((level, 0), (None,))[0]
        if base is not None and step > 0:
            base = unpack_frame(base)
            self.confirm += (ref != base) & ~diff
            if level not in self._ref_regions:
                self._ref_regions[level] = segment(base).labels
        return self._update()

    def _timer(self) -> np.ndarray:
        """Timer pixels, each extended to its region of the level's first frame (see module doc)."""
        c = self.config
        out = np.zeros_like(self.mask)
        confirmed = (self.confirm >= c.timer_confirmations) & ~self.disagree & ~self.mask
        state = (int(confirmed.sum()), self.n_changed)
        if not confirmed.any() or state == self._timer_checked:
            return out
        self._timer_checked = state
        for labels in self._ref_regions.values():
            for region in np.unique(labels[confirmed]):
                pixels = labels == region
                if pixels.sum() > c.max_timer_region or (pixels & self.disagree).any():
                    continue  # too big for a HUD element, or partly state-dependent
                if self._quiet(pixels | self.mask, must=pixels) >= c.min_quiet:
                    out |= pixels
        return out

    def _bands(self, counts: np.ndarray, axis: int) -> np.ndarray:
        """Rows (axis 0) or columns (axis 1) that behave like a HUD band."""
        c = self.config
        hot = np.zeros(FRAME_SIZE, dtype=bool)
        # (flags, changes needed outside the band, transitions needed that changed only the band)
        rules = []
        if self.n >= c.min_transitions:
            rules.append((counts >= c.band_fraction * self.n, 1, c.min_quiet))
        if self.n_changed >= c.min_changed_transitions:
            rules.append((counts >= c.band_fraction_changed * self.n_changed, 3, 0))
        lines = None
        for flags, min_outside, min_quiet in rules:
            for start, end in _runs(flags):
                if not self._band_ok(start, end) or hot[start:end].all():
                    continue
                band = np.zeros_like(self.mask)
                if axis == 0:
                    band[start:end, :] = True
                else:
                    band[:, start:end] = True
                if (self.mask | ~band).all():
                    hot[start:end] = True  # already masked: the evidence was checked then
                    continue
                if lines is None:
                    lines = np.array(self._changed_rows if axis == 0 else self._changed_cols)
                # Other transitions must change something outside the band, or the band is the game;
                # and (first rule) some must change nothing but the band, as no-op actions do.
                outside = (lines[:, :start].any(axis=1) | lines[:, end:].any(axis=1)).sum()
                if outside >= min_outside and (min_quiet == 0 or self._quiet(band | self.mask) >= min_quiet):
                    hot[start:end] = True
        return hot

    def _update(self) -> bool:
        c = self.config
        new = self.mask.copy()
        if self.n >= c.min_transitions:
            pix = self.pixel >= c.pixel_fraction * self.n
            for ever in self._changed_by.values():
                pix &= ever
            if (pix & ~self.mask).any() and pix.mean() <= c.max_pixel_cover:
                if self._quiet(pix | self.mask) >= c.min_quiet:
                    new |= pix
        new[self._bands(self.rows, 0), :] = True
        new[:, self._bands(self.cols, 1)] = True
        new |= self._timer()
        if (new != self.mask).any():
            self.mask = new
            self.version += 1
            return True
        return False


PackedFrame = tuple[tuple[int, ...], bytes]


def pack_frame(frame: np.ndarray) -> PackedFrame:
    """A frame zlib-compressed (4 KiB raw, a few hundred bytes packed)."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    return frame.shape, zlib.compress(frame.tobytes(), 1)


def unpack_frame(packed: PackedFrame) -> np.ndarray:
    shape, data = packed
    return np.frombuffer(zlib.decompress(data), dtype=np.uint8).reshape(shape)


class FrameStore:
    """Every distinct frame seen in a game, once, with lazily computed masked keys.

    Frames are kept zlib-compressed: a long game shows thousands of distinct frames (4 KiB each raw,
    a few hundred bytes compressed), and the agent's memory must stay flat over 10,000 actions.
    """

    def __init__(self, mask: VolatileMask | None = None):
        self.mask = mask or VolatileMask()
        self._packed: list[PackedFrame] = []
        self._last: tuple[int, np.ndarray] | None = None  # the most recently unpacked frame
        self._ids: dict[bytes, int] = {}
        self._keys: dict[int, tuple[int, bytes]] = {}

    def add(self, frame: np.ndarray) -> int:
        """The id of this exact frame (a new id the first time it is seen)."""
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        raw = hashlib.blake2b(frame.tobytes(), digest_size=16).digest()  # 16 bytes, not 4 KiB, per frame
        fid = self._ids.get(raw)
        if fid is None:
            fid = len(self._packed)
            self._ids[raw] = fid
            self._packed.append(pack_frame(frame))
            self._last = (fid, frame.copy())
        return fid

    def __len__(self) -> int:
        return len(self._packed)

    def frame(self, fid: int) -> np.ndarray:
        """The frame (read-only: it may be shared with the next caller)."""
        if self._last is not None and self._last[0] == fid:
            return self._last[1]
        f = unpack_frame(self._packed[fid])
        self._last = (fid, f)
        return f

    def key(self, fid: int) -> bytes:
        """The state key of a frame under the current mask (volatile pixels ignored)."""
        cached = self._keys.get(fid)
        if cached is not None and cached[0] == self.mask.version:
            return cached[1]
        f = self.frame(fid)
        if self.mask.mask.any():
            f = f.copy()
            f[self.mask.mask] = MASKED
        key = hashlib.blake2b(f.tobytes(), digest_size=12).digest()
        self._keys[fid] = (self.mask.version, key)
        return key

    def same_state(self, a: int, b: int) -> bool:
        """Whether two frames are the same state, i.e. equal outside the volatile mask."""
        return a == b or self.key(a) == self.key(b)

    def observe_time(self, fid: int, level: int, step: int, first_action=None) -> bool:
        """Feed the frame seen `step` actions after the level (re)started, on a path that began with
        `first_action`; True if the mask grew."""
        return self.mask.observe_time(self.frame(fid), level, step, first_action)

    def observe_transition(self, before: int, after: int, action=None) -> bool:
        """Feed an in-level transition to the mask statistics; True if the mask (so every key) changed."""
        return self.mask.observe(self.frame(before), self.frame(after), action)
