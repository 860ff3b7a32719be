"""The learned agent: world model + policy heads as a prior, inside the online explorer.

Two token contexts of the game so far, each with a KV cache that grows by one step (69 tokens) per
action and slides when full (re-prefill of the most recent steps):

  world-model context   [FRAME] codes [ACT] <TYPE> <LOC> [LEVEL_COMPLETE]? ...
  policy context        [FRAME] codes  MASK   MASK   MASK [LEVEL_COMPLETE]? ...  (actions never visible)

Each step: the frame is encoded by the tokenizer and fed to both contexts up to the action slot. The
policy heads read the masked context (type distribution restricted to the available actions, cell
distribution for clicks); for the top-k candidates the world model gives P(LEVEL_COMPLETE | context,
action) in one batched call. A candidate's prior score is

    log π(type) + log π(cell | click) + level_weight · log P(level | action)

(the world-model agent adds wm_type_weight · log P_wm(type | context) and, for clicks,
wm_cell_weight · log P_wm(cell | context, click): the world model's own guesses of the next action,
from the full context, which shows the actions taken so far.)

Two agents use it:

- `PolicyAgent` ("policy", the prior alone, docs/DESIGN.md §10): score − tried_penalty · (tries of
  this action from this exact frame that left it unchanged; a memory keyed by frame hash, cleared on a
  new level), sampled with `temperature` over the top-k. Clicks go to the cell centre.
- `WorldModelAgent` ("world-model"): the online explorer (aria_cli.explore) with this prior ranking
  its untried actions, and object-centred click candidates instead of cell centres. Each distribution of
  the prior is mixed with the uniform one by a weight learned online from the actions that proved
  productive in this game (PriorEvidence); P(level) is scaled by its trust in the world model here: the
  share of changed cells whose new code the world model predicted, read from the frames as they are fed
  (ModelContexts.change_accuracy), against `trusted_change_acc`.

Neither assumes anything about a game beyond its frames and available actions.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from aria_cli.agents.base import Decision, ExploreAgent, GameInfo
from aria_cli.common.devices import torch_threads
from aria_cli.common.errors import CheckpointError
from aria_cli.explore import ExploreConfig, Observation
from aria_cli.policy.heads import restrict_types
from aria_cli.vocab import (
    CLICK,
    LOC_NULL,
    N_CELLS,
    N_CODES,
    N_LOCS,
    N_TYPES,
    Vocab,
    cell_to_pixel,
    pixel_to_cell,
)

V0 = Vocab(0)
RESET = 0


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
    # Weight of the world model's own next-type distribution (it reads the actions taken so far, which the
    # policy is denied by design): on quickstart's val split it gets 58% of qmaz's moves right, the
    # policy 28%. The world-model agent adds it to the policy's log π(type).
    wm_type_weight: float = 1.0
    # Weight of the world model's own click-cell distribution (its location pointer), added to the policy's
    # log π(cell) the same way; 0 turns it off.
    # Levels of qtgl + qmix in 1,000 actions, seeds 0-4, one quickstart's checkpoints: 24 without it, 25 at
    # 0.25, 27 at 0.5, 20 at 1.0 (qmix's first level then takes 7-15 actions instead of 260-350, but at
    # 1.0 the search leans on it too hard for qtgl's larger boards).
    wm_cell_weight: float = 0.5
    # P(level) gets this added before the log, so that the world model's "no" (1e-3 or 1e-6 alike) cannot
    # outweigh everything else in the score.
    level_floor: float = 0.01
    # Each of the prior's distributions starts as an even mixture with the uniform one and earns or loses
    # weight, within [1 - bound, bound], by how well it predicts the game's productive actions (PriorEvidence).
    evidence_initial: float = 0.5
    evidence_bound: float = 0.95
    evidence_rate: float = 0.25


@dataclass
class LearnedModels:
    """Everything trained: tokenizer, world model, policy heads (all in eval mode, no gradients)."""

    tokenizer: Any
    wm: Any
    heads: Any
    device: str

    threads: int | None = 1  # torch's CPU threads while an agent uses the models (None: leave them alone)

    @classmethod
    def load(cls, checkpoints: Path, device: str = "cpu", threads: int | None = 1) -> LearnedModels:
        """Load the three models. `threads`: torch's CPU threads while the agents run them (set around each
        ModelContexts call and restored after, so loading changes nothing process-wide); the agent feeds a
        few tokens at a time, which one thread does fastest (see devices.torch_threads)."""
        from aria_cli.policy.heads import PolicyHeads
        from aria_cli.policy.train import policy_dir, world_model_folder
        from aria_cli.tokenizer import model as vqvae
        from aria_cli.world_model.model import WorldModel

        checkpoints = Path(checkpoints)
        if not vqvae.tokenizer_exists(checkpoints):
            raise CheckpointError(f"no frame tokenizer under {checkpoints / 'vqvae'}: run `aria train-vqvae` first "
                                  "(or `make quickstart` for the whole pipeline)")
        tokenizer = vqvae.load_tokenizer(checkpoints, device=device)
        wm = WorldModel.load(world_model_folder(checkpoints), device=device)
        heads = PolicyHeads.load(policy_dir(checkpoints), device=device)
        return cls(tokenizer, wm, heads, device, threads if device == "cpu" else None)

    def threads_for_play(self):
        """Context manager: torch on `threads` CPU threads inside the block."""
        return torch_threads(self.threads) if self.threads else nullcontext()


def _on_play_threads(method):
    """A ModelContexts method that runs the models: on the models' play threads, restored after."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self.m.threads_for_play():
            return method(self, *args, **kwargs)

    return run


