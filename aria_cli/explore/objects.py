"""Objects in a frame: connected single-colour regions, and the click candidates they offer.

A click on an arbitrary pixel rarely does anything; a click on an object often does. `segment` labels
the 4-connected single-colour regions of a 64x64 frame with a vectorised union-find (hook every
same-colour neighbour pair onto the smaller root, then pointer-jump until every pixel points at its
root; a handful of rounds, well under 2 ms per frame). `action_candidates` turns a frame into the
actions worth trying: one per non-click action type, and one click per object, at the region pixel
nearest its centroid (so the click lands inside even a ring or an L), small distinctive objects first
and the background (the largest regions) last. `grid_clicks` adds the finer clicks the explorer turns to
once every object click is tried: points on a grid inside the large regions, where one click per region
cannot reach the cell a paint or placement game wants (an empty board is one region).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from aria_cli.vocab import CLICK, FRAME_SIZE

N_COLOURS = 16
_N = FRAME_SIZE * FRAME_SIZE
_IDX = np.arange(_N, dtype=np.int32).reshape(FRAME_SIZE, FRAME_SIZE)
# Every horizontal and vertical neighbour pair, as flat pixel indices (computed once).
_PAIR_A = np.concatenate([_IDX[:, :-1].ravel(), _IDX[:-1, :].ravel()])
_PAIR_B = np.concatenate([_IDX[:, 1:].ravel(), _IDX[1:, :].ravel()])
_YS, _XS = np.divmod(np.arange(_N), FRAME_SIZE)

BACKGROUND_FRACTION = 1 / 8  # a region this large (or the largest one) is treated as background
MAX_OBJECT = 256  # largest region that can be the outline of a two-part object


@dataclass(frozen=True)
class Segmentation:
    """Regions of one frame. Region i has colour[i], size[i] pixels, and a click point inside it."""

    labels: np.ndarray | None  # (64, 64) int16 region index per pixel (None once dropped)
    colour: np.ndarray  # (n,) uint8
    size: np.ndarray  # (n,) int32 pixels
    click_x: np.ndarray  # (n,) int: region pixel nearest the centroid
    click_y: np.ndarray
    bbox: np.ndarray  # (n, 4) x0, y0, x1, y1 (inclusive)
    adjacent: np.ndarray  # (n, 16) bool: colours touching the region
    part_of: np.ndarray  # (n,) the region this one is a part of (a ring's core is part of the ring)

    @property
    def n(self) -> int:
        return len(self.size)

    def without_labels(self) -> Segmentation:
        """The per-region arrays only (what features need), in the smallest dtypes that hold them
        (coordinates < 64, sizes <= 4096), for keeping one per state cheaply."""
        return replace(
            self,
            labels=None,
            size=self.size.astype(np.int16),
            click_x=self.click_x.astype(np.int8),
            click_y=self.click_y.astype(np.int8),
            bbox=self.bbox.astype(np.int8),
            part_of=self.part_of.astype(np.int16),
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """One action worth trying in a state. Clicks carry the object they target; others have x = y = -1."""

    action: int  # 1..7 (RESET is never a candidate; the explorer issues it itself)
    x: int = -1
    y: int = -1
    region: int = -1  # index into the state's Segmentation, for clicks
    colour: int = -1
    size: int = 0
    salience: float = 0.0  # higher = more object-like; orders clicks before any learning
    # Identity of the action within a state (the same object in the same state has the same key). A field,
    # not a property: state graphs hold keys of thousands of states, and interned candidates share theirs.
    key: tuple[int, int, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "key", (self.action, self.x, self.y))

    @property
    def is_click(self) -> bool:
        return self.action == CLICK


def _roots(colour_flat: np.ndarray) -> np.ndarray:
    """Union-find over same-colour neighbour pairs; returns each pixel's root (the smallest index)."""
    same = colour_flat[_PAIR_A] == colour_flat[_PAIR_B]
    a, b = _PAIR_A[same], _PAIR_B[same]
    parent = np.arange(_N, dtype=np.int32)
    while True:
        pa, pb = parent[a], parent[b]
        diff = pa != pb
        if not diff.any():
            return parent
        lo = np.minimum(pa[diff], pb[diff])
        hi = np.maximum(pa[diff], pb[diff])
        # Hook roots onto smaller labels. Several writes to one root keep one of them; every written
        # value is smaller than the root, so no cycle can form, and the next round merges the rest.
        parent[hi] = lo
        while True:  # pointer jumping: every pixel ends up pointing at its root
            pp = parent[parent]
            if np.array_equal(pp, parent):
                break
            parent = pp


