"""Scoring the policy heads: predictions over cached features, accuracy per game beside two baselines
(the game's most frequent action type, and repeating the previous action). Used by train-policy to pick
the best epoch and by `aria eval`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from aria_cli.common import ui
from aria_cli.policy.features import StepFeatures
from aria_cli.policy.heads import PolicyHeads
from aria_cli.vocab import CLICK, N_TYPES

ALL = "all"


@torch.no_grad()
def predict(heads: PolicyHeads, feats: StepFeatures, device: str, batch: int = 1024
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Type logits (N, 8), location logits (N, 65) and the click point predicted inside each click's true
    cell (N,) for every step (-1 where the step has no click point, or the heads no point head)."""
    heads.eval()
    tl, ll, pl = [], [], []
    for i in range(0, len(feats), batch):
        rows = np.arange(i, min(i + batch, len(feats)))
        inputs = step_inputs(feats, rows, device)
        t, loc = heads(*inputs)
        tl.append(t.float().cpu().numpy())
        ll.append(loc.float().cpu().numpy())
        cell = torch.from_numpy(np.where(feats.points[rows] >= 0, feats.locs[rows], 0)).to(device)
        points = heads.point_logits(cell, *inputs)
        pl.append(np.full(len(rows), -1) if points is None else
                  np.where(feats.points[rows] >= 0, points.argmax(-1).cpu().numpy(), -1))  # fmt: skip
    if not tl:
        return np.zeros((0, N_TYPES)), np.zeros((0, 65)), np.zeros(0, np.int64)
    return np.concatenate(tl), np.concatenate(ll), np.concatenate(pl)


def step_inputs(feats: StepFeatures, rows: np.ndarray, device: str) -> tuple[torch.Tensor, ...]:
    """The heads' inputs for these rows: summary and cells of each step, then of its previous step."""
    prev = feats.prev[rows]
    arrays = (feats.summary[rows], feats.cells[rows], feats.summary[prev], feats.cells[prev])
    return tuple(torch.from_numpy(a).to(device) for a in arrays)


def _topk_hit(logits: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    top = np.argsort(-logits, axis=1)[:, :k]
    return (top == truth[:, None]).any(axis=1)


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if len(x) else None


def policy_metrics(
    type_logits: np.ndarray,
    loc_logits: np.ndarray,
    points: np.ndarray,
    feats: StepFeatures,
    most_frequent: dict[str, int],
    games: list[str],
    allowed: np.ndarray | None = None,
) -> dict:
    """Per game (and all): accuracy, top-3, and the two baselines. `games[i]` is step i's game; with
    `allowed` (N, 8) the type prediction is restricted to the game's actions, as the agent's is.
    `points` (N,): the click point predicted in each click's true cell (-1: none); `point_acc` is the
    share of clicks with a recorded point whose exact pixel it names (None without a point head)."""
    games_arr = np.asarray(games)
    if allowed is not None:
        type_logits = np.where(allowed, type_logits, -np.inf)
    out = {}
    for g in [*sorted(set(games)), ALL]:
        sel = np.ones(len(games_arr), bool) if g == ALL else games_arr == g
        t, pt = feats.types[sel], feats.prev_types[sel]
        click = t == CLICK
        loc, ploc = feats.locs[sel][click], feats.prev_locs[sel][click]
        point_known = (feats.points[sel] >= 0) & (points[sel] >= 0)
        mf = most_frequent.get(g, most_frequent.get(ALL, 0))
        out[g] = {
            "steps": int(sel.sum()),
            "clicks": int(click.sum()),
            "type_acc": _mean(type_logits[sel].argmax(1) == t),
            "type_top3": _mean(_topk_hit(type_logits[sel], t, 3)),
            "loc_acc": _mean(loc_logits[sel][click].argmax(1) == loc),
            "loc_top3": _mean(_topk_hit(loc_logits[sel][click], loc, 3)),
            "point_acc": _mean(points[sel][point_known] == feats.points[sel][point_known]),
            "baseline_most_frequent_type": _mean(t == mf) if g != ALL else None,
            "baseline_repeat_type": _mean(pt == t),
            "baseline_repeat_loc": _mean((pt[click] == CLICK) & (ploc == loc)),
        }
    if ALL in out:  # most frequent type per game, applied per game, pooled
        per = [(out[g]["baseline_most_frequent_type"], out[g]["steps"]) for g in out if g != ALL]
        n = sum(s for a, s in per if a is not None)
        out[ALL]["baseline_most_frequent_type"] = sum(a * s for a, s in per if a is not None) / n if n else None
    return out


def most_frequent_types(feats: StepFeatures, games: list[str]) -> dict[str, int]:
    games_arr = np.asarray(games)
    out = {ALL: int(np.bincount(feats.types, minlength=N_TYPES).argmax())} if len(feats) else {}
    for g in set(games):
        out[g] = int(np.bincount(feats.types[games_arr == g], minlength=N_TYPES).argmax())
    return out


def metrics_table(result: dict, title: str = "policy (val)") -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("game", "steps", "type", "type top3", "most freq", "repeat", "loc", "loc top3", "repeat loc", "point"):
        t.add_column(col, justify="left" if col == "game" else "right")
    for g, m in result.items():
        beat_t = m["type_acc"] is not None and m["type_acc"] > max(
            m["baseline_most_frequent_type"] or 0, m["baseline_repeat_type"] or 0
        )
        beat_l = m["loc_acc"] is not None and m["loc_acc"] > (m["baseline_repeat_loc"] or 0)
        t.add_row(
            f"[bold]{g}[/]" if g == ALL else g,
            str(m["steps"]),
            ("[green]" if beat_t else "") + ui.pct(m["type_acc"]),
            ui.pct(m["type_top3"]),
            ui.pct(m["baseline_most_frequent_type"]),
            ui.pct(m["baseline_repeat_type"]),
            ("[green]" if beat_l else "") + ui.pct(m["loc_acc"]),
            ui.pct(m["loc_top3"]),
            ui.pct(m["baseline_repeat_loc"]),
            ui.pct(m["point_acc"]),
        )
    return t


def game_action_sets(cache, data_dir: Path) -> dict[str, tuple[int, ...]]:
    """Each game's available actions as its recordings state them (RESET is always allowed)."""
    from aria_cli.data.recordings import iter_steps

    out: dict[str, tuple[int, ...]] = {}
    for e in cache.episodes:
        if e.game not in out:
            step = next(iter_steps(Path(data_dir) / e.file, skip_bad=True), None)
            actions = step.available_actions if step is not None and step.available_actions else range(1, N_TYPES)
            out[e.game] = tuple(sorted({0, *actions}))
    return out


def allowed_mask(games: list[str], action_sets: dict[str, tuple[int, ...]]) -> np.ndarray:
    """(N, 8) bool: which action types step i's game offers."""
    table = {g: np.isin(np.arange(N_TYPES), a) for g, a in action_sets.items()}
    full = np.ones(N_TYPES, dtype=bool)
    return np.stack([table.get(g, full) for g in games]) if games else np.zeros((0, N_TYPES), dtype=bool)


def score(m: dict) -> float:
    """Model selection: type accuracy, plus location accuracy where there are clicks, plus click-point
    accuracy where the heads place clicks inside their cell (the lead clicks where that head says)."""
    return (m["type_acc"] or 0.0) + (m["loc_acc"] or 0.0) + (m.get("point_acc") or 0.0)
