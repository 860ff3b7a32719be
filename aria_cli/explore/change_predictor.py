"""P(frame changes | state, action), learned online from this game's own transitions.

Most actions in most states do nothing. Which ones do is a property of the game that shows up after
a few dozen actions — clicks on one colour of object work, clicks on the background never do, one
of the arrow keys is never used — and it transfers across states. `ChangePredictor` is a tiny MLP
(numpy, one hidden layer, Adam) over `candidate_features`: the action type; for clicks, the clicked
object's colour, size, shape and position and the colours around it; for other actions, the colours
beside the sprite those actions move (found from play: the colour whose pixels they repaint), so a
wall next to the player predicts that walking into it does nothing; and how often this action type /
this colour / this exact click changed the frame so far (`ActionHistory`). The explorer ranks untried
actions with it (and trains a second one, on the same features, for P(new state)).

Training never blocks play: every `train_every` new samples it runs a fixed, small number of
mini-batch steps (about a millisecond), or, with `background=True`, a longer run in a thread that
swaps the new weights in when done.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from aria_cli.explore.objects import N_COLOURS, Candidate, Segmentation
from aria_cli.vocab import CLICK, FRAME_SIZE, N_TYPES

PATCH = 2  # the local patch around a click is (2*PATCH+1)^2 pixels
_OFF = np.arange(-PATCH, PATCH + 1)
N_SIDE = 4 * (N_COLOURS + 1)  # colours beside the moving sprite, up / down / left / right
N_FEATURES = N_TYPES + N_COLOURS + 6 + N_COLOURS + (N_COLOURS + 1) + N_SIDE + 4


class ActionHistory:
    """How often actions changed the frame so far, by action type, clicked colour, and exact click."""

    def __init__(self):
        self.by_type = np.zeros((N_TYPES, 2))  # tries, changes
        self.by_colour = np.zeros((N_COLOURS, 2))
        self.by_xy: dict[tuple[int, int], list[int]] = {}
        self.mover = np.zeros(N_COLOURS)  # colours that appear where non-click actions change the frame

    def add_motion(self, before: np.ndarray, after: np.ndarray, ignore: np.ndarray) -> None:
        """Count the colours a non-click action painted (the sprite it moved shows up most)."""
        painted = after[(before != after) & ~ignore]
        if painted.size:
            # Share of each colour's pixels that were just painted: all of a moved sprite's, hardly
            # any of the floor it uncovered.
            total = np.bincount(after[~ignore], minlength=N_COLOURS)[:N_COLOURS]
            self.mover += np.bincount(painted, minlength=N_COLOURS)[:N_COLOURS] / np.maximum(total, 1)

    def focus(self, frame: np.ndarray, ignore: np.ndarray, max_pixels: int = 144):
        """Bounding box (x0, y0, x1, y1) of the moving sprite in this frame, or None if unclear."""
        if not self.mover.any():
            return None
        pixels = (frame == int(np.argmax(self.mover))) & ~ignore
        count = int(pixels.sum())
        if not 0 < count <= max_pixels:
            return None
        ys, xs = np.nonzero(pixels)
        return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())

    def add(self, cand: Candidate, changed: bool) -> None:
        self.by_type[cand.action] += (1, changed)
        if cand.is_click:
            if cand.colour >= 0:
                self.by_colour[cand.colour] += (1, changed)
            t = self.by_xy.setdefault((cand.x, cand.y), [0, 0])
            t[0] += 1
            t[1] += changed

    @staticmethod
    def rate(tries, changes, prior: float = 0.5, strength: float = 2.0):
        return (changes + prior * strength) / (tries + strength)

    def estimate(self, cands: list[Candidate]) -> np.ndarray:
        """A count-based P(change), used before the predictor has trained."""
        out = np.empty(len(cands))
        for i, c in enumerate(cands):
            tries, changes = self.by_type[c.action]
            p = self.rate(tries, changes)
            if c.is_click and c.colour >= 0:
                ct, cc = self.by_colour[c.colour]
                p = self.rate(ct, cc, prior=p)
            out[i] = p
        return out


def side_features(frame: np.ndarray, focus) -> np.ndarray:
    """Colour histograms of the strips beside a sprite's box (up, down, left, right), each as deep as
    the sprite: what a move in that direction would run into."""
    x0, y0, x1, y1 = focus
    w, h = x1 - x0 + 1, y1 - y0 + 1
    padded = np.pad(frame.astype(np.int64), FRAME_SIZE, constant_values=N_COLOURS)
    P = FRAME_SIZE
    strips = (
        padded[P + y0 - h : P + y0, P + x0 : P + x1 + 1],
        padded[P + y1 + 1 : P + y1 + 1 + h, P + x0 : P + x1 + 1],
        padded[P + y0 : P + y1 + 1, P + x0 - w : P + x0],
        padded[P + y0 : P + y1 + 1, P + x1 + 1 : P + x1 + 1 + w],
    )
    return np.concatenate([np.bincount(s.ravel(), minlength=N_COLOURS + 1) / s.size for s in strips])


def candidate_features(
    frame: np.ndarray,
    seg: Segmentation | None,
    cands: list[Candidate],
    history: ActionHistory,
    focus: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """(n, N_FEATURES) float32 features of each candidate action in this frame. `focus` is the box of
    the sprite that non-click actions move (ActionHistory.focus), if known."""
    n = len(cands)
    X = np.zeros((n, N_FEATURES), dtype=np.float32)
    if n == 0:
        return X
    types = np.array([c.action for c in cands])
    X[np.arange(n), types] = 1.0
    o = N_TYPES
    # Type history: how often this action type changed the frame so far.
    t_tries, t_changes = history.by_type[types].T
    hist = np.zeros((n, 4), dtype=np.float32)
    hist[:, 0] = ActionHistory.rate(t_tries, t_changes)
    hist[:, 3] = np.log1p(t_tries) / 5
    # Clicks on a known object of this frame's segmentation get object features.
    click = np.array([i for i, c in enumerate(cands) if c.is_click and c.region >= 0], dtype=np.int64)
    if len(click) and seg is not None:  # (seg is None only when clicks are unavailable)
        reg = np.array([cands[i].region for i in click])
        col = seg.colour[reg].astype(np.int64)
        X[click, o + col] = 1.0
        b = o + N_COLOURS
        bbox = seg.bbox[reg]
        X[click, b + 0] = np.log2(seg.size[reg]) / 12
        X[click, b + 1] = (bbox[:, 2] - bbox[:, 0] + 1) / FRAME_SIZE
        X[click, b + 2] = (bbox[:, 3] - bbox[:, 1] + 1) / FRAME_SIZE
        xs = np.array([cands[i].x for i in click])
        ys = np.array([cands[i].y for i in click])
        X[click, b + 3] = xs / FRAME_SIZE
        X[click, b + 4] = ys / FRAME_SIZE
        X[click, b + 5] = seg.size[reg] == seg.size.max()
        b += 6
        X[click, b : b + N_COLOURS] = seg.adjacent[reg]
        b += N_COLOURS
        # Colour histogram of the patch around the click (16 = outside the frame).
        padded = np.pad(frame.astype(np.int64), PATCH, constant_values=N_COLOURS)
        py = ys[:, None, None] + PATCH + _OFF[None, :, None]
        px = xs[:, None, None] + PATCH + _OFF[None, None, :]
        patch = padded[py, px].reshape(len(click), -1)
        counts = np.zeros((len(click), N_COLOURS + 1), dtype=np.float32)
        np.add.at(counts, (np.repeat(np.arange(len(click)), patch.shape[1]), patch.ravel()), 1.0)
        X[click, b : b + N_COLOURS + 1] = counts / patch.shape[1]
        c_tries, c_changes = history.by_colour[col].T
        hist[click, 1] = ActionHistory.rate(c_tries, c_changes)
        xy = np.array([history.by_xy.get((int(x), int(y)), (0, 0)) for x, y in zip(xs, ys, strict=True)])
        hist[click, 2] = ActionHistory.rate(xy[:, 0], xy[:, 1])
    if focus is not None:
        b = N_TYPES + N_COLOURS + 6 + N_COLOURS + N_COLOURS + 1
        X[types != CLICK, b : b + N_SIDE] = side_features(frame, focus)
    no_object = np.ones(n, dtype=bool)
    no_object[click] = False
    hist[no_object, 1:3] = 0.5
    X[:, -4:] = hist
    return X


_SINGLE_THREAD_MNK = 200_000  # OpenBLAS multithreads a product above ~262k multiply-adds


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in row chunks small enough to stay on one thread. OpenBLAS spreads larger products over
    its threads, and on a busy 2-core machine (a world model running beside) that costs ~100x."""
    rows = max(1, _SINGLE_THREAD_MNK // max(1, a.shape[1] * b.shape[1]))
    if a.shape[0] <= rows:
        return a @ b
    return np.concatenate([a[i : i + rows] @ b for i in range(0, a.shape[0], rows)])


@dataclass(frozen=True)
class PredictorConfig:
    hidden: int = 32
    lr: float = 0.01
    weight_decay: float = 1e-4
    train_every: int = 16  # new samples between updates
    steps: int = 48  # mini-batch steps per update (bounded: a few milliseconds)
    batch: int = 48  # small enough that OpenBLAS never spreads a product over threads (see _matmul)
    buffer: int = 4096  # most recent samples kept
    min_samples: int = 12  # below this, predict from counts (ActionHistory.estimate)
    background: bool = False  # train in a thread instead (non-deterministic timing)
    background_steps: int = 200


class ChangePredictor:
    """A one-hidden-layer MLP for P(frame changes), trained online from (features, changed) samples."""

    def __init__(self, config: PredictorConfig | None = None, seed: int = 0):
        self.config = config or PredictorConfig()
        self.rng = np.random.default_rng(seed)
        h = self.config.hidden
        self.params = {
            "w1": (self.rng.standard_normal((N_FEATURES, h)) / np.sqrt(N_FEATURES)).astype(np.float32),
            "b1": np.zeros(h, dtype=np.float32),
            "w2": (self.rng.standard_normal(h) / np.sqrt(h)).astype(np.float32),
            "b2": np.zeros(1, dtype=np.float32),
        }
        self._adam = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in self.params.items()}
        self._t = 0
        # Ring buffer of the most recent samples; `tags` number them in arrival order (0, 1, 2, ...).
        cap = self.config.buffer
        self._X = np.zeros((cap, N_FEATURES), dtype=np.float32)
        self._y = np.zeros(cap, dtype=np.float32)
        self._tags = np.zeros(cap, dtype=np.int64)
        self.n_samples = 0  # ever added
        self._pending = 0
        self.version = 0  # bumped whenever the weights change
        self.updates = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def trained(self) -> bool:
        return self.updates > 0

    @property
    def size(self) -> int:
        return min(self.n_samples, self.config.buffer)

    @property
    def X(self) -> np.ndarray:
        return self._X[: self.size]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.size]

    def add(self, x: np.ndarray, changed: bool) -> int:
        """Add one sample; returns its tag (its number in arrival order)."""
        i = self.n_samples % self.config.buffer
        self._X[i] = x
        self._y[i] = float(changed)
        self._tags[i] = self.n_samples
        self.n_samples += 1
        self._pending += 1
        return self.n_samples - 1

    def relabel(self, label_of_tag) -> None:
        """Recompute every kept label as `label_of_tag(tag)`, e.g. after the volatile mask grew."""
        for i in range(self.size):
            self._y[i] = float(label_of_tag(int(self._tags[i])))

    def predict(self, X: np.ndarray) -> np.ndarray:
        with self._lock:
            p = self.params
            h = np.maximum(_matmul(X, p["w1"]) + p["b1"], 0.0)
            z = h @ p["w2"] + p["b2"][0]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def maybe_train(self) -> bool:
        """Train if enough new samples arrived. Returns at once in background mode. True if it started."""
        c = self.config
        if self._pending < c.train_every or len(self.y) < c.min_samples:
            return False
        if self._thread is not None and self._thread.is_alive():
            return False
        self._pending = 0
        if c.background:
            X, y = self.X.copy(), self.y.copy()
            self._thread = threading.Thread(target=self._train, args=(X, y, c.background_steps), daemon=True)
            self._thread.start()
        else:
            self._train(self.X, self.y, c.steps)
        return True

    def wait(self) -> None:
        """Wait for a background update to finish (tests, and before saving)."""
        if self._thread is not None:
            self._thread.join()

    def _train(self, X: np.ndarray, y: np.ndarray, steps: int) -> None:
        c = self.config
        params = {k: v.copy() for k, v in self.params.items()}
        # Balance the classes: "changed" is often rare, and it is the class that matters.
        pos = max(float(y.mean()), 1e-3)
        w = np.where(y > 0.5, 0.5 / pos, 0.5 / max(1.0 - pos, 1e-3)).astype(np.float32)
        for _ in range(steps):
            idx = self.rng.integers(0, len(y), size=min(c.batch, len(y)))
            xb, yb, wb = X[idx], y[idx], w[idx]
            a = _matmul(xb, params["w1"]) + params["b1"]
            h = np.maximum(a, 0.0)
            z = h @ params["w2"] + params["b2"][0]
            prob = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
            dz = (prob - yb) * wb / len(yb)
            grads = {
                "w2": h.T @ dz,
                "b2": np.array([dz.sum()], dtype=np.float32),
            }
            dh = np.outer(dz, params["w2"]) * (a > 0)
            grads["w1"] = _matmul(xb.T, dh)
            grads["b1"] = dh.sum(axis=0)
            self._t += 1
            for k, g in grads.items():
                g = g + c.weight_decay * params[k]
                m, v = self._adam[k]
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                mh = m / (1 - 0.9**self._t)
                vh = v / (1 - 0.999**self._t)
                params[k] = (params[k] - c.lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        with self._lock:
            self.params = params
            self.version += 1
            self.updates += 1
