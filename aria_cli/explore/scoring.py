"""How promising each candidate action of a state is, and what the explorer learns online to say so.

Score of an untried candidate (higher first):

    log P(change) + novelty_weight · log P(new state) + prior_weight · prior log-prob
    + salience_weight · (object salience − mean)  + sampling noise

P(change) and P(new state) are two `ChangePredictor`s on the same features, trained on this game's
transitions as they are filed (`add_sample`); until the first has trained, P(change) is the
per-action-type rate of the `ActionHistory`. The prior is the learned agent's hook (`Prior`); so is
`OutcomeModel`, which may revise P(change) and P(new state) of the current state's candidates (the
learned agent blends in its world model's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from aria_cli.explore.change_predictor import ActionHistory, ChangePredictor, candidate_features
from aria_cli.explore.frame_hash import FrameStore
from aria_cli.explore.objects import Candidate
from aria_cli.explore.state_graph import Node

if TYPE_CHECKING:
    from aria_cli.explore.explorer import ExploreConfig, OutcomeModel, Prior
    from aria_cli.games.adapter import Observation


class ActionScorer:
    """Scores candidates from the two online predictors, the action history, salience and the prior."""

    def __init__(self, config: ExploreConfig, prior: Prior | None, store: FrameStore, rng: np.random.Generator,
                 outcome_model: OutcomeModel | None = None):
        self.config = config
        self.prior = prior
        self.outcome_model = outcome_model
        self.store = store
        self.rng = rng
        self.history = ActionHistory()
        self.predictor = ChangePredictor(config.predictor, seed=int(rng.integers(1 << 31)))
        # Same features, another question: does the action lead to a state never seen before?
        self.novelty = ChangePredictor(config.predictor, seed=int(rng.integers(1 << 31)))
        self._samples: list[tuple[int, int]] = []  # (before, after) frame ids per predictor tag

    def features(self, node: Node, cands: list[Candidate]) -> np.ndarray:
        frame = self.store.frame(node.frame_id)
        focus = None
        if any(not c.is_click for c in cands):
            key = (int(np.argmax(self.history.mover)), self.store.mask.version)
            cached = node.cache.get("focus")
            if cached is None or cached[0] != key:
                cached = node.cache["focus"] = (key, self.history.focus(frame, self.store.mask.mask))
            focus = cached[1]
        return candidate_features(frame, node.seg, cands, self.history, focus)

    def p_change(self, node: Node, cands: list[Candidate]) -> tuple[np.ndarray, np.ndarray]:
        """P(frame changes) for each candidate in this state, and the features it came from."""
        X = self.features(node, cands)
        if self.predictor.trained:
            p = self.predictor.predict(X)
        else:
            p = self.history.estimate(cands)
        return np.clip(p, 0.01, 0.99), X

    def version(self) -> tuple:
        """Changes whenever P(change) may have changed (a cache key for scores)."""
        if self.predictor.trained:
            return ("p", self.predictor.version)
        return ("h", int(self.history.by_type[:, 0].sum()) // 8)

    def max_p(self, node: Node) -> float:
        """Best P(change) among the untried actions of a node (cached per predictor version)."""
        if not node.untried_keys:
            return 0.0
        key = (self.version(), len(node.untried_keys))
        cached = node.cache.get("max_p")
        if cached is not None and cached[0] == key:
            return cached[1]
        p, _ = self.p_change(node, node.untried())
        node.cache["max_p"] = (key, float(p.max()))
        return float(p.max())

    def score(self, obs: Observation, node: Node, cands: list[Candidate], again: list[Candidate] = ()):
        """Exploration score of each candidate (higher first), P(change), features, and the re-follow
        comparison (ExploreConfig.refollow_cost): the prior's part of each candidate's score and the score of
        each tried action in `again`, both with the same sampling noise as the scores."""
        cfg = self.config
        p, X = self.p_change(node, cands)
        p_new = self.novelty.predict(X) if self.novelty.trained and cfg.novelty_weight else None
        if self.outcome_model is not None and cands:
            p, p_new = self.outcome_model(obs, cands, p, p_new)
            p = np.clip(np.asarray(p, dtype=np.float64), 0.01, 0.99)
        score = np.log(p)
        prior_part = np.zeros(len(cands))
        again_score = np.zeros(len(again))
        if p_new is not None and cfg.novelty_weight:
            score = score + cfg.novelty_weight * np.log(np.clip(np.asarray(p_new, dtype=np.float64), 0.01, 0.99))
        if self.prior is not None and cands:
            lp = np.asarray(self.prior(obs, [*cands, *again]), dtype=np.float64)
            if lp.shape != (len(cands) + len(again),):
                raise ValueError(f"prior returned shape {lp.shape} for {len(cands) + len(again)} candidates")
            prior_part = cfg.prior_weight * lp[: len(cands)]
            score = score + prior_part
            if len(again):
                tries = np.array([node.edges[c.key].tries for c in again])
                again_score = cfg.prior_weight * lp[len(cands) :] - cfg.refollow_cost * np.log1p(tries)
        sal = np.array([c.salience if c.is_click else np.nan for c in cands])
        if np.isfinite(sal).any():
            sal = np.where(np.isnan(sal), np.nanmean(sal), sal)
            score = score + cfg.salience_weight * (sal - sal.mean())
        if cfg.temperature > 0:
            noise = cfg.temperature * self.rng.gumbel(size=len(cands) + len(again))
        else:
            noise = 1e-6 * self.rng.random(len(cands) + len(again))  # seeded tie-break
        noise, again_noise = noise[: len(cands)], noise[len(cands) :]
        return score + noise, p, X, (prior_part + noise, again_score + again_noise)

    # ------------------------------------------------------------------ learning from outcomes
    def add_sample(self, features: np.ndarray, changed: bool, new: bool, before: int, after: int | None) -> None:
        """One filed transition (frame ids before and after; None after a level-up) for both predictors."""
        self.predictor.add(features, changed)
        self.novelty.add(features, new)
        self._samples.append((before, -1 if after is None else after))

    def relabel(self) -> None:
        """States were re-keyed (the volatile mask grew): P(change)'s labels are recomputed."""
        self.predictor.relabel(self._label)

    def _label(self, tag: int) -> bool:
        before, after = self._samples[tag]
        return after < 0 or not self.store.same_state(before, after)

    def train(self) -> None:
        self.predictor.maybe_train()
        self.novelty.maybe_train()
