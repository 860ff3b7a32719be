"""The world model's training loss: weighted next-token cross-entropy (docs/DESIGN.md §6)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aria_cli.vocab import Vocab


@dataclass(frozen=True)
class LossWeights:
    """Per-target-role loss weights (docs/DESIGN.md §6). Targets are the *next* token at each position.

    VQ codes 1.0, ACT_TYPE 3.0, ACT_LOC 3.0, LEVEL_COMPLETE 5.0. The FRAME that follows an action
    directly (no level completed) is the other outcome of the same level decision and gets
    `no_level` = 1.0; without it the model would only ever see positives and learn P(level) = 1.
    The remaining structural targets — ACT after the 64th code, FRAME after LEVEL_COMPLETE — are
    fixed by the layout (the agent writes them itself, never samples them) and get 0, as do
    GAME_START (never a target) and padding.
    """

    vq: float = 1.0
    act_type: float = 3.0
    act_loc: float = 3.0
    level: float = 5.0
    no_level: float = 1.0


def target_weights(
    inputs: torch.Tensor, targets: torch.Tensor, w: LossWeights = LossWeights(), v: Vocab = Vocab()
) -> torch.Tensor:
    """Loss weight of predicting `targets` (the token after each of `inputs`); base-0 tensors of layout `v`."""
    out = torch.zeros(targets.shape, dtype=torch.float32, device=targets.device)
    out[(targets >= v.code0) & (targets < v.type0)] = w.vq
    out[(targets >= v.type0) & (targets < v.loc0)] = w.act_type
    out[(targets >= v.loc0) & (targets < v.frame)] = w.act_loc
    out[targets == v.level_complete] = w.level
    after_action = (inputs >= v.loc0) & (inputs < v.frame)
    out[(targets == v.frame) & after_action] = w.no_level
    return out


@dataclass
class WorldModelOutput:
    logits: torch.Tensor  # (B, T, 590) float32, over aria's tokens
    loss: torch.Tensor | None = None  # weighted mean NLL of the next token
    weight_sum: torch.Tensor | None = None


def weighted_loss(
    logits: torch.Tensor, tokens: torch.Tensor, valid: torch.Tensor | None, w: LossWeights = LossWeights(),
    v: Vocab = Vocab(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean cross-entropy of each next token (base-0 layout `v`); returns (loss, sum of weights)."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    weights = target_weights(inputs, targets, w, v)
    if valid is not None:
        weights = weights * valid[:, 1:]
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, v.n_special), targets.reshape(-1), reduction="none")
    wsum = weights.sum()
    return (nll * weights.reshape(-1)).sum() / wsum.clamp_min(1e-8), wsum
