"""The world model's own parts around the backbone: the KV-cached stepping state, each code's cell,
and the location pointer."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from aria_cli.vocab import N_CELLS, N_CODES, Vocab

V0 = Vocab(0)


@dataclass
class WMState:
    """KV-cached context for incremental stepping. `extend` updates the cache in place; `copy()` to branch."""

    cache: object  # transformers DynamicCache
    length: int
    logits: torch.Tensor  # (B, 590): prediction for the token after the last one fed
    code_run: int = 0  # VQ codes at the end of the context (where the next code sits in its frame)
    cells: torch.Tensor | None = None  # (B, 64, hidden): final hidden states of the latest frame's codes
    # (B,) padding tokens at the start of each row (`prefill_left_padded`); None: every row is all real tokens
    pad: torch.Tensor | None = None

    def copy(self) -> WMState:
        cells = None if self.cells is None else self.cells.clone()
        return WMState(copy.deepcopy(self.cache), self.length, self.logits.clone(), self.code_run, cells, self.pad)

    def select(self, rows: torch.Tensor) -> WMState:
        """A branch holding only these batch rows (repeats allowed), e.g. one context once per candidate.

        Cheaper than `copy()`: the cache layers grow by concatenation and selecting rows makes new
        tensors, so the branch shares nothing mutable with this state without a deep copy."""
        cache = copy.copy(self.cache)
        cache.layers = [copy.copy(layer) for layer in self.cache.layers]
        cache.batch_select_indices(rows)
        cells = None if self.cells is None else self.cells[rows]
        pad = None if self.pad is None else self.pad[rows]
        return WMState(cache, self.length, self.logits[rows], self.code_run, cells, pad)


def cell_index(tokens: torch.Tensor, code_run: int = 0) -> torch.Tensor:
    """Each position's cell in its frame (0..63) for VQ codes, N_CELLS for every other token; base-0 (B, T).

    A code's cell is how many codes precede it since the last non-code token (its [FRAME]); `code_run`
    codes are already in the context before `tokens` (KV-cached stepping).
    """
    is_code = tokens < N_CODES
    idx = torch.arange(tokens.shape[-1], device=tokens.device).expand_as(tokens)
    last_other = torch.where(is_code, torch.full_like(idx, -1 - code_run), idx).cummax(dim=-1).values
    cell = idx - last_other - 1
    return torch.where(is_code & (cell < N_CELLS), cell, torch.full_like(cell, N_CELLS))


class LocationPointer(torch.nn.Module):
    """Scores of the 64 cells for a click's location: query from the hidden state after ACT_TYPE, keys
    from the frame's 64 code states, scaled dot product. Zero query weights at the start: no scores."""

    def __init__(self, hidden: int, dim: int = 64, device=None):
        super().__init__()
        self.query = torch.nn.Linear(hidden, dim, device=device)
        self.key = torch.nn.Linear(hidden, dim, bias=False, device=device)
        torch.nn.init.zeros_(self.query.weight)
        torch.nn.init.zeros_(self.query.bias)
        self.scale = dim**-0.5

    def forward(self, query: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """(N, h), (N, 64, h) → (N, 64)."""
        q = self.query(query.to(self.query.weight.dtype))
        k = self.key(cells.to(self.key.weight.dtype))
        return torch.einsum("nd,ncd->nc", q, k).float() * self.scale


def _add_scores(logits: torch.Tensor, b: torch.Tensor, p: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Logits (B, T, 590) with the location pointer's scores added to the 64 ACT_LOC cells at (b, p)."""
    if len(b) == 0:
        return logits
    logits = logits.clone()
    logits[b, p, V0.loc0 : V0.loc0 + N_CELLS] += scores.to(logits.dtype)
    return logits
