"""The learned prior: how the models at play score candidate actions, and how far the agent trusts them.

A candidate (type, loc)'s prior score, from what `ModelContexts` holds for the current frame:

    log π(type) + log π(cell | click) + level_weight · log P(level | action)

(with `wm_type_weight` · log P_wm(type | context) and, for clicks, `wm_cell_weight` · log P_wm(cell |
context, click) added: the world model's own guesses of the next action, from the full context, which
shows the actions taken so far.) P(level) is asked of the world model for the top-k candidates only.

Each distribution can be mixed with the uniform one (`mix_uniform`), by shares that `PriorEvidence`
learns online from how well each tells this game's productive actions from the others: a model trained
on other games can be confidently wrong about a new one, and the mixture bounds how far it can push an
action down.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from aria_cli.agents.contexts import ModelContexts
from aria_cli.vocab import CLICK

__all__ = ["PriorEvidence", "UniformShares", "mix_uniform", "prior_scores"]


class UniformShares(NamedTuple):
    """The share of the uniform distribution mixed into each of the prior's distributions."""

    type: float = 0.0  # the policy's action types
    wm_type: float = 0.0  # the world model's next action type
    cell: float = 0.0  # the policy's click cells
    wm_cell: float = 0.0  # the world model's click cells


class PriorEvidence:
    """Online weight of each of the prior's distributions against the uniform one, from how much more it
    liked the actions that turned out productive in this game (they changed the state or completed a
    level) than the others the agent took.

    Each distribution is an expert in a two-expert mixture with the uniform distribution. Its evidence
    is the sum, over the productive actions taken, of r(a) = log(p(a) / uniform(a)) less the mean r of all
    actions taken: n_p · n_u / n · (mean r of the productive − mean r of the unproductive), tempered by
    `rate` (one action in a game of thousands is weak evidence). p is the distribution at the most weight
    it can have (mixed with the uniform by 1 − `bound`), so that r ≥ log(1 − bound) and no single action
    it ruled out outweighs all the others. The log-odds move by each action's change of that sum and are
    clipped to `bound`, so the weight can come back when the game changes (a fixed-share mixture).

    The explorer chooses the actions: it leans towards what the prior likes, and where almost every move
    changes the frame its own sampled choices are "productive" whatever the prior said of them. Against
    the mean, only a distribution that tells productive actions from the rest earns or loses weight (where
    every move is productive, none moves). Trained on other games, the models can put P ≈ 0 on this
    game's key action: one productive use of it, among actions they liked that did nothing, takes most of
    their weight away, so the action is no longer ranked last in every state.
    """

    NAMES = UniformShares._fields

    def __init__(self, initial: float = 0.5, bound: float = 0.95, rate: float = 0.25):
        self.rate = rate
        self.floor = 1.0 - bound  # the least uniform share
        self.bound = float(np.log(bound / (1 - bound)))
        self.log_odds = dict.fromkeys(self.NAMES, float(np.log(initial / (1 - initial))))
        # Per distribution: the actions taken (n), the productive ones (n_p), sums of their r.
        self._sums = {n: np.zeros(4) for n in self.NAMES}  # n, n_p, sum r, sum r of the productive

    def weight(self, name: str) -> float:
        return float(1.0 / (1.0 + np.exp(-self.log_odds[name])))

    def shares(self) -> UniformShares:
        return UniformShares(*(1.0 - self.weight(n) for n in self.NAMES))

    def evidence(self, name: str) -> float:
        """Σ over productive actions of (r − mean r of all actions taken), untempered and unclipped."""
        n, n_p, total, total_p = self._sums[name]
        return float(total_p - n_p * total / n) if n else 0.0

    def observe(self, name: str, logp: float, n_choices: int, productive: bool) -> None:
        """An action taken, to which the distribution gave log-probability `logp` among `n_choices`."""
        if n_choices <= 1:
            return
        before = self.evidence(name)
        r = float(np.log((1.0 - self.floor) * n_choices * np.exp(logp) + self.floor))
        self._sums[name] += (1.0, float(productive), r, r if productive else 0.0)
        lo = self.log_odds[name] + self.rate * (self.evidence(name) - before)
        self.log_odds[name] = float(np.clip(lo, -self.bound, self.bound))


def mix_uniform(logp: np.ndarray, share: float) -> np.ndarray:
    """log((1 - share) · p + share · uniform) over the entries that are possible (finite)."""
    if not share:
        return logp
    ok = np.isfinite(logp)
    out = np.full_like(logp, -np.inf, dtype=np.float64)
    if ok.any():
        out[ok] = np.logaddexp(np.log1p(-share) + logp[ok], np.log(share / ok.sum()))
    return out


def prior_scores(ctx: ModelContexts, candidates: list[tuple[int, int]], level_weight: float, top_k: int,
                 wm_type_weight: float = 0.0, uniform: UniformShares = UniformShares(), level_floor: float = 0.0,
                 wm_cell_weight: float = 0.0) -> np.ndarray:
    """Prior log-score of (type, loc) candidates in the current frame of `ctx` (see the module doc).

    `uniform` blends each distribution with the uniform one (that share of its mass spread evenly) and
    `level_floor` is added to P(level) before the log: both bound how far the prior can push an action
    down, which matters when the models are confidently wrong (an action type that none of their
    training games used gets P ≈ 0, which says nothing about a new game)."""
    type_lp = mix_uniform(ctx.type_logp, uniform.type)
    if wm_type_weight:
        type_lp = type_lp + wm_type_weight * mix_uniform(ctx.wm_type_logp, uniform.wm_type)
    cell_lp = mix_uniform(ctx.cell_logp, uniform.cell)
    if wm_cell_weight and any(t == CLICK for t, _ in candidates):
        cell_lp = cell_lp + wm_cell_weight * mix_uniform(ctx.wm_cell_logp, uniform.wm_cell)
    lp = np.array([type_lp[t] + (cell_lp[loc] if t == CLICK else 0.0) for t, loc in candidates])
    if level_weight and len(candidates):
        order = np.argsort(-lp)[:top_k]
        order = order[np.isfinite(lp[order])]
        lv = np.full(len(candidates), np.nan)
        if len(order):
            lv[order] = ctx.level_logp([candidates[i] for i in order])
            if level_floor:
                lv[order] = np.log(np.exp(lv[order]) + level_floor)
            lv[np.isnan(lv)] = np.nanmin(lv[order])  # unchecked candidates: no better than the worst checked
            lp = lp + level_weight * lv
    return lp
