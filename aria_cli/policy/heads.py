"""Policy heads on a frozen world model whose context has every action token masked.

The backbone reads the *masked* trajectory (aria_cli.vocab.mask_actions): frames are visible, actions
are not, so the heads can only use visual consequences and never copy the action history. For step t
the heads read the backbone's last hidden states:

  summary  = hidden state at the masked [ACT] slot right after frame t (it has seen the whole frame)
  cells    = hidden states at frame t's 64 VQ-code positions
  (with `previous_frame`, each is [x_t, x_t - x_{t-1}]: the same states at step t-1 beside them)

  ActionTypeHead:     pooled = attention from the summary over the cells (`type_attention_heads` heads)
                      [summary, pooled] → Linear(·, 256) → GELU → Dropout(0.1) → Linear(256, 8)
  ActionLocationHead: query = W_q · summary, keys = W_k · cells ++ learned NULL key,
                      scaled dot product → 65 logits (64 cells + NULL)
  ClickPointHead:     [summary, the clicked cell's state] → Linear(·, 256) → GELU → Dropout(0.1)
                      → Linear(256, 64): where inside that cell the click lands (a pixel of its 8x8)

Loss = CE(type) + has_location · (CE(location) + CE(point | the true cell)).

A LOC token names an 8x8 cell, and one cell can hold two objects that do different things (two
buttons side by side, a tile reaching in from the next cell); the point head tells them apart.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from aria_cli.common import atomic
from aria_cli.common.errors import CheckpointError
from aria_cli.training.checkpoints import CONFIG_FILE, MODEL_FILE
from aria_cli.vocab import CLICK, LOC_NULL, N_CELLS, N_LOCS, N_POINTS, N_TYPES


@dataclass
class PolicyConfig:
    hidden_size: int
    head_dim: int = 256
    dropout: float = 0.1
    world_model_fingerprint: str = ""  # the features' key (data, tokenizer and world model)
    # Content hash of the world_model/best checkpoint the heads were trained on (aria_cli.stack checks it);
    # empty for heads saved before it existed.
    world_model_checkpoint: str = ""
    # The type head's attention over the 64 cell states. The summary alone is one vector in which a
    # tiny backbone has not put where things are relative to each other, and a navigation game's move
    # is exactly that (the player left of the goal: RIGHT). 0 = the summary alone, as heads saved
    # before this existed were trained; train-policy uses TYPE_ATTENTION_HEADS.
    type_attention_heads: int = 0
    # Also read the previous step's states, as the change [x_t, x_t - x_{t-1}]. Masking hides the last
    # action, and the tiny backbone, trained with actions in view, does not carry "the player just moved
    # up" into frame t's states; the change shows it. On a quickstart's val split it lifted qmaz's type
    # accuracy from 43-48% to 57-61% and qpsh's from ~31% to ~35% (all games 57% -> 64%). False for heads
    # saved before this existed; train-policy sets it.
    previous_frame: bool = False
    # The click-point head (ClickPointHead). False for heads saved before it existed: the agent then
    # clicks a cell's objects in its own order.
    click_points: bool = False

    @property
    def input_size(self) -> int:
        return self.hidden_size * (2 if self.previous_frame else 1)


TYPE_ATTENTION_HEADS = 8


@dataclass
class CellStates:
    """The 64 cell states as the heads read them: x_t, or with `prev` the pair [x_t, x_t - x_{t-1}].

    Both heads use the cells only through dot products and attention-weighted sums, which split over the
    pair, so the (B, 64, 2h) concatenation is never built: building it took a third of train-policy's time.
    """

    now: torch.Tensor  # (B, 64, h)
    prev: torch.Tensor | None = None  # (B, 64, h): step t-1's states

    def dot(self, q: torch.Tensor) -> torch.Tensor:
        """(B, k, h or 2h) → (B, k, 64): q · cell for every cell."""
        if self.prev is None:
            return q @ self.now.mT
        q_now, q_change = q.split(self.now.shape[-1], dim=-1)
        return (q_now + q_change) @ self.now.mT - q_change @ self.prev.mT

    def pool(self, alpha: torch.Tensor) -> torch.Tensor:
        """(B, k, 64) weights → (B, k, h or 2h): the weighted sums of the cells."""
        now = alpha @ self.now
        if self.prev is None:
            return now
        return torch.cat([now, now - alpha @ self.prev], dim=-1)


def _cell_states(cells: torch.Tensor | CellStates) -> CellStates:
    return cells if isinstance(cells, CellStates) else CellStates(cells)


class ActionTypeHead(nn.Module):
    def __init__(self, hidden: int, inner: int = 256, dropout: float = 0.1, attention_heads: int = 0):
        super().__init__()
        self.pool = CellPooling(hidden, attention_heads) if attention_heads else None
        width = hidden * (2 if self.pool else 1)
        self.net = nn.Sequential(nn.Linear(width, inner), nn.GELU(), nn.Dropout(dropout), nn.Linear(inner, N_TYPES))

    def forward(self, summary: torch.Tensor, cells: torch.Tensor | CellStates) -> torch.Tensor:
        if self.pool is None:
            return self.net(summary)
        return self.net(torch.cat([summary, self.pool(summary, cells)], dim=-1))


class CellPooling(nn.Module):
    """Multi-head attention from the summary over the 64 cell states: (B, h), (B, 64, h) → (B, h).

    Computed in the cells' own space, as the location head does: a head's score q · W_k c is
    (W_k^T q) · c (the key bias adds the same to every cell and cancels in the softmax), and its output
    W_v Σ α c + b_v is the value projection of the pooled cells. Exactly multi-head attention, without
    projecting 64 keys and values per step (64x less work, which keeps train-policy in seconds per epoch)."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} attention heads")
        self.heads, self.dim = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden, bias=False)
        self.value = nn.Linear(hidden, hidden)

    def forward(self, summary: torch.Tensor, cells: torch.Tensor | CellStates) -> torch.Tensor:
        cells = _cell_states(cells)
        b, h = summary.shape
        q = self.query(summary).view(b, self.heads, self.dim)
        q_in = torch.einsum("bnd,ndh->bnh", q, self.key.weight.view(self.heads, self.dim, h))
        alpha = torch.softmax(cells.dot(q_in) / math.sqrt(self.dim), dim=-1)
        pooled = cells.pool(alpha)  # (B, heads, h)
        out = torch.einsum("bnh,ndh->bnd", pooled, self.value.weight.view(self.heads, self.dim, h))
        return out.reshape(b, h) + self.value.bias


