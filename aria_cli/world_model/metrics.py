"""World-model metrics: the one definition that `train-wm` and `eval` both report, per game, teacher-forced.

Each metric scores the model's prediction of a token from the true tokens before it (teacher forcing),
over aria_cli.world_model.data's evaluation windows: they overlap by one step, which is context only, so every
step is scored once and with the step before it in view (as the agent, whose context slides, always
has it; the "repeat the previous action" baseline has it too). Predictions are constrained to the token role the layout puts
at that position (argmax over the layout's codes at a code position, the 8 types at a type position, the 65
locations at a location position), which is how the agent decodes.

- frame_acc: top-1 accuracy on the 64 VQ codes of every frame after an episode's first (its first frame
  has no previous frame, so it is not a prediction of dynamics).
- copy_frame_acc: the same positions predicted by copying the previous frame's code at the same cell —
  the baseline a world model must beat.
- changed_acc: frame_acc restricted to the cells whose code differs from the previous frame (None if no
  cell changed).
- action_type_acc: top-1 on every ACT_TYPE token.
- action_loc_acc: top-1 on the ACT_LOC token of clicks (ACTION6) only; None for games without clicks.
- level_precision / level_recall: the level decision, read at the position after ACT_LOC, where the
  layout allows exactly two tokens, LEVEL_COMPLETE or the next FRAME. Predicted "level completed" when
  P(LEVEL_COMPLETE) > P(FRAME), i.e. P(LEVEL_COMPLETE | one of the two) > 0.5 — the same as LEVEL_COMPLETE
  being the argmax of the two. Precision is None when never predicted, recall None when no level was
  completed in the data.
- perplexity: exp of the mean NLL (softmax over aria's 590 tokens) of every target the model is trained
  on: codes, types, locations and the level decision (LossWeights > 0); structural tokens excluded.
- loss: the weighted training loss on the same windows (what picks the best checkpoint).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch

from aria_cli.vocab import CLICK, N_CELLS, N_LOCS, N_TYPES, Vocab
from aria_cli.world_model.model import LossWeights, target_weights

METRIC_KEYS = (
    "frame_acc",
    "copy_frame_acc",
    "changed_acc",
    "action_type_acc",
    "action_loc_acc",
    "level_precision",
    "level_recall",
    "perplexity",
    "loss",
)
ALL = "all"


@dataclass
class Counts:
    """Sufficient statistics for every metric; summed over windows, games and ranks."""

    windows: int = 0
    frame_total: int = 0
    frame_correct: int = 0
    copy_correct: int = 0
    changed_total: int = 0
    changed_correct: int = 0
    type_total: int = 0
    type_correct: int = 0
    loc_total: int = 0
    loc_correct: int = 0
    level_tp: int = 0
    level_fp: int = 0
    level_fn: int = 0
    nll_sum: float = 0.0
    nll_count: int = 0
    wnll_sum: float = 0.0
    weight_sum: float = 0.0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def summary(self) -> dict:
        def ratio(a, b):
            return a / b if b else None

        return {
            "frame_acc": ratio(self.frame_correct, self.frame_total),
            "copy_frame_acc": ratio(self.copy_correct, self.frame_total),
            "changed_acc": ratio(self.changed_correct, self.changed_total),
            "action_type_acc": ratio(self.type_correct, self.type_total),
            "action_loc_acc": ratio(self.loc_correct, self.loc_total),
            "level_precision": ratio(self.level_tp, self.level_tp + self.level_fp),
            "level_recall": ratio(self.level_tp, self.level_tp + self.level_fn),
            "perplexity": math.exp(self.nll_sum / self.nll_count) if self.nll_count else None,
            "loss": ratio(self.wnll_sum, self.weight_sum),
            "windows": self.windows,
            "frames": self.frame_total // N_CELLS,
            "changed_cells": self.changed_total,
            "actions": self.type_total,
            "clicks": self.loc_total,
            "levels": self.level_tp + self.level_fn,
        }


class WMMetrics:
    """Accumulates Counts per game from (tokens, logits) batches. `result()` → {"games": {...}, "all": {...}}."""

    def __init__(self, loss_weights: LossWeights | None = None, vocab: Vocab = Vocab()):
        self.games: dict[str, Counts] = {}
        self.loss_weights = loss_weights or LossWeights()
        self.vocab = vocab  # the world model's layout at base 0

    @torch.no_grad()
    def update(
        self,
        tokens: torch.Tensor,
        logits: torch.Tensor,
        valid: torch.Tensor,
        games: list[str],
        scored: torch.Tensor | None = None,
    ) -> None:
        """tokens (B, T) base-0, logits (B, T, 590) from the same forward, valid (B, T), one game per row;
        scored (B, T): the input positions whose predictions count (default: every valid one)."""
        v = self.vocab
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        lg = logits[:, :-1].float()
        tvalid = valid[:, 1:]
        logp = torch.log_softmax(lg, dim=-1)
        nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        w = target_weights(inputs, targets, self.loss_weights, v) * tvalid
        # Role-constrained predictions, as the agent decodes.
        pred_code = lg[..., v.code0 : v.type0].argmax(-1)
        pred_type = lg[..., v.type0 : v.type0 + N_TYPES].argmax(-1)
        pred_loc = lg[..., v.loc0 : v.loc0 + N_LOCS].argmax(-1)
        level_pred = lg[..., v.level_complete] > lg[..., v.frame]
        arrays = {
            "tok": tokens.cpu().numpy(),
            "valid": valid.cpu().numpy(),
            "scored": (valid if scored is None else scored & valid).cpu().numpy(),
            "nll": nll.cpu().double().numpy(),
            "w": w.cpu().double().numpy(),
            "pc": pred_code.cpu().numpy(),
            "pt": pred_type.cpu().numpy(),
            "pl": pred_loc.cpu().numpy(),
            "lv": level_pred.cpu().numpy(),
        }
        for b, game in enumerate(games):
            self.games.setdefault(game, Counts()).add(_row_counts(v, {k: a[b] for k, a in arrays.items()}))

    def merge(self, other: WMMetrics) -> None:
        for g, c in other.games.items():
            self.games.setdefault(g, Counts()).add(c)

    def total(self) -> Counts:
        t = Counts()
        for c in self.games.values():
            t.add(c)
        return t

    def result(self) -> dict:
        return {"games": {g: self.games[g].summary() for g in sorted(self.games)}, ALL: self.total().summary()}

    def state(self) -> dict:
        """Plain data (for gathering across processes)."""
        return {g: asdict(c) for g, c in self.games.items()}

    @classmethod
    def from_states(cls, states: Iterable[dict], loss_weights: LossWeights | None = None) -> WMMetrics:
        m = cls(loss_weights)
        for st in states:
            for g, c in st.items():
                m.games.setdefault(g, Counts()).add(Counts(**c))
        return m


def _row_counts(v: Vocab, r: dict) -> Counts:
    """Counts for one window. r: tok (T,), valid (T,), and per-target arrays (T-1,) where index j is the
    prediction of token j+1 made at position j."""
    tok, valid = r["tok"], r["valid"]
    n = int(valid.sum())
    tok = tok[:n]
    sc = r["scored"][: n - 1]  # per prediction j (of token j + 1): does it count
    c = Counts(windows=1)
    # Frames: every frame after the first in the window, compared with the frame before it, when scored.
    frame_pos = np.flatnonzero(tok == v.frame)
    frame_pos = frame_pos[frame_pos + N_CELLS < n]  # whole frames only
    if len(frame_pos) >= 2:
        cells = frame_pos[:, None] + 1 + np.arange(N_CELLS)  # (F, 64) positions of the codes
        keep = sc[frame_pos[1:]]  # the [FRAME] position predicts the first code
        truth = tok[cells[1:][keep]]
        prev = tok[cells[:-1][keep]]
        pred = r["pc"][cells[1:][keep] - 1]
        changed = prev != truth
        c.frame_total = truth.size
        c.frame_correct = int((pred == truth).sum())
        c.copy_correct = int((prev == truth).sum())
        c.changed_total = int(changed.sum())
        c.changed_correct = int(((pred == truth) & changed).sum())
    targets = tok[1:]
    inputs = tok[:-1]
    j_type = np.flatnonzero(v.is_type(targets) & sc)
    c.type_total = len(j_type)
    c.type_correct = int((r["pt"][j_type] == targets[j_type] - v.type0).sum())
    j_loc = np.flatnonzero(v.is_loc(targets) & (inputs == v.act_type(CLICK)) & sc)
    c.loc_total = len(j_loc)
    c.loc_correct = int((r["pl"][j_loc] == targets[j_loc] - v.loc0).sum())
    j_dec = np.flatnonzero(v.is_loc(inputs) & sc)  # the level decision follows every action
    truth_lv = targets[j_dec] == v.level_complete
    pred_lv = r["lv"][j_dec]
    c.level_tp = int((truth_lv & pred_lv).sum())
    c.level_fp = int((~truth_lv & pred_lv).sum())
    c.level_fn = int((truth_lv & ~pred_lv).sum())
    w = r["w"][: n - 1] * sc
    nll = r["nll"][: n - 1]
    scored = w > 0
    c.nll_sum = float(nll[scored].sum())
    c.nll_count = int(scored.sum())
    c.wnll_sum = float((nll * w).sum())
    c.weight_sum = float(w.sum())
    return c


@torch.no_grad()
def evaluate_world_model(wm, cache, windows, batch_size: int = 16, device=None) -> WMMetrics:
    """Teacher-forced metrics of a WorldModel over `windows` (aria_cli.world_model.data.Windows) of `cache`."""
    from aria_cli.world_model.data import batches

    device = device or wm.device
    was_training = wm.training
    wm.eval()
    m = WMMetrics(wm.loss_weights, wm.v0)
    for batch in batches(cache, windows, batch_size):
        batch = batch.to(device)
        logits = wm.logits(batch.tokens)
        m.update(batch.tokens, logits, batch.valid, batch.games, batch.scored)
    wm.train(was_training)
    return m


def metrics_table(result: dict, title: str = "val metrics"):
    """A rich Table of a `WMMetrics.result()`: one row per game, then all games together."""
    from rich import box
    from rich.table import Table

    from aria_cli.common.ui import pct

    t = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        caption="frame: top-1 on the codes of every frame after an episode's first; copy: predicting the previous "
        "frame; chg: cells that changed; loc: clicks only",
        caption_justify="left",
    )
    t.add_column("game", no_wrap=True)
    for name in ("frame", "copy", "chg", "type", "loc", "lvl P", "lvl R", "ppl", "win"):
        t.add_column(name, justify="right", no_wrap=True)
    rows = list(result["games"].items())
    if len(rows) != 1:
        rows.append((ALL, result[ALL]))
    for game, m in rows:
        beat = m["frame_acc"] is not None and m["copy_frame_acc"] is not None and m["frame_acc"] > m["copy_frame_acc"]
        frame = pct(m["frame_acc"])
        t.add_row(
            f"[bold]{game}[/]" if game == ALL else game,
            f"[green]{frame}[/]" if beat else frame,
            pct(m["copy_frame_acc"]),
            pct(m["changed_acc"]),
            pct(m["action_type_acc"]),
            pct(m["action_loc_acc"]),
            pct(m["level_precision"]),
            pct(m["level_recall"]),
            "—" if m["perplexity"] is None else f"{m['perplexity']:.2f}",
            str(m["windows"]),
        )
    return t
