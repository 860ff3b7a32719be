"""Learning inside the game: the world model adapted to this game from its own recent steps, in the
background of play, on an in-memory copy (the weights on disk are never touched).

Every `every` actions the agent hands `OnlineAdapter.submit` its recent steps (the world-model row of
its token context: `[FRAME] codes [ACT] <TYPE> <LOC> [LEVEL_COMPLETE]?` per step); a single background
thread takes `steps` gradient steps of the world model's own weighted next-token loss on windows of
them, on a private copy of the model (its trainable parameters: the tiny model's weights, or the LoRA
of a pretrained backbone). The loss is the world model's own without the action targets: what an action
did (the next frame's codes, a level or not) is this game's to learn, which action the agent took is not.
The agent never waits for it: `poll` returns the new weights once a round has finished, and the agent
copies them into the model it plays with between two actions. A round still running when the next is
due is simply not doubled (the agent plays on with the weights it has).

`OnlineCalibration` weighs two predictors of the same binary outcome by how well each has predicted
this game so far (a Bayesian mixture of the two: each one's weight ∝ its likelihood of the outcomes
seen, tempered so that it can come back when the game changes). `OnlinePlatt` turns a score into a
probability of a binary outcome by a logistic fit to this game's outcomes so far: the world model's
log-probability of a whole successor frame ranks actions well before it is calibrated on a new game.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["AdaptConfig", "OnlineAdapter", "OnlineCalibration", "OnlinePlatt"]


@dataclass(frozen=True)
class AdaptConfig:
    every: int = 0  # actions between adaptation rounds (0: no adaptation)
    steps: int = 2  # gradient steps per round
    lr: float = 1e-3
    recent: int = 64  # the game's most recent steps a round trains on
    batch: int = 4  # windows per gradient step
    seed: int = 0

    @property
    def enabled(self) -> bool:
        return self.every > 0 and self.steps > 0


class OnlineAdapter:
    """Gradient steps on a private copy of the world model, one round at a time in a background thread.

    `hook` (tests): called in the worker thread before each round, e.g. to hold it on an event."""

    def __init__(self, wm, config: AdaptConfig, hook: Callable[[], None] | None = None):
        self.config = config
        self.model = copy.deepcopy(wm)
        self.model.train()
        # What follows each action is learned, not the action: those tokens are the agent's own choices, and
        # fitting them taught the world model's next-action guess to echo the agent (RESULTS.md §7).
        self.model.loss_weights = dataclasses.replace(wm.loss_weights, act_type=0.0, act_loc=0.0)
        params = self.model.trainable_parameters()
        if not params:
            raise ValueError("the world model has no trainable parameters to adapt")
        self.optimizer = torch.optim.Adam(params, lr=config.lr)
        self.window = int(wm.config.context_steps)
        self.hook = hook
        self.rng = np.random.default_rng(config.seed)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aria-adapt")
        self._future: Future | None = None
        self._lock = threading.Lock()
        self.rounds = 0  # rounds finished
        self.losses: list[float] = []  # mean loss of each finished round, before its steps

    def busy(self) -> bool:
        return self._future is not None and not self._future.done()

    def submit(self, steps: list[np.ndarray]) -> bool:
        """Start a round on these steps (1-D token arrays, oldest first) unless one is running."""
        if self.busy() or self._future is not None or len(steps) < 2:
            return False
        steps = [np.asarray(s, dtype=np.int64) for s in steps[-self.config.recent :]]
        self._future = self._pool.submit(self._round, steps)
        return True

    def poll(self) -> dict[str, torch.Tensor] | None:
        """The adapted weights (trainable tensors by name) when a round has finished, else None."""
        if self._future is None or not self._future.done():
            return None
        future, self._future = self._future, None
        return future.result()  # re-raises an error of the round here, in the agent's thread

    def wait(self) -> dict[str, torch.Tensor] | None:
        """Block until the running round finishes (tests, and the end of a game)."""
        if self._future is not None:
            self._future.result()
        return self.poll()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _windows(self, steps: list[np.ndarray]) -> torch.Tensor:
        """A batch of `window` consecutive steps each (right-padded with FRAME tokens, masked out)."""
        n = len(steps)
        w = min(self.window, n)
        starts = self.rng.integers(0, n - w + 1, size=self.config.batch)
        rows = [np.concatenate(steps[s : s + w]) for s in starts]
        longest = max(len(r) for r in rows)
        tokens = torch.zeros(len(rows), longest, dtype=torch.long)
        valid = torch.zeros(len(rows), longest, dtype=torch.bool)
        for i, r in enumerate(rows):
            tokens[i, : len(r)] = torch.from_numpy(r)
            valid[i, : len(r)] = True
        return tokens.to(self.model.device), valid.to(self.model.device)

    def loss(self, steps: list[np.ndarray]) -> float:
        """The adapted model's loss on all windows of these steps (no gradient; tests and reports)."""
        w = min(self.window, len(steps))
        with self._lock, torch.no_grad():
            total = 0.0
            for s in range(0, len(steps) - w + 1):
                tokens = torch.as_tensor(np.concatenate(steps[s : s + w]))[None].to(self.model.device)
                total += float(self.model(tokens).loss)
            return total / (len(steps) - w + 1)

    def _round(self, steps: list[np.ndarray]) -> dict[str, torch.Tensor]:
        if self.hook is not None:
            self.hook()
        with self._lock:
            first = None
            for _ in range(self.config.steps):
                tokens, valid = self._windows(steps)
                loss = self.model(tokens, valid).loss
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                first = float(loss.detach()) if first is None else first
            self.losses.append(first)
            self.rounds += 1
            return {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}


