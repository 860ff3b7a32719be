"""Learning from the levels the agent wins: its policy heads tuned, inside the game, on how this game's
levels were won.

When a level is completed, the explorer's state graph of that level holds the fewest actions it has seen
win it (`Explorer.winning_path`): the same demonstration `aria distill` makes offline, here without
leaving the game. `WinTuner` reads that path as `train-policy` reads a distilled recording (each step's
frame through the frozen world model with every action masked, the heads' inputs taken at the step's
[ACT] slot and its 64 cells, the step before beside them) and takes a few gradient steps of the policy's
own loss on every winning step of the game so far, on the agent's private copy of the heads (the weights
on disk are never touched). From the next level on, the prior leans on what won the last ones: on games
the models never saw, what the policy learned from other games is mostly a guess, and a game's levels
tend to be won the same way (the same kind of object clicked, the same moves).

One round costs a forward pass over the path's windows and `steps` small updates, once per level won.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from aria_cli.policy.heads import PolicyBatch
from aria_cli.vocab import FRAME_TOKENS, N_CELLS, N_TYPES, episode_tokens, mask_actions

__all__ = ["WinTuneConfig", "WinTuner"]


@dataclass(frozen=True)
class WinTuneConfig:
    steps: int = 0  # gradient steps after each level won (0: off)
    lr: float = 1e-3
    keep: int = 256  # the most recent winning steps a round trains on

    @property
    def enabled(self) -> bool:
        return self.steps > 0


class WinTuner:
    """Tunes `models.heads` in place (the caller's own copy) on the winning steps of the game so far."""

    def __init__(self, models, config: WinTuneConfig):
        self.m = models
        self.config = config
        self.source = copy.deepcopy(models.heads.state_dict())
        self.reset()

    def reset(self, seed: int = 0) -> None:
        """A new game: the heads as loaded, no winning steps; the dropout of its rounds drawn from `seed`."""
        self.seed = int(seed)
        self.m.heads.load_state_dict(self.source)
        self.m.heads.eval()
        self.optimizer = torch.optim.AdamW(self.m.heads.parameters(), lr=self.config.lr)
        self.inputs: list[tuple[torch.Tensor, ...]] = []  # per step: summary, cells, prev summary, prev cells
        self.targets: list[tuple[int, int, int]] = []  # per step: type, loc, point (-1: not a click)
        self.rounds = 0
        self.losses: list[tuple[float, float]] = []  # each round's loss before and after its steps

    @torch.no_grad()
    def _features(self, frames: np.ndarray, actions: list[tuple[int, int, int]]) -> list[tuple[torch.Tensor, ...]]:
        """The heads' inputs at each step of a path, as `policy.features.extract` takes them from a recording:
        each step read at the end of a window of up to `context_steps` steps, actions masked."""
        wm, v = self.m.wm, self.m.wm.v0
        codes = self.m.tokenizer.encode(frames)
        # The path as an episode (vocab lays out the tokens): the last action won, and no frame follows it but
        # the layout's closing one, which no window reads.
        types, locs, _ = (np.asarray(x) for x in zip(*actions, strict=True))
        won = np.arange(len(actions)) == len(actions) - 1
        tokens, offsets = episode_tokens(v, np.concatenate([codes, codes[-1:]]), types, locs, won)
        ctx = int(wm.config.context_steps)
        starts = [int(offsets[max(0, i - ctx + 1)]) for i in range(len(actions))]
        ends = [int(offsets[i]) + FRAME_TOKENS + 1 for i in range(len(actions))]  # through the step's [ACT] slot
        rows = np.full((len(starts), max(e - s for s, e in zip(starts, ends, strict=True))), v.frame, dtype=np.int64)
        for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
            rows[i, : e - s] = tokens[s:e]  # right-padded: a causal model's earlier positions never see the padding
        hidden = wm.hidden_states(torch.from_numpy(mask_actions(v, rows)).to(wm.device)).float()
        out = []
        for i, s in enumerate(starts):
            last = int(offsets[i]) - s  # where the window's last step starts
            prev = int(offsets[i - 1]) - s if i > 0 and offsets[i - 1] >= s else last  # itself at the first
            out.append((hidden[i, last + FRAME_TOKENS], hidden[i, last + 1 : last + 1 + N_CELLS],
                        hidden[i, prev + FRAME_TOKENS], hidden[i, prev + 1 : prev + 1 + N_CELLS]))  # fmt: skip
        return out

    def learn(self, frames: np.ndarray, actions: list[tuple[int, int, int]], available: tuple[int, ...]) -> None:
        """A level was won by `actions` ((type, loc, click point) per step, the point -1 without a click) taken in
        `frames`: add its steps and tune the heads on every winning step kept."""
        if not actions:
            return
        with self.m.threads_for_play():
            self.inputs += self._features(frames, actions)
            self.targets += actions
            del self.inputs[: -self.config.keep], self.targets[: -self.config.keep]
            self._round(available)

    def _round(self, available: tuple[int, ...]) -> None:
        heads = self.m.heads
        inputs = tuple(torch.stack(x) for x in zip(*self.inputs, strict=True))
        t, loc, point = (torch.tensor(x, device=inputs[0].device) for x in zip(*self.targets, strict=True))
        allowed = torch.zeros(N_TYPES, dtype=torch.bool, device=inputs[0].device)
        allowed[[a for a in available if 0 <= a < N_TYPES]] = True
        allowed[t] = True  # every action the game was won with, whatever this frame offers
        batch = PolicyBatch(inputs, t, loc, allowed.expand(len(t), -1), point)
        heads.train()
        first = None
        # Dropout draws from torch's global generator, whose state depends on whatever the process ran
        # before: seeded per game and round, a run replays alike in any worker, and nothing else's draws move.
        device = inputs[0].device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.enable_grad():
            torch.manual_seed((self.seed * 1_000_003 + self.rounds) % 2**63)  # any game seed, negative too
            for _ in range(self.config.steps):
                loss, _ = heads.compute_loss(batch)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                first = float(loss.detach()) if first is None else first
        heads.eval()
        with torch.no_grad():
            after = float(heads.compute_loss(batch)[0])
        self.losses.append((first, after))
        self.rounds += 1
