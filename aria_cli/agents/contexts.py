"""The learned models at play: loaded once, fed one game's frames and actions through KV-cached contexts.

Two token contexts of the game so far, each with a KV cache that grows by one step (69 tokens) per
action and slides when full (re-prefill of the most recent steps):

  world-model context   [FRAME] codes [ACT] <TYPE> <LOC> [LEVEL_COMPLETE]? ...
  policy context        [FRAME] codes  MASK   MASK   MASK [LEVEL_COMPLETE]? ...  (actions never visible)

They are the two rows of one batched cache (`ModelContexts`), so each step costs one model call. Each
frame is encoded by the tokenizer and fed to both rows up to the action slot; `ModelContexts` then holds
what the prior (`aria_cli.agents.prior`) reads: the policy heads' type and cell distributions (from the
masked row), the world model's own guesses of the next type and click cell (from the full row), and
P(LEVEL_COMPLETE | context, action) for any candidates, in one batched call.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aria_cli.common.devices import torch_threads
from aria_cli.common.errors import CheckpointError
from aria_cli.policy.heads import cell_logits, restrict_types
from aria_cli.vocab import CLICK, N_CELLS, N_TYPES

FULL, MASKED = 0, 1  # the two rows of ModelContexts.context

__all__ = ["FULL", "MASKED", "LearnedModels", "ModelContexts", "TokenContext"]


@dataclass
class LearnedModels:
    """Everything trained: tokenizer, world model, policy heads (all in eval mode, no gradients)."""

    tokenizer: Any
    wm: Any
    heads: Any
    device: str

    threads: int | None = 1  # torch's CPU threads while an agent uses the models (None: leave them alone)

    @classmethod
    def load(cls, checkpoints: Path, device: str = "cpu", threads: int | None = 1, force: bool = False) -> LearnedModels:
        """Load the three models. `threads`: torch's CPU threads while the agents run them (set around each
        ModelContexts call and restored after, so loading changes nothing process-wide); the agent feeds a
        few tokens at a time, which one thread does fastest (see devices.torch_threads). A stale stack is
        refused, or with `force` loaded with a warning (aria_cli.stack)."""
        from aria_cli.policy.features import world_model_folder
        from aria_cli.policy.heads import PolicyHeads
        from aria_cli.stack import check_stack
        from aria_cli.tokenizer import model as vqvae
        from aria_cli.training.checkpoints import policy_dir, tokenizer_dir
        from aria_cli.world_model.model import WorldModel

        checkpoints = Path(checkpoints)
        if not vqvae.tokenizer_exists(checkpoints):
            raise CheckpointError(f"no frame tokenizer under {tokenizer_dir(checkpoints)}: run `aria train-vqvae` first "
                                  "(or `make quickstart` for the whole pipeline)")
        check_stack(checkpoints, force=force)
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
        self._unfed = np.full((self.rows, 1), self.wm.v0.game_start, dtype=np.int64)  # in the context, not yet in the cache
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

    def refresh(self) -> None:
        """Re-run the committed steps through the model (its weights changed): the cache is rebuilt, and
        deferred tokens go through with them."""
        if self.pending or not self.steps:
            return
        ids = torch.as_tensor(np.concatenate(self.steps, axis=1), device=self.wm.device)
        _, self.state = self.wm.prefill_hidden(ids)
        self._unfed = None

    def commit_step(self) -> None:
        """The pending tokens form a whole step."""
        self.steps.append(np.concatenate(self.pending, axis=1))
        self.pending = []
        if len(self.steps) >= self.max_steps:
            self.steps = self.steps[-self.keep :]
            ids = torch.as_tensor(np.concatenate(self.steps, axis=1), device=self.wm.device)
            _, self.state = self.wm.prefill_hidden(ids)
            self._unfed = None  # deferred tokens were part of the steps just re-prefilled


def _log_softmax(logits: torch.Tensor) -> np.ndarray:
    x = logits.float().cpu().numpy()
    return x - np.logaddexp.reduce(x)


def _type_logp(type_logits: torch.Tensor, available: tuple[int, ...]) -> np.ndarray:
    """Log-probabilities over the N_TYPES action types, restricted to the available ones (-inf elsewhere)."""
    valid = [a for a in available if 0 <= a < N_TYPES]
    t = restrict_types(type_logits.double(), valid).cpu().numpy()
    return t - np.logaddexp.reduce(t[np.isfinite(t)]) if np.isfinite(t).any() else t


class ModelContexts:
    """The world-model and policy contexts of one game: two rows of one batched KV cache (they always
    have the same length), so each step costs one model call instead of two."""

    def __init__(self, models: LearnedModels, recent: int = 2):
        self.m = models
        self.recent = recent
        self.v = models.wm.v0  # the token layout the world model reads (base 0)
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
        self._recent: deque[np.ndarray] = deque(maxlen=4 * self.recent)  # recent_frames()
        self._policy_states: tuple = (None, None)  # the previous step's (summary, cells) for the heads
        self._head_inputs: tuple = ()  # what the heads read in the current frame
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
        block = [self.v.frame, *(self.v.code0 + codes).tolist()]
        # Where clicks are possible, one look-ahead CLICK type token rides along in the same call: the
        # world model's click-cell guess is the logits after it (its location pointer), and the token is
        # then taken back out, at a fraction of the cost of a separate call on a branch of the context.
        look = CLICK in available
        hidden = self.context.feed([[*block, self.v.act, *[self.v.type0 + CLICK] * look], [*block, self.v.mask, *[self.v.mask] * look]])
        if look:
            self.wm_cell_logp = _log_softmax(self.context.state.logits[FULL, self.v.loc0 : self.v.loc0 + N_CELLS])
            self.context.retract(hidden[:, -2])
            hidden = hidden[:, :-1]
        previous, self._codes = self._codes, codes
        if previous is not None:
            self._remember(previous, codes)
            self._score_foresight(previous, codes, hidden[FULL])
        hidden = hidden[MASKED]  # (66, hidden): FRAME, 64 codes, then the masked [ACT] slot
        states = (hidden[-1:], hidden[None, 1 : 1 + N_CELLS])
        self._head_inputs = (*states, *self._policy_states)
        type_logits, loc_logits = self.m.heads(*self._head_inputs)
        self._policy_states = states
        self.type_logp = _type_logp(type_logits[0], available)
        self.wm_type_logp = _type_logp(self.context.state.logits[FULL, self.v.type0 : self.v.type0 + N_TYPES], available)
        self.cell_logp = _log_softmax(cell_logits(loc_logits[0]))

    def _score_foresight(self, previous: np.ndarray, codes: np.ndarray, hidden: torch.Tensor) -> None:
        """Count the cells that changed since the previous frame, and those whose new code the world model
        predicted (FRAME and codes 0-62, the first 64 positions of `hidden`, predict codes 0-63)."""
        changed = codes != previous
        if changed.any():
            code_logits = self.m.wm.head(hidden[:N_CELLS][changed])[:, self.v.code0 : self.v.type0]
            self.changed_cells += int(changed.sum())
            self.changed_right += int((code_logits.argmax(-1).cpu().numpy() == codes[changed]).sum())

    def _remember(self, previous: np.ndarray, codes: np.ndarray) -> None:
        """The frame left behind joins the recent ones (each once, the current frame never)."""
        if np.array_equal(previous, codes):
            return
        kept = [c for c in self._recent if not (np.array_equal(c, codes) or np.array_equal(c, previous))]
        self._recent = deque([previous, *kept], maxlen=self._recent.maxlen)

    @_on_play_threads
    @torch.no_grad()
    def point_logp(self, cell: int) -> np.ndarray | None:
        """log P(pixel inside `cell` | a click there), 64 values row-major, from the policy's click-point
        head in the current frame; None for heads without one."""
        logits = self.m.heads.point_logits(torch.tensor([cell], device=self.m.wm.device), *self._head_inputs)
        return None if logits is None else _log_softmax(logits[0])

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
        toks = torch.tensor([[self.v.type0 + t, self.v.loc0 + loc] for t, loc in actions], device=self.m.wm.device)
        logits, _ = self.m.wm.extend(branch, toks)
        last = torch.log_softmax(logits[:, -1].float(), dim=-1)
        # After ACT_LOC the layout allows LEVEL_COMPLETE or the next FRAME: renormalise over the two.
        two = torch.stack([last[:, self.v.level_complete], last[:, self.v.frame]], dim=-1)
        return (two[:, 0] - torch.logsumexp(two, dim=-1)).cpu().numpy()

    @_on_play_threads
    @torch.no_grad()
    def outcome_logp(self, actions: list[tuple[int, int]], targets: list[np.ndarray | None] | None = None,
                     ignore: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """For each (type, loc) in the current frame: log P(LEVEL_COMPLETE | context, action), and log P(no
        level-up and the next frame's codes are `targets[i]` | context, action), in one batched call: the
        action, then [FRAME] and the target's codes, teacher-forced. A target of None (all of them by
        default) is this frame's codes: the world model's P(nothing changes). Cells where `ignore` (64
        bools) is set do not count: a frame matches whatever its codes there (a timer's cells)."""
        if not actions or self._codes is None:
            return np.zeros(len(actions)), np.zeros(len(actions))
        dev = self.m.wm.device
        targets = [self._codes if t is None else t for t in (targets or [None] * len(actions))]
        rows = torch.full((len(actions),), FULL, dtype=torch.long, device=dev)
        branch = self.context.state.select(rows)
        toks = torch.tensor([[self.v.type0 + t, self.v.loc0 + loc, self.v.frame, *(self.v.code0 + codes[:-1]).tolist()]
                             for (t, loc), codes in zip(actions, targets, strict=True)], device=dev)  # fmt: skip
        logits, _ = self.m.wm.extend(branch, toks)
        after = torch.log_softmax(logits[:, 1].float(), dim=-1)  # after ACT_LOC: LEVEL_COMPLETE or FRAME
        two = torch.stack([after[:, self.v.level_complete], after[:, self.v.frame]], dim=-1)
        level = two[:, 0] - torch.logsumexp(two, dim=-1)
        no_level = two[:, 1] - torch.logsumexp(two, dim=-1)
        codes = torch.log_softmax(logits[:, 2:, self.v.code0 : self.v.type0].float(), dim=-1)
        target = torch.as_tensor(np.stack(targets), device=dev)[..., None]
        per_cell = codes.gather(-1, target)[..., 0]
        if ignore is not None:
            per_cell = per_cell[:, ~torch.as_tensor(np.asarray(ignore, dtype=bool), device=dev)]
        frame = no_level + per_cell.sum(-1)
        return level.cpu().numpy(), frame.cpu().numpy()

    def recent_frames(self, ignore: np.ndarray | None = None) -> list[np.ndarray]:
        """Codes of the last frames fed before the current one that differ from it and from each other
        outside the cells `ignore` sets (most recent first, at most `recent`): the states an action is
        likeliest to lead back to."""
        keep = slice(None) if ignore is None else ~np.asarray(ignore, dtype=bool)
        found: list[np.ndarray] = []
        for codes in self._recent:
            if len(found) < self.recent and not any(np.array_equal(codes[keep], c[keep]) for c in [self._codes, *found]):
                found.append(codes)
        return found

    def last_step(self) -> np.ndarray:
        """The world-model row of the last committed step (the game's first carries GAME_START)."""
        return self.context.steps[-1][FULL]

    @_on_play_threads
    @torch.no_grad()
    def refresh(self) -> None:
        """The world model's weights changed: rebuild the context's cache with them."""
        self.context.refresh()

    @_on_play_threads
    def end_action(self, action: int, loc: int, level_up: bool) -> None:
        """The action was taken and its outcome is known: finish the step in both contexts. Nothing reads
        the logits after the action, so its tokens go through the model with the next frame's."""
        lvl = [self.v.level_complete] if level_up else []
        self.context.defer([[self.v.type0 + action, self.v.loc0 + loc, *lvl], [self.v.mask, self.v.mask, *lvl]])
        self.context.commit_step()