class TokenContext:
    """Growing token contexts of equal length (batch rows) with one KV cache. Steps are kept as token
    arrays so the contexts can slide: once `max_steps` steps are committed they are re-prefilled from
    the most recent `keep`, so they never grow past the windows the world model was trained on.

    Tokens can also be `defer`red: they are part of the context from then on, but go through the model
    with the next `feed` (or the next re-prefill), which saves a model call when nothing reads the
    logits after them — the agent's action tokens, whose outcome nobody asks for before the next frame."""

    def __init__(self, wm, max_steps: int, keep: int, rows: int = 1):
        self.wm = wm
        self.max_steps = max_steps
        self.keep = keep
        self.rows = rows
        self.reset()

    def reset(self) -> None:
        self.steps: list[np.ndarray] = []  # committed steps, (rows, tokens of the step)
        self.pending: list[np.ndarray] = []  # token blocks of the step in progress
        self._unfed = np.full((self.rows, 1), V0.game_start, dtype=np.int64)  # in the context, not yet in the cache
        self.pending.append(self._unfed)
        self.state = None

    def tokens(self, row: int = 0) -> np.ndarray:
        """Every token of one row in the cache, in order (what a full forward pass would read)."""
        blocks = [*self.steps, *self.pending]
        return np.concatenate([b[row] for b in blocks]) if blocks else np.zeros(0, dtype=np.int64)

    def feed(self, tokens) -> torch.Tensor:
        """Append tokens, one equal-length list per row; returns the final-layer hidden states
        (rows, len(tokens), hidden) of the new positions."""
        block = np.asarray(tokens, dtype=np.int64).reshape(self.rows, -1)
        n = block.shape[1]
        self.pending.append(block)
        if self._unfed is not None:
            block, self._unfed = np.concatenate([self._unfed, block], axis=1), None
        ids = torch.as_tensor(block, device=self.wm.device)
        if self.state is None:
            hidden, self.state = self.wm.prefill_hidden(ids)
        else:
            hidden, self.state = self.wm.extend_hidden(self.state, ids)
        return hidden[:, hidden.shape[1] - n :]

    def defer(self, tokens) -> None:
        """Append tokens (one equal-length list per row) that go through the model with the next feed."""
        block = np.asarray(tokens, dtype=np.int64).reshape(self.rows, -1)
        self.pending.append(block)
        self._unfed = block if self._unfed is None else np.concatenate([self._unfed, block], axis=1)

    def retract(self, hidden_before: torch.Tensor) -> None:
        """Take the last fed token back out of every row (it was a look-ahead): the cache is cropped, and
        the next-token logits become those after the token before it, whose hidden states (rows, hidden)
        the caller passes (the feed returned them)."""
        self.pending[-1] = self.pending[-1][:, :-1]
        st = self.state
        st.cache.crop(-1)
        self.state = dataclasses.replace(st, length=st.length - 1, logits=self.wm.head(hidden_before))

    def commit_step(self) -> None:
        """The pending tokens form a whole step."""
        self.steps.append(np.concatenate(self.pending, axis=1))
        self.pending = []
        if len(self.steps) >= self.max_steps:
            self.steps = self.steps[-self.keep :]
            ids = torch.as_tensor(np.concatenate(self.steps, axis=1), device=self.wm.device)
            _, self.state = self.wm.prefill_hidden(ids)
            self._unfed = None  # deferred tokens were part of the steps just re-prefilled