def segment(frame: np.ndarray) -> Segmentation:
    """Label the 4-connected single-colour regions of a (64, 64) frame."""
    frame = np.asarray(frame)
    if frame.shape != (FRAME_SIZE, FRAME_SIZE):
        raise ValueError(f"frame must be (64, 64), got {frame.shape}")
    flat = frame.ravel().astype(np.int32)
    roots = _roots(flat)
    uniq, labels = np.unique(roots, return_inverse=True)
    labels = labels.astype(np.int32)
    n = len(uniq)
    size = np.bincount(labels, minlength=n).astype(np.int32)
    colour = flat[uniq].astype(np.uint8)
    click_x, click_y, xs, ys, starts = _nearest_to_centroid(labels, n, size)
    bbox = np.stack(
        [
            np.minimum.reduceat(xs, starts),
            np.minimum.reduceat(ys, starts),
            np.maximum.reduceat(xs, starts),
            np.maximum.reduceat(ys, starts),
        ],
        axis=1,
    )
    adjacent = np.zeros((n, N_COLOURS), dtype=bool)
    border = flat[_PAIR_A] != flat[_PAIR_B]
    a, b = _PAIR_A[border], _PAIR_B[border]
    adjacent[labels[a], flat[b]] = True
    adjacent[labels[b], flat[a]] = True
    part_of = _merge_enclosed(labels, labels[a], labels[b], size, bbox)
    if (part_of != np.arange(n)).any():
        # A two-part object's click point: its pixel (either part) nearest the centroid of both.
        objects, obj_labels = np.unique(part_of[labels], return_inverse=True)
        obj_size = np.bincount(obj_labels, minlength=len(objects))
        ox, oy, *_ = _nearest_to_centroid(obj_labels, len(objects), obj_size)
        merged = np.isin(objects, part_of[part_of != np.arange(n)])
        click_x[objects[merged]] = ox[merged]
        click_y[objects[merged]] = oy[merged]
    return Segmentation(
        labels=labels.reshape(FRAME_SIZE, FRAME_SIZE).astype(np.int16),  # <= 4096 regions; kept per state
        colour=colour,
        size=size,
        click_x=click_x,
        click_y=click_y,
        bbox=bbox,
        adjacent=adjacent,
        part_of=part_of,
    )


def _nearest_to_centroid(labels: np.ndarray, n: int, size: np.ndarray):
    """Per label, its pixel nearest its centroid (first in raster order on ties); also the pixel
    coordinates grouped by label and each group's start, for bounding boxes."""
    cx = np.bincount(labels, weights=_XS, minlength=n) / size
    cy = np.bincount(labels, weights=_YS, minlength=n) / size
    by_label = np.argsort(labels, kind="stable")  # pixels grouped by label, raster order within
    starts = np.concatenate([[0], np.cumsum(size)[:-1]])
    xs, ys = _XS[by_label], _YS[by_label]
    sorted_labels = labels[by_label]
    d = (xs - cx[sorted_labels]) ** 2 + (ys - cy[sorted_labels]) ** 2
    nearest = np.flatnonzero(d == np.repeat(np.minimum.reduceat(d, starts), size))
    first = nearest[np.searchsorted(sorted_labels[nearest], np.arange(n))]
    return xs[first], ys[first], xs, ys, starts


