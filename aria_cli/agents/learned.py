"""The learned agents: the policy and world-model agents, and the factories that build them by name.

Both feed each frame and action through `ModelContexts` (aria_cli.agents.contexts) and rank candidate
actions by the learned prior (aria_cli.agents.prior):

- `PolicyAgent` ("policy", the prior alone, docs/DESIGN.md §10): score − tried_penalty · (tries of
  this action from this exact frame that left it unchanged; a memory keyed by frame hash, cleared on a
  new level), sampled with `temperature` over the top-k. Clicks go to the pixel of the cell the policy's
  click-point head names (the cell centre for heads without one).
- `WorldModelAgent` ("world-model"): the online explorer (aria_cli.explore) with this prior ranking
  its untried actions, and object-centred click candidates instead of cell centres. Each distribution of
  the prior is mixed with the uniform one by a weight learned online from how well it tells the actions
  that proved productive in this game from the others taken (PriorEvidence); P(level) is scaled by its
  trust in the world model here: the share of changed cells whose new code the world model predicted,
  read from the frames as they are fed (ModelContexts.change_accuracy), against `trusted_change_acc`.
  Where the unmixed prior puts at least `lead_p` on one action type or one click cell, it leads: the
  explorer takes that action before exploring (within its own limits: Explorer's step 4); a sure cell
  offers a click on every object in it, also one that only reaches into it from the next cell, those
  the policy's click-point head puts most of its mass on first. Options: it
  adapts its own in-memory copy of the world model to the game as it plays (`adapt_every`,
  aria_cli.agents.adapt), and blends the world model's P(frame changes) (`wm_change_k`) and P(new
  state) (`wm_novelty_k`) into the explorer's, each weighted by how well it has predicted this game so far.

Neither assumes anything about a game beyond its frames and available actions.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from aria_cli.agents.adapt import AdaptConfig, OnlineAdapter, OnlineCalibration, OnlinePlatt
from aria_cli.agents.base import Decision, ExploreAgent, GameStart
from aria_cli.agents.contexts import LearnedModels, ModelContexts
from aria_cli.agents.prior import PriorEvidence, prior_scores
from aria_cli.agents.win_tuning import WinTuneConfig, WinTuner
from aria_cli.explore import Candidate, ExploreConfig, Segmentation
from aria_cli.explore.objects import salience
from aria_cli.vocab import (
    CELL_PIXELS,
    CLICK,
    GRID,
    LOC_NULL,
    N_CELLS,
    N_POINTS,
    N_TYPES,
    RESET,
    cell_to_pixel,
    click_point,
    pixel_to_cell,
    point_pixel,
)

if TYPE_CHECKING:
    from aria_cli.games.adapter import Observation

__all__ = ["AgentConfig", "PolicyAgent", "WorldModelAgent", "frame_key", "learned_agent_factories"]


@dataclass(frozen=True)
class AgentConfig:
    temperature: float = 0.5  # sampling over candidate scores, both agents (0 = always the best)
    level_weight: float = 1.0  # weight of log P(LEVEL_COMPLETE | context, action)
    top_k: int = 8  # candidates the world model checks for P(level)
    tried_penalty: float = 3.0  # per earlier try of the same action from the same frame that changed nothing
    prior_weight: float = 1.0  # how much the explorer trusts the prior (world-model agent)
    # P(level) counts in full once the world model predicts this share of the cells that change in this
    # game right (about what it reaches on games it was trained on), and in proportion below, down to
    # `min_trust`: on a game unlike its training games its next-frame guesses are mostly wrong, and so
    # are its guesses of a level-up. Measured online from frames the agent sees anyway.
    trusted_change_acc: float = 0.25
    min_trust: float = 0.1
    # Weight of the world model's own next-type distribution, added to the policy's log π(type) by the
    # world-model agent: it reads the actions taken so far, which the policy is denied by design, and
    # guesses the next move better for it.
    wm_type_weight: float = 1.0
    # Weight of the world model's own click-cell distribution (its location pointer), added to the policy's
    # log π(cell) the same way; 0 turns it off. Below 1: at full weight the search leans on it too hard
    # on games with large boards.
    wm_cell_weight: float = 0.5
    # P(level) gets this added before the log, so that the world model's "no" (1e-3 or 1e-6 alike) cannot
    # outweigh everything else in the score.
    level_floor: float = 0.01
    # Each of the prior's distributions starts as an even mixture with the uniform one and earns or loses
    # weight, within [1 - bound, bound], by how well it tells the game's productive actions from the others
    # taken (PriorEvidence).
    evidence_initial: float = 0.5
    evidence_bound: float = 0.95
    evidence_rate: float = 0.25
    # Learning inside the game (aria_cli.agents.adapt): `adapt_steps` gradient steps on the game's recent
    # steps every `adapt_every` actions, in the background, on an in-memory copy (0 disables).
    adapt_every: int = 0
    adapt_steps: int = 2
    adapt_lr: float = 1e-3
    # P(change) of up to this many candidates (the online predictor's likeliest) also asked of the world
    # model, and the two blended by how well each has predicted this game's changes so far (0: off).
    wm_change_k: int = 0
    # P(new state) of up to this many candidates (the same order) from the world model: from its P(the
    # frame stays or becomes one of the `wm_recent` last distinct frames), teacher-forced in the same
    # batched call and recalibrated on the game, blended with the online novelty predictor's (an even guess
    # before that has trained) by how well each has predicted which actions led somewhere new (0: off).
    wm_novelty_k: int = 0
    wm_recent: int = 2
    # The prior leads (ExploreConfig.lead_tries) where it puts at least this probability on one action
    # type, or one click cell (policy and world-model guesses, unmixed, without P(level)); None: it never
    # leads. On games the models were trained on (their demos) that is most moves; on others, few.
    lead_p: float | None = 0.9
    # Learning from the levels it wins (aria_cli.agents.win_tuning): after each level completed, this many
    # gradient steps of the policy heads (an in-memory copy) on the fewest actions that won this game's
    # levels so far (0: off).
    win_tune_steps: int = 0
    win_tune_lr: float = 1e-3


def _begin_frame(ctx: ModelContexts, obs: Observation) -> tuple[int, ...]:
    """Feed the observed frame to the contexts; returns the available actions (only RESET after GAME_OVER)."""
    available = tuple(int(a) for a in obs.available_actions)
    ctx.begin_frame(obs.frame, available if obs.state != "GAME_OVER" else (RESET,))
    return available


def frame_key(frame: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(frame).tobytes(), digest_size=12).digest()


class PolicyAgent:
    """The learned prior alone (docs/DESIGN.md §10): policy + P(level), a penalty for actions already
    tried from this exact frame that left it unchanged, sampled with a temperature."""

    name = "policy"

    def __init__(self, models: LearnedModels, config: AgentConfig | None = None, seed: int = 0):
        self.models = models
        self.config = config or AgentConfig()
        self.seed = seed
        self.ctx = ModelContexts(models)
        self.reset()

    def reset(self, game_info: GameStart | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if game_info is None else game_info.seed)
        self.ctx.reset()
        self.tried: dict[bytes, dict[tuple[int, int], int]] = defaultdict(dict)
        self._last: tuple[bytes, int, int, int] | None = None  # frame key, type, loc, levels before

    def _candidates(self, available: tuple[int, ...]) -> list[tuple[int, int]]:
        cands = [(a, LOC_NULL) for a in available if 0 <= a < N_TYPES and a != CLICK]
        if CLICK in available:
            top_cells = np.argsort(-self.ctx.cell_logp)[: max(self.config.top_k, 16)]
            cands += [(CLICK, int(c)) for c in top_cells]
        return cands

    def act(self, obs: Observation) -> Decision:
        available = _begin_frame(self.ctx, obs)
        if obs.state == "GAME_OVER" or not available:
            return self._decide(obs, RESET, LOC_NULL, {"mode": "reset"})
        cands = self._candidates(available)
        score = prior_scores(self.ctx, cands, self.config.level_weight, self.config.top_k)
        key = frame_key(obs.frame)
        tried = self.tried[key]
        score = score - self.config.tried_penalty * np.array([tried.get(c, 0) for c in cands])
        if self.config.temperature > 0:
            z = score / self.config.temperature
            p = np.exp(z - np.logaddexp.reduce(z))
            i = int(self.rng.choice(len(cands), p=p / p.sum()))
        else:
            i = int(np.argmax(score))
        t, loc = cands[i]
        return self._decide(obs, t, loc, {"mode": "policy", "p": self.ctx.p_type(t)})

    def _decide(self, obs: Observation, t: int, loc: int, info: dict) -> Decision:
        self._last = (frame_key(obs.frame), t, loc, int(obs.levels_completed))
        info["p_type"] = self.ctx.p_type(t)
        if t == CLICK:
            point = self.ctx.point_logp(loc)
            x, y = cell_to_pixel(loc) if point is None else point_pixel(loc, int(np.argmax(point)))
            return Decision(t, x, y, info)
        return Decision(t, None, None, info)

    def observe(self, obs: Observation) -> None:
        if self._last is None:
            return
        key, t, loc, levels = self._last
        level_up = int(obs.levels_completed) > levels
        self.ctx.end_action(t, loc, level_up)
        if level_up:
            self.tried.clear()
        elif obs.frame is not None and frame_key(obs.frame) == key:
            self.tried[key][(t, loc)] = self.tried[key].get((t, loc), 0) + 1
        self._last = None


class WorldModelAgent(ExploreAgent):
    """The online explorer with the learned prior ranking its untried actions (see the module doc)."""

    name = "world-model"

    def __init__(self, models: LearnedModels, config: AgentConfig | None = None, seed: int = 0,
                 explore: ExploreConfig | None = None, adapt_hook: Callable[[], None] | None = None):
        self.config = c = config or AgentConfig()
        explore = explore or ExploreConfig(prior_weight=c.prior_weight, temperature=c.temperature)
        super().__init__(seed=seed, config=explore, prior=self._prior,
                         outcome_model=self._outcomes if c.wm_change_k or c.wm_novelty_k else None,
                         lead=self._lead if c.lead_p is not None else None)
        self.adapt = AdaptConfig(c.adapt_every, c.adapt_steps, c.adapt_lr, seed=seed)
        self.adapt_hook = adapt_hook
        self.source = models.wm
        if self.adapt.enabled:  # the agent plays with its own copy, which the adapted weights replace
            models = dataclasses.replace(models, wm=copy.deepcopy(models.wm).eval())
        tune = WinTuneConfig(c.win_tune_steps, c.win_tune_lr)
        if tune.enabled:  # ... and with its own heads, which the levels it wins tune
            models = dataclasses.replace(models, heads=copy.deepcopy(models.heads).eval())
        self.ctx = ModelContexts(models, recent=c.wm_recent)
        self.adapter: OnlineAdapter | None = None
        self.tuner = WinTuner(models, tune) if tune.enabled else None
        self.reset()

    def reset(self, game_info: GameStart | None = None) -> None:
        super().reset(game_info)
        if self.adapt.enabled:
            if self.adapter is not None:
                self.adapter.close()
            self.ctx.m.wm.load_state_dict(self.source.state_dict())
            self.adapter = OnlineAdapter(self.source, self.adapt, self.adapt_hook)
        if self.tuner is not None:
            self.tuner.reset(self.seed if game_info is None else game_info.seed)
        self._steps: deque[np.ndarray] = deque(maxlen=self.adapt.recent)
        self._since_round = 0  # actions since the last adaptation round started
        self.calibration = {"change": OnlineCalibration(), "new": OnlineCalibration()}
        # The world model scores frames per cell; whether "stays" means P(change) 0.1 or 0.9 in this game
        # is learned from its outcomes (P(change) falls as the score rises, P(new state) as "known" does).
        self.platt = {"change": OnlinePlatt(), "new": OnlinePlatt()}
        self._predicted: dict[str, dict] = {"change": {}, "new": {}}  # candidate -> (online, wm, score)
        self._judged: dict[str, tuple[float, float, float]] = {}  # what they said of the action just taken
        self.ctx.reset()
        self._last: tuple[int, int, int] | None = None
        self._chosen: list[tuple[str, float, int]] = []  # what each distribution gave the last action
        c = self.config
        self.evidence = PriorEvidence(c.evidence_initial, c.evidence_bound, c.evidence_rate)

    def trust(self) -> float:
        """How much P(level) counts in this game, from how well the world model foresees its frames."""
        c = self.config
        return float(np.clip(self.ctx.change_accuracy() / c.trusted_change_acc, c.min_trust, 1.0))

    @staticmethod
    def _pair(candidate) -> tuple[int, int]:
        """A candidate as the world model's (type, loc) tokens."""
        c = candidate
        return (CLICK, pixel_to_cell(c.x, c.y)) if c.is_click else (int(c.action), LOC_NULL)

    def _prior(self, obs: Observation, candidates) -> np.ndarray:
        pairs = [self._pair(c) for c in candidates]
        c = self.config
        return prior_scores(self.ctx, pairs, self.trust() * c.level_weight, c.top_k, c.wm_type_weight,
                            self.evidence.shares(), c.level_floor, c.wm_cell_weight)

    def _lead(self, obs: Observation, candidates: list[Candidate], seg: Segmentation | None) -> list[Candidate]:
        """The actions the prior is sure of (AgentConfig.lead_p): an action type, or the clicks in one cell
        (the candidates there, nearest its centre first, then the other objects of the cell, `_reaching_in`)."""
        c = self.config
        types = [t for t in np.flatnonzero(np.isfinite(self.ctx.type_logp)) if t != RESET]
        pairs = [(int(t), LOC_NULL) for t in types if t != CLICK]
        if CLICK in types:
            pairs += [(CLICK, cell) for cell in range(N_CELLS)]
        if len(pairs) < 2:
            return []
        lp = prior_scores(self.ctx, pairs, 0.0, c.top_k, c.wm_type_weight, wm_cell_weight=c.wm_cell_weight)
        p = np.exp(lp - np.logaddexp.reduce(lp))
        best = int(np.argmax(p))
        if p[best] < c.lead_p:
            return []
        sure = [x for x in candidates if self._pair(x) == pairs[best]]
        t, loc = pairs[best]
        if t != CLICK:
            return sure
        cx, cy = cell_to_pixel(loc)
        sure.sort(key=lambda x: abs(x.x - cx) + abs(x.y - cy))
        if seg is None or seg.labels is None:
            return sure
        point_logp = self.ctx.point_logp(loc)
        point_p = None if point_logp is None else np.exp(point_logp)
        xs, ys = point_pixel(loc, np.arange(N_POINTS))
        objects = seg.part_of[seg.labels[ys, xs]]  # the object under each pixel of the cell
        clicks = sure + self._reaching_in(seg, loc, objects, {(x.x, x.y) for x in sure}, point_p)
        if point_p is None:
            return clicks
        # The policy's click point: the objects holding most of its mass inside the cell first.
        mass = np.bincount(objects, weights=point_p, minlength=seg.n)
        return sorted(clicks, key=lambda x: -mass[seg.part_of[seg.labels[x.y, x.x]]])

    def _reaching_in(self, seg: Segmentation, loc: int, objects: np.ndarray, taken: set, point_p: np.ndarray | None
                     ) -> list[Candidate]:  # fmt: skip
        """A click on each object with pixels in the cell `loc` (`objects`: the one under each of its pixels,
        in click-point order) whose own click point is not in `taken`:
        a LOC token names a cell, and the object the demos clicked there may reach in from the next cell (a
        tile whose centre lies below). Each at its pixel in the cell the policy's click point likes best
        (`point_p`, 64 values), or without one nearest the cell's centre (the background too, so the centre
        itself is offered); object-like ones first; volatile pixels left out."""
        cx, cy = cell_to_pixel(loc)
        xs, ys = point_pixel(loc, np.arange(N_POINTS))
        rank = ((xs - cx) ** 2 + (ys - cy) ** 2) * 1e-6 - (0.0 if point_p is None else point_p)  # ties: nearest
        keep = ~self.explorer.store.mask.mask[ys, xs]
        sal = salience(seg)
        out = []
        for o in np.unique(objects[keep]):
            if (int(seg.click_x[o]), int(seg.click_y[o])) in taken:
                continue
            here = np.flatnonzero(keep & (objects == o))
            i = here[np.argmin(rank[here])]
            out.append(Candidate(action=CLICK, x=int(xs[i]), y=int(ys[i]), region=int(o), colour=int(seg.colour[o]),
                                 size=int(seg.size[o]), salience=float(sal[o])))  # fmt: skip
        return sorted(out, key=lambda x: -x.salience)

    def _outcomes(self, obs: Observation, candidates, p_change: np.ndarray, p_new: np.ndarray | None):
        """P(change) and P(new state) of the likeliest candidates blended with the world model's (the module
        doc); one batched call of the world model for both."""
        c = self.config
        order = np.argsort(-p_change, kind="stable")[: max(c.wm_change_k, c.wm_novelty_k)]
        pairs = [self._pair(candidates[i]) for i in order]
        novel = order[: c.wm_novelty_k]
        ignore = self.volatile_cells()
        recent = self.ctx.recent_frames(ignore) if len(novel) else []
        targets = [None] * len(pairs) + [r for _ in novel for r in recent]
        _, logp = self.ctx.outcome_logp(pairs + [pairs[j] for j in range(len(novel)) for _ in recent], targets, ignore)
        # Scored per counted cell: log P(the frame stays), and log P(it stays or returns to a recent frame).
        cells = max(1, int((~ignore).sum()))
        stay, back = logp[: len(pairs)], logp[len(pairs) :].reshape(len(novel), len(recent))
        p_change = self._blend("change", candidates, p_change, order[: c.wm_change_k], stay[: c.wm_change_k] / cells)
        if len(novel):
            online = np.full(len(candidates), 0.5) if p_new is None else p_new
            known = np.logaddexp.reduce(np.concatenate([stay[: len(novel), None], back], axis=1), axis=1)
            p_new = self._blend("new", candidates, online, novel, known / cells)
        return p_change, p_new

    def volatile_cells(self) -> np.ndarray:
        """The cells (64 bools) holding pixels the explorer ignores when it compares states (a timer, a
        step counter): the world model's outcomes are judged on the other cells, as the explorer's are."""
        mask = self.explorer.store.mask.mask
        return mask.reshape(GRID, CELL_PIXELS, GRID, CELL_PIXELS).any(axis=(1, 3)).ravel()

    def _blend(self, outcome: str, candidates, p_online: np.ndarray, which: np.ndarray, score: np.ndarray):
        """The world model's P(outcome) of the candidates `which`, from its score recalibrated on this game
        (OnlinePlatt), mixed with the online predictions by how well each has done here; the predictions
        and the score are kept, to be judged when one of those candidates is taken."""
        p_wm = np.clip(self.platt[outcome].predict(score), 0.01, 0.99)
        p = np.array(p_online, dtype=np.float64)
        p[which] = self.calibration[outcome].blend(p[which], p_wm)
        self._predicted[outcome] = {candidates[i].key: (float(p_online[i]), float(q), float(x))
                                    for i, q, x in zip(which, p_wm, score, strict=True)}  # fmt: skip
        return p

    def _adapted(self) -> None:
        """Take the weights of a finished adaptation round, and start the next round when one is due."""
        if self.adapter is None:
            return
        weights = self.adapter.poll()
        if weights is not None:
            with torch.no_grad():
                params = dict(self.ctx.m.wm.named_parameters())
                for name, w in weights.items():
                    params[name].copy_(w)
            self.ctx.refresh()

    def act(self, obs: Observation) -> Decision:
        self._adapted()
        _begin_frame(self.ctx, obs)
        self._predicted = {"change": {}, "new": {}}
        d = super().act(obs)
        pending = self.explorer._pending
        self._judged = {}
        if pending is not None and pending.cand is not None:
            self._judged = {k: pred[pending.cand.key] for k, pred in self._predicted.items() if pending.cand.key in pred}
        loc = pixel_to_cell(d.x, d.y) if d.action == CLICK else LOC_NULL
        self._last = (d.action, loc, int(obs.levels_completed))
        t = d.action
        self._chosen = []
        if t != RESET:
            n_types = int(np.isfinite(self.ctx.type_logp).sum())
            self._chosen = [("type", self.ctx.type_logp[t], n_types), ("wm_type", self.ctx.wm_type_logp[t], n_types)]
            if t == CLICK:
                self._chosen.append(("cell", self.ctx.cell_logp[loc], N_CELLS))
                if self.config.wm_cell_weight:
                    self._chosen.append(("wm_cell", self.ctx.wm_cell_logp[loc], N_CELLS))
        d.info["p_type"] = self.ctx.p_type(t)
        d.info["trust"] = self.trust()
        return d

    def observe(self, obs: Observation) -> None:
        super().observe(obs)
        if self.explorer.last_changed is not None:
            for name, logp, n in self._chosen:
                self.evidence.observe(name, float(logp), n, self.explorer.last_changed)
        self._chosen = []
        outcomes = {"change": self.explorer.last_changed, "new": self.explorer.last_new}
        for k, (p_online, p_wm, score) in self._judged.items():
            if outcomes[k] is not None:
                self.calibration[k].observe(p_online, p_wm, outcomes[k])
                self.platt[k].observe(score, outcomes[k])
        self._judged = {}
        if self._last is not None:
            t, loc, levels = self._last
            level_up = int(obs.levels_completed) > levels
            self.ctx.end_action(t, loc, level_up)
            self._last = None
            if self.tuner is not None and level_up and obs.state != "WIN":
                self._learn_win(levels, tuple(int(a) for a in obs.available_actions))
            if self.adapter is not None:
                self._steps.append(self.ctx.last_step())
                self._since_round += 1
                if self._since_round >= self.adapt.every and self.adapter.submit(list(self._steps)):
                    self._since_round = 0

    def _learn_win(self, level: int, available: tuple[int, ...]) -> None:
        """Tune the heads on how this level was won (aria_cli.agents.win_tuning)."""
        path = self.explorer.winning_path(level)
        if path:
            actions = [(*self._pair(c), click_point(c.x, c.y) if c.is_click else -1) for _, c in path]
            self.tuner.learn(np.stack([f for f, _ in path]), actions, available)


def learned_agent_factories(checkpoints: Path, device: str = "cpu", config: AgentConfig | None = None,
                            force: bool = False):
    """{"world-model": seed -> agent, "policy": seed -> agent}, loading the models once (`force`: see
    LearnedModels.load)."""
    models_holder: dict[str, LearnedModels] = {}

    def models() -> LearnedModels:
        if "m" not in models_holder:
            models_holder["m"] = LearnedModels.load(checkpoints, device, force=force)
        return models_holder["m"]

    return {
        "world-model": lambda seed: WorldModelAgent(models(), config, seed),
        "policy": lambda seed: PolicyAgent(models(), config, seed),
    }