FULL, MASKED = 0, 1  # the two rows of ModelContexts.context


def _type_logp(type_logits: torch.Tensor, available: tuple[int, ...]) -> np.ndarray:
    """Log-probabilities over the N_TYPES action types, restricted to the available ones (-inf elsewhere)."""
    valid = [a for a in available if 0 <= a < N_TYPES]
    t = restrict_types(type_logits.double(), valid).cpu().numpy()
    return t - np.logaddexp.reduce(t[np.isfinite(t)]) if np.isfinite(t).any() else t


class UniformShares(NamedTuple):
    """The share of the uniform distribution mixed into each of the prior's distributions."""

    type: float = 0.0  # the policy's action types
    wm_type: float = 0.0  # the world model's next action type
    cell: float = 0.0  # the policy's click cells
    wm_cell: float = 0.0  # the world model's click cells


class PriorEvidence:
    """Online Bayesian weight of each of the prior's distributions against the uniform one, from the
    actions that turned out productive in this game (they changed the state or completed a level).

    Each distribution is an expert in a two-expert mixture with the uniform distribution; after each
    productive action a, the odds that the learned one is right are multiplied by p(a) / uniform(a) (the
    posterior of the mixture), tempered by `rate` (a power posterior: one action in a game of thousands
    is weak evidence, and the explorer's own choices are not a random sample). The odds are clipped to
    `bound`, so the weight can come back when the game changes (a fixed-share mixture).

    Trained on other games, the models can put P ≈ 0 on what is this game's key action (held-out qmix:
    the world model's 1e-5 on ACTION5, the colour key): one productive ACTION5 moves its weight from 1/2
    to 0.06, and the action is no longer ranked last in every state for hundreds of actions. The
    explorer's own choices lean towards what the prior likes; counting only productive actions keeps
    that from confirming a prior whose favourites do nothing.
    """

    NAMES = UniformShares._fields

    def __init__(self, initial: float = 0.5, bound: float = 0.95, rate: float = 0.25):
        self.rate = rate
        self.bound = float(np.log(bound / (1 - bound)))
        self.log_odds = dict.fromkeys(self.NAMES, float(np.log(initial / (1 - initial))))

    def weight(self, name: str) -> float:
        return float(1.0 / (1.0 + np.exp(-self.log_odds[name])))

    def shares(self) -> UniformShares:
        return UniformShares(*(1.0 - self.weight(n) for n in self.NAMES))

    def observe(self, name: str, logp: float, n_choices: int) -> None:
        """A productive action to which the distribution gave log-probability `logp`, among `n_choices`."""
        if n_choices > 1 and np.isfinite(logp):
            lo = self.log_odds[name] + self.rate * (logp + np.log(n_choices))
            self.log_odds[name] = float(np.clip(lo, -self.bound, self.bound))
        elif n_choices > 1:
            self.log_odds[name] = -self.bound