class OnlineCalibration:
    """Two predictors of one binary outcome, mixed by how well each predicted it in this game so far.

    Weight of predictor i ∝ exp(−rate · its log loss so far), log losses of each clipped so that a
    predictor that was wrong early can earn its weight back (a tempered Bayesian mixture)."""

    def __init__(self, rate: float = 1.0, bound: float = 8.0):
        self.rate = rate
        self.bound = bound
        self.diff = 0.0  # log loss of predictor 0 minus that of predictor 1, so far
        self.n = 0

    def weight(self) -> float:
        """The share of predictor 1 (0.5 before any outcome)."""
        return float(1.0 / (1.0 + np.exp(-self.rate * self.diff)))

    def blend(self, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
        w = self.weight()
        return (1.0 - w) * np.asarray(p0) + w * np.asarray(p1)

    def observe(self, p0: float, p1: float, outcome: bool) -> None:
        def nll(p: float) -> float:
            p = float(np.clip(p, 1e-3, 1 - 1e-3))
            return -np.log(p if outcome else 1.0 - p)

        self.diff = float(np.clip(self.diff + nll(p0) - nll(p1), -self.bound, self.bound))
        self.n += 1


class OnlinePlatt:
    """P(outcome | score) = sigmoid(a · score + b), fitted (L2-regularised logistic regression, a few
    Newton steps) to the last `window` (score, outcome) pairs of this game; 1/2 before any."""

    def __init__(self, window: int = 512, l2: float = 1.0, iterations: int = 8):
        self.window, self.l2, self.iterations = window, l2, iterations
        self.x: list[float] = []
        self.y: list[float] = []
        self.coef = np.zeros(2)  # (a, b)

    def predict(self, score: np.ndarray) -> np.ndarray:
        z = self.coef[0] * np.asarray(score, dtype=np.float64) + self.coef[1]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))

    def observe(self, score: float, outcome: bool) -> None:
        self.x.append(float(score))
        self.y.append(float(outcome))
        del self.x[: -self.window], self.y[: -self.window]
        self._fit()

    def _fit(self) -> None:
        X = np.stack([np.asarray(self.x), np.ones(len(self.x))], axis=1)
        y = np.asarray(self.y)
        w = self.coef.copy()
        for _ in range(self.iterations):
            p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -30.0, 30.0)))
            grad = X.T @ (p - y) + self.l2 * w
            hess = (X * (p * (1 - p))[:, None]).T @ X + self.l2 * np.eye(2)
            w = w - np.linalg.solve(hess, grad)
        self.coef = w