def _merge_enclosed(labels, la, lb, size, bbox) -> np.ndarray:
    """part_of[i]: the region that region i is a part of (itself for most). A region with a single
    neighbour, away from the frame's edge, is enclosed by it (the fill of an outlined sprite, the core
    of a ring); when a small region encloses exactly one such region, the two are one object."""
    n = len(size)
    part_of = np.arange(n)
    if n < 2:
        return part_of
    codes = np.unique(np.concatenate([la * n + lb, lb * n + la]))  # each (region, neighbour) once
    first, second = np.divmod(codes, n)
    n_neighbours = np.bincount(first, minlength=n)
    only = np.full(n, -1)
    single = n_neighbours[first] == 1
    only[first[single]] = second[single]
    edge = (
        (bbox[:, 0] == 0)
        | (bbox[:, 1] == 0)
        | (bbox[:, 2] == FRAME_SIZE - 1)
        | (bbox[:, 3] == FRAME_SIZE - 1)
    )
    enclosed = (only >= 0) & ~edge
    outer = only[enclosed]
    children = np.bincount(outer, minlength=n)
    merge = np.flatnonzero(enclosed)
    ok = (children[only[merge]] == 1) & (size[only[merge]] <= MAX_OBJECT)
    part_of[merge[ok]] = only[merge[ok]]
    return part_of


def salience(seg: Segmentation) -> np.ndarray:
    """How object-like each region is: small regions of rare colours high, the background very low."""
    colour_pixels = np.bincount(seg.colour, weights=seg.size, minlength=N_COLOURS)
    rarity = -np.log(colour_pixels[seg.colour] / _N)
    score = rarity - 0.5 * np.log(seg.size)
    background = (seg.size >= BACKGROUND_FRACTION * _N) | (seg.size == seg.size.max())
    return score - 20.0 * background


def click_candidates(
    seg: Segmentation, ignore: np.ndarray | None = None, max_clicks: int = 96
) -> list[Candidate]:
    """One click per object (a region, or a region with the one it encloses), most salient first. Regions mostly inside `ignore` (pixels that change by
    themselves, e.g. a step counter) are left out; at most `max_clicks` are offered."""
    sal = salience(seg)
    keep = seg.part_of == np.arange(seg.n)  # the parts of a two-part object are offered once
    if ignore is not None and ignore.any():
        inside = np.bincount(seg.labels.ravel(), weights=ignore.ravel(), minlength=seg.n)
        keep &= inside < 0.5 * seg.size
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-sal[idx], kind="stable")][:max_clicks]
    return [
        Candidate(
            action=CLICK,
            x=int(seg.click_x[i]),
            y=int(seg.click_y[i]),
            region=int(i),
            colour=int(seg.colour[i]),
            size=int(seg.size[i]),
            salience=float(sal[i]),
        )
        for i in idx
    ]


def grid_clicks(
    seg: Segmentation, detail: int, ignore: np.ndarray | None = None, taken: set | None = None
) -> list[Candidate]:
    """Clicks on grids inside regions larger than a grid cell, for `detail` >= 1: every 8 pixels at
    detail 1, also every 4 at detail 2 (finer grids are added to the coarser ones, not instead). Points
    on `ignore` pixels and points whose key is in `taken` (the object clicks) are left out."""
    if detail < 1 or seg.labels is None:
        return []
    sal = salience(seg)
    out = []
    for level in range(1, detail + 1):
        stride = FRAME_SIZE // 8 >> (level - 1)  # 8, then 4
        coords = np.arange(stride // 2, FRAME_SIZE, stride)
        ys, xs = np.meshgrid(coords, coords, indexing="ij")
        ys, xs = ys.ravel(), xs.ravel()
        region = seg.labels[ys, xs].astype(np.int64)
        ok = seg.size[region] > stride * stride
        if ignore is not None:
            ok &= ~ignore[ys, xs]
        for y, x, r in zip(ys[ok], xs[ok], region[ok], strict=True):
            cand = Candidate(action=CLICK, x=int(x), y=int(y), region=int(r), colour=int(seg.colour[r]),
                             size=int(seg.size[r]), salience=float(sal[r]))
            if taken is None or cand.key not in taken:
                out.append(cand)
    return out


def action_candidates(
    frame: np.ndarray,
    available_actions,
    ignore: np.ndarray | None = None,
    max_clicks: int = 96,
) -> tuple[list[Candidate], Segmentation | None]:
    """Everything worth trying from this frame: each available non-click action, then object clicks."""
    cands = [Candidate(action=int(a)) for a in sorted(set(available_actions)) if 0 < int(a) != CLICK]
    seg = None
    if CLICK in available_actions:
        seg = segment(frame)
        cands += click_candidates(seg, ignore, max_clicks)
    return cands, seg