def _mix_uniform(logp: np.ndarray, share: float) -> np.ndarray:
    """log((1 - share) · p + share · uniform) over the entries that are possible (finite)."""
    if not share:
        return logp
    ok = np.isfinite(logp)
    out = np.full_like(logp, -np.inf, dtype=np.float64)
    if ok.any():
        out[ok] = np.logaddexp(np.log1p(-share) + logp[ok], np.log(share / ok.sum()))
    return out


class ModelContexts:
    """The world-model and policy contexts of one game: two rows of one batched KV cache (they always
    have the same length), so each step costs one model call instead of two."""

    def __init__(self, models: LearnedModels):
        self.m = models
        ctx = models.wm.config.context_steps
        # Training windows hold `ctx` steps: at most ctx - 1 committed ones plus the step being decided.
        # Re-prefilling a quarter of the window every (ctx - keep) actions costs a third of a step per action
        # (keeping half costs a whole step), and leaves at least `keep` steps of history.
        self.context = TokenContext(models.wm, max_steps=ctx, keep=max(1, ctx // 4), rows=2)
        self.type_logp = np.zeros(N_TYPES)
        self.wm_type_logp = np.zeros(N_TYPES)
        self.cell_logp = np.zeros(N_CELLS)
        self.wm_cell_logp = np.zeros(N_CELLS)  # the world model's, in frames that offer clicks
        self.reset()

    def reset(self) -> None:
        self.context.reset()
        self._codes: np.ndarray | None = None  # the previous frame's codes, while it is in the context
        self._policy_states: tuple = (None, None)  # the previous step's (summary, cells) for the heads
        self.changed_cells = 0  # cells whose code changed from one frame to the next, this game
        self.changed_right = 0  # ... of which the world model predicted the new code

    def change_accuracy(self, prior: tuple[float, float] = (1.0, 3.0)) -> float:
        """Share of changed cells the world model predicted right in this game (Beta-smoothed: 1/4, what
        it reaches on its training games, before any evidence; a game has about five changed cells per
        action, so the evidence outweighs this within a few dozen actions)."""
        return (self.changed_right + prior[0]) / (self.changed_cells + sum(prior))

    @_on_play_threads
    @torch.no_grad()
    def begin_frame(self, frame: np.ndarray, available: tuple[int, ...]) -> None:
        """Encode the frame, feed both contexts up to the action slot, and read the policy."""
        codes = self.m.tokenizer.encode(frame[None])[0]
        block = [V0.frame, *(V0.code0 + codes).tolist()]
        had_previous = self._codes is not None
        # Where clicks are possible, one look-ahead CLICK type token rides along in the same call: the
        # world model's click-cell guess is the logits after it (its location pointer), and the token is
        # then taken back out. A separate call on a branch of the context costs ~2.8 ms, this ~0.2.
        look = CLICK in available
        hidden = self.context.feed([[*block, V0.act, *[V0.type0 + CLICK] * look], [*block, V0.mask, *[V0.mask] * look]])
        if look:
            cells = self.context.state.logits[FULL, V0.loc0 : V0.loc0 + N_CELLS].float().cpu().numpy()
            self.wm_cell_logp = cells - np.logaddexp.reduce(cells)
            self.context.retract(hidden[:, -2])
            hidden = hidden[:, :-1]
        if had_previous:  # how well did the world model foresee this frame? (FRAME, codes 0-62 predict codes 0-63)
            changed = codes != self._codes
            if changed.any():
                code_logits = self.m.wm.head(hidden[FULL, :N_CELLS][changed])[:, V0.code0 : V0.code0 + N_CODES]
                self.changed_cells += int(changed.sum())
                self.changed_right += int((code_logits.argmax(-1).cpu().numpy() == codes[changed]).sum())
        self._codes = codes
        hidden = hidden[MASKED]  # (66, hidden): FRAME, 64 codes, then the masked [ACT] slot
        states = (hidden[-1:], hidden[None, 1 : 1 + N_CELLS])
        type_logits, loc_logits = self.m.heads(*states, *self._policy_states)
        self._policy_states = states
        self.type_logp = _type_logp(type_logits[0], available)
        self.wm_type_logp = _type_logp(self.context.state.logits[FULL, V0.type0 : V0.type0 + N_TYPES], available)
        cells = loc_logits[0, :N_CELLS].float().cpu().numpy()  # a click always has a cell
        self.cell_logp = cells - np.logaddexp.reduce(cells)

    def p_type(self, action: int) -> float:
        """The policy's probability of this action type in the current frame (0 if not available)."""
        return float(np.exp(self.type_logp[action])) if np.isfinite(self.type_logp[action]) else 0.0

    @_on_play_threads
    @torch.no_grad()
    def level_logp(self, actions: list[tuple[int, int]]) -> np.ndarray:
        """log P(LEVEL_COMPLETE | context, action) for each (type, loc), in one batched call."""
        if not actions:
            return np.zeros(0)
        rows = torch.full((len(actions),), FULL, dtype=torch.long, device=self.m.wm.device)
        branch = self.context.state.select(rows)
        toks = torch.tensor([[V0.type0 + t, V0.loc0 + loc] for t, loc in actions], device=self.m.wm.device)
        logits, _ = self.m.wm.extend(branch, toks)
        last = torch.log_softmax(logits[:, -1].float(), dim=-1)
        # After ACT_LOC the layout allows LEVEL_COMPLETE or the next FRAME: renormalise over the two.
        two = torch.stack([last[:, V0.level_complete], last[:, V0.frame]], dim=-1)
        return (two[:, 0] - torch.logsumexp(two, dim=-1)).cpu().numpy()

    @_on_play_threads
    def end_action(self, action: int, loc: int, level_up: bool) -> None:
        """The action was taken and its outcome is known: finish the step in both contexts. Nothing reads
        the logits after the action, so its tokens go through the model with the next frame's."""
        lvl = [V0.level_complete] if level_up else []
        self.context.defer([[V0.type0 + action, V0.loc0 + loc, *lvl], [V0.mask, V0.mask, *lvl]])
        self.context.commit_step()

    def prior(self, candidates: list[tuple[int, int]], level_weight: float, top_k: int,
              wm_type_weight: float = 0.0, uniform: UniformShares = UniformShares(), level_floor: float = 0.0,
              wm_cell_weight: float = 0.0) -> np.ndarray:
        """Prior log-score of (type, loc) candidates: policy log-prob (+ wm_type_weight · the world model's
        log P(type | context), + wm_cell_weight · its log P(cell | context, click) for clicks)
        + level_weight · log P(level) on the top-k.

        `uniform` blends each distribution with the uniform one (that share of its mass spread evenly) and
        `level_floor` is added to P(level) before the log: both bound how far the prior can push an action
        down, which matters when the models are confidently wrong (an action type that none of their
        training games used gets P ≈ 0, which says nothing about a new game)."""
        type_lp = _mix_uniform(self.type_logp, uniform.type)
        if wm_type_weight:
            type_lp = type_lp + wm_type_weight * _mix_uniform(self.wm_type_logp, uniform.wm_type)
        cell_lp = _mix_uniform(self.cell_logp, uniform.cell)
        if wm_cell_weight and any(t == CLICK for t, _ in candidates):
            cell_lp = cell_lp + wm_cell_weight * _mix_uniform(self.wm_cell_logp, uniform.wm_cell)
        lp = np.array([type_lp[t] + (cell_lp[loc] if t == CLICK else 0.0) for t, loc in candidates])
        if level_weight and len(candidates):
            order = np.argsort(-lp)[:top_k]
            order = order[np.isfinite(lp[order])]
            lv = np.full(len(candidates), np.nan)
            if len(order):
                lv[order] = self.level_logp([candidates[i] for i in order])
                if level_floor:
                    lv[order] = np.log(np.exp(lv[order]) + level_floor)
                lv[np.isnan(lv)] = np.nanmin(lv[order])  # unchecked candidates: no better than the worst checked
                lp = lp + level_weight * lv
        return lp


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

    def reset(self, game_info: GameInfo | None = None) -> None:
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
        available = tuple(int(a) for a in obs.available_actions)
        self.ctx.begin_frame(obs.frame, available if obs.state != "GAME_OVER" else (RESET,))
        if obs.state == "GAME_OVER" or not available:
            return self._decide(obs, RESET, LOC_NULL, {"mode": "reset"})
        cands = self._candidates(available)
        score = self.ctx.prior(cands, self.config.level_weight, self.config.top_k)
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
            x, y = cell_to_pixel(loc)
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
                 explore: ExploreConfig | None = None):
        self.config = config or AgentConfig()
        explore = explore or ExploreConfig(prior_weight=self.config.prior_weight, temperature=self.config.temperature)
        super().__init__(seed=seed, config=explore, prior=self._prior)
        self.ctx = ModelContexts(models)
        self.reset()

    def reset(self, game_info: GameInfo | None = None) -> None:
        super().reset(game_info)
        self.ctx.reset()
        self._last: tuple[int, int, int] | None = None
        self._chosen: list[tuple[str, float, int]] = []  # what each distribution gave the last action
        c = self.config
        self.evidence = PriorEvidence(c.evidence_initial, c.evidence_bound, c.evidence_rate)

    def trust(self) -> float:
        """How much P(level) counts in this game, from how well the world model foresees its frames."""
        c = self.config
        return float(np.clip(self.ctx.change_accuracy() / c.trusted_change_acc, c.min_trust, 1.0))

    def _prior(self, obs: Observation, candidates) -> np.ndarray:
        pairs = [(CLICK, pixel_to_cell(c.x, c.y)) if c.is_click else (int(c.action), LOC_NULL) for c in candidates]
        c = self.config
        return self.ctx.prior(pairs, self.trust() * c.level_weight, c.top_k, c.wm_type_weight,
                              self.evidence.shares(), c.level_floor, c.wm_cell_weight)

    def act(self, obs: Observation) -> Decision:
        available = tuple(int(a) for a in obs.available_actions)
        self.ctx.begin_frame(obs.frame, available if obs.state != "GAME_OVER" else (RESET,))
        d = super().act(obs)
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
        if self.explorer.last_changed:
            for name, logp, n in self._chosen:
                self.evidence.observe(name, float(logp), n)
        self._chosen = []
        if self._last is not None:
            t, loc, levels = self._last
            self.ctx.end_action(t, loc, int(obs.levels_completed) > levels)
            self._last = None


def learned_agent_factories(checkpoints: Path, device: str = "cpu", config: AgentConfig | None = None):
    """{"world-model": seed -> agent, "policy": seed -> agent}, loading the models once."""
    models_holder: dict[str, LearnedModels] = {}

    def models() -> LearnedModels:
        if "m" not in models_holder:
            models_holder["m"] = LearnedModels.load(checkpoints, device)
        return models_holder["m"]

    return {
        "world-model": lambda seed: WorldModelAgent(models(), config, seed),
        "policy": lambda seed: PolicyAgent(models(), config, seed),
    }


__all__ = ["AgentConfig", "LearnedModels", "ModelContexts", "PolicyAgent", "TokenContext", "WorldModelAgent",
           "learned_agent_factories", "N_LOCS"]