class ActionLocationHead(nn.Module):
    def __init__(self, hidden: int, inner: int = 256):
        super().__init__()
        self.query = nn.Linear(hidden, inner)
        self.key = nn.Linear(hidden, inner)
        self.null_key = nn.Parameter(torch.randn(inner) / math.sqrt(inner))
        self.scale = 1.0 / math.sqrt(inner)

    def forward(self, summary: torch.Tensor, cells: torch.Tensor | CellStates) -> torch.Tensor:
        q = self.query(summary)  # (B, d)
        # q · (W_k c + b_k) = (W_k^T q) · c + q · b_k: the same scores as projecting all 64 keys, without
        # the (64 x h x d) projection per step — what makes 50 epochs on a CPU take seconds.
        q_in = q @ self.key.weight  # (B, h)
        cell_scores = _cell_states(cells).dot(q_in[:, None])[:, 0] + (q @ self.key.bias)[:, None]
        null_score = q @ self.null_key  # NULL is location 64
        return torch.cat([cell_scores, null_score[:, None]], dim=1) * self.scale


class ClickPointHead(nn.Module):
    """Where inside the clicked cell: 64 logits over its pixels, from the summary and that cell's state
    (its code and what the backbone read around it)."""

    def __init__(self, hidden: int, inner: int = 256, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * hidden, inner), nn.GELU(), nn.Dropout(dropout), nn.Linear(inner, N_POINTS))

    def forward(self, summary: torch.Tensor, cells: torch.Tensor | CellStates, cell: torch.Tensor) -> torch.Tensor:
        """(B, h or 2h) summary, the cells, (B,) cell index → (B, 64) point logits."""
        cells = _cell_states(cells)
        rows = torch.arange(len(cell), device=cell.device)
        state = cells.now[rows, cell]
        if cells.prev is not None:
            state = torch.cat([state, state - cells.prev[rows, cell]], dim=-1)
        return self.net(torch.cat([summary, state], dim=-1))


@dataclass
class PolicyBatch:
    """Steps to train on: the heads' inputs (`policy.metrics.step_inputs`), the actions taken, and which
    action types each step's game offers."""

    inputs: tuple[torch.Tensor, ...]
    types: torch.Tensor  # (B,)
    locs: torch.Tensor  # (B,)
    allowed: torch.Tensor | None = None  # (B, 8) bool
    points: torch.Tensor | None = None  # (B,) the click's pixel inside its cell, -1 where none


class PolicyHeads(nn.Module):
    def __init__(self, config: PolicyConfig):
        super().__init__()
        self.config = config
        self.type_head = ActionTypeHead(config.input_size, config.head_dim, config.dropout,
                                        config.type_attention_heads)
        self.loc_head = ActionLocationHead(config.input_size, config.head_dim)
        self.point_head = (ClickPointHead(config.input_size, config.head_dim, config.dropout)
                           if config.click_points else None)  # fmt: skip

    def _read(self, summary, cells, prev_summary=None, prev_cells=None) -> tuple[torch.Tensor, CellStates]:
        """The heads' view of step t: [x_t, x_t - x_{t-1}] where they read the previous step."""
        summary, states = summary.float(), CellStates(cells.float())
        if self.config.previous_frame:
            ps = summary if prev_summary is None else prev_summary.float()
            summary = torch.cat([summary, summary - ps], -1)
            states.prev = states.now if prev_cells is None else prev_cells.float()
        return summary, states

    def forward(
        self,
        summary: torch.Tensor,
        cells: torch.Tensor,
        prev_summary: torch.Tensor | None = None,
        prev_cells: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, h) summary and (B, 64, h) cells of step t, and of step t-1 where the heads read it (None at
        a game's first step: no change) → type logits (B, 8), location logits (B, 65)."""
        summary, states = self._read(summary, cells, prev_summary, prev_cells)
        return self.type_head(summary, states), self.loc_head(summary, states)

    def point_logits(self, cell: torch.Tensor, summary: torch.Tensor, cells: torch.Tensor,
                     prev_summary: torch.Tensor | None = None, prev_cells: torch.Tensor | None = None
                     ) -> torch.Tensor | None:  # fmt: skip
        """(B, 64) logits of where inside `cell` (B,) the click lands; None for heads without the point head."""
        if self.point_head is None:
            return None
        return self.point_head(*self._read(summary, cells, prev_summary, prev_cells), cell)

    def compute_loss(self, batch: PolicyBatch) -> tuple[torch.Tensor, dict]:
        """(loss, {"loss", "steps"}) of a batch of steps: see `policy_loss`."""
        summary, states = self._read(*batch.inputs)
        type_logits, loc_logits = self.type_head(summary, states), self.loc_head(summary, states)
        loss = policy_loss(type_logits, loc_logits, batch.types, batch.locs, batch.allowed)
        if self.point_head is not None and batch.points is not None:
            has = batch.points >= 0
            if has.any():
                logits = self.point_head(summary[has], CellStates(states.now[has], None if states.prev is None
                                                                  else states.prev[has]), batch.locs[has])  # fmt: skip
                loss = loss + F.cross_entropy(logits, batch.points[has], reduction="sum") / len(batch.types)
        return loss, {"loss": loss.item(), "steps": len(batch.types)}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        atomic.write_with(directory / MODEL_FILE, lambda p: save_file(state, str(p)))
        atomic.write_json(directory / CONFIG_FILE, asdict(self.config))

    @classmethod
    def load(cls, directory: Path, device: str = "cpu") -> PolicyHeads:
        directory = Path(directory)
        cfg_path, weights = directory / CONFIG_FILE, directory / MODEL_FILE
        if not cfg_path.exists() or not weights.exists():
            raise CheckpointError(f"no policy under {directory}: run `aria train-policy` first")
        try:
            heads = cls(PolicyConfig(**json.loads(cfg_path.read_text())))
            heads.load_state_dict(load_file(str(weights), device="cpu"))
        except Exception as e:  # corrupt or mismatched files: one line naming them
            msg = str(e).splitlines()[0][:200] if str(e) else ""
            raise CheckpointError(f"{directory}: policy checkpoint does not load ({type(e).__name__}: {msg}); "
                                  "retrain with `aria train-policy`") from None
        return heads.to(device).eval()


def policy_loss(
    type_logits: torch.Tensor,
    loc_logits: torch.Tensor,
    types: torch.Tensor,
    locs: torch.Tensor,
    allowed: torch.Tensor | None = None,
) -> torch.Tensor:
    """CE(type) + has_location · CE(location); only clicks have a location to learn. With `allowed`
    (B, 8) bool, the type softmax runs over the actions the game offers (as when the agent chooses)."""
    if allowed is not None:
        type_logits = type_logits.masked_fill(~allowed, float("-inf"))
    loss = F.cross_entropy(type_logits, types)
    has_loc = types == CLICK
    if has_loc.any():
        loss = loss + F.cross_entropy(loc_logits[has_loc], locs[has_loc], reduction="sum") / len(types)
    return loss


def restrict_types(type_logits: torch.Tensor, available: list[int] | tuple[int, ...]) -> torch.Tensor:
    """Type logits with every action outside `available` set to -inf (the agent may only pick those)."""
    allowed = torch.full((N_TYPES,), float("-inf"), device=type_logits.device)
    allowed[list(available)] = 0.0
    return type_logits + allowed


def cell_logits(loc_logits: torch.Tensor) -> torch.Tensor:
    """A click always has a cell: drop NULL when choosing where to click."""
    assert loc_logits.shape[-1] == N_LOCS and LOC_NULL == N_CELLS
    return loc_logits[..., :N_CELLS]
