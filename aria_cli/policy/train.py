"""`aria train-policy`: policy heads on the frozen world model, trained on cached masked features.

    aria train-policy                      # after train-wm; features are computed once and cached
    aria train-policy --epochs 80 --resume

Writes `checkpoints/policy/`: model.safetensors + config.json (best by val), train_state.pt (optimizer,
epoch, RNG: `--resume` continues), metrics.json (per game: type_acc, loc_acc, top-3 of both, and the
baselines "most frequent type" and "repeat the previous action" beside them).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import TextColumn
from rich.table import Table

from aria_cli.common import atomic, ui
from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.policy.features import StepFeatures, load_or_extract
from aria_cli.policy.heads import TYPE_ATTENTION_HEADS, PolicyConfig, PolicyHeads, policy_loss
from aria_cli.stack import world_model_fingerprint
from aria_cli.vocab import CLICK, N_TYPES

ALL = "all"


@dataclass
class PolicyTrainConfig:
    data: Path = Path("recordings")
    checkpoints: Path = Path("checkpoints")
    epochs: int = 50
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 0.01
    patience: int = 10  # epochs without val improvement before stopping early
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    skip_bad: bool = False
    type_attention_heads: int = TYPE_ATTENTION_HEADS  # 0: DESIGN.md's type head on the summary alone
    previous_frame: bool = True  # False: the heads read step t's states only (see PolicyConfig)
    force: bool = False  # use a world model trained with another tokenizer (aria_cli.stack), with a warning


def policy_dir(checkpoints: Path) -> Path:
    return Path(checkpoints) / "policy"


def world_model_folder(checkpoints: Path) -> Path:
    folder = Path(checkpoints) / "world_model" / "best"
    if not (folder / "config.json").exists():
        raise CheckpointError(f"no world model under {folder}: run `aria train-wm` first")
    return folder


@torch.no_grad()
def predict(heads: PolicyHeads, feats: StepFeatures, device: str, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Type logits (N, 8) and location logits (N, 65) for every step."""
    heads.eval()
    tl, ll = [], []
    for i in range(0, len(feats), batch):
        t, loc = heads(*step_inputs(feats, np.arange(i, min(i + batch, len(feats))), device))
        tl.append(t.float().cpu().numpy())
        ll.append(loc.float().cpu().numpy())
    if not tl:
        return np.zeros((0, N_TYPES)), np.zeros((0, 65))
    return np.concatenate(tl), np.concatenate(ll)


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
    feats: StepFeatures,
    most_frequent: dict[str, int],
    games: list[str],
    allowed: np.ndarray | None = None,
) -> dict:
    """Per game (and all): accuracy, top-3, and the two baselines. `games[i]` is step i's game; with
    `allowed` (N, 8) the type prediction is restricted to the game's actions, as the agent's is."""
    games_arr = np.asarray(games)
    if allowed is not None:
        type_logits = np.where(allowed, type_logits, -np.inf)
    out = {}
    for g in [*sorted(set(games)), ALL]:
        sel = np.ones(len(games_arr), bool) if g == ALL else games_arr == g
        t, pt = feats.types[sel], feats.prev_types[sel]
        click = t == CLICK
        loc, ploc = feats.locs[sel][click], feats.prev_locs[sel][click]
        mf = most_frequent.get(g, most_frequent.get(ALL, 0))
        out[g] = {
            "steps": int(sel.sum()),
            "clicks": int(click.sum()),
            "type_acc": _mean(type_logits[sel].argmax(1) == t),
            "type_top3": _mean(_topk_hit(type_logits[sel], t, 3)),
            "loc_acc": _mean(loc_logits[sel][click].argmax(1) == loc),
            "loc_top3": _mean(_topk_hit(loc_logits[sel][click], loc, 3)),
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
    for col in ("game", "steps", "type", "type top3", "most freq", "repeat", "loc", "loc top3", "repeat loc"):
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


def _score(m: dict) -> float:
    """Model selection: type accuracy plus location accuracy where there are clicks."""
    return (m["type_acc"] or 0.0) + (m["loc_acc"] or 0.0)


def load_features(cfg: PolicyTrainConfig, device: str, check: bool = True):
    """The token cache, the frozen world model, and its cached features (built when stale). `check`: refuse
    a world model trained with another tokenizer (aria_cli.stack; False when the caller checked already)."""
    from aria_cli.data.token_cache import build_token_cache
    from aria_cli.stack import check_stack
    from aria_cli.world_model.model import WorldModel

    wm_folder = world_model_folder(cfg.checkpoints)
    if check:
        check_stack(cfg.checkpoints, force=cfg.force, policy=False)
    cache = build_token_cache(cfg.data, cfg.checkpoints, skip_bad=cfg.skip_bad, device=device)
    wm = WorldModel.load(wm_folder, device=device)
    for p in wm.parameters():
        p.requires_grad_(False)
    with ui.progress(transient=True) as prog:
        feats, reused = load_or_extract(wm, wm_folder, cache, policy_dir(cfg.checkpoints) / "features", prog)
    return cache, wm, feats, reused, game_action_sets(cache, cfg.data)


def train_policy(cfg: PolicyTrainConfig) -> dict:
    from aria_cli.common.devices import resolve_device

    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    out_dir = policy_dir(cfg.checkpoints)
    cache, wm, feats, reused, action_sets = load_features(cfg, device)
    ui.console.print(
        f"features: {len(feats)} steps from {len(cache.episodes)} recordings "
        f"({'reused cache' if reused else 'computed'}, {time.time() - t0:.1f} s)"
    )
    split = np.array([cache.episodes[e].split for e in feats.episode])
    games = [cache.episodes[e].game for e in feats.episode]
    tr_idx, va_idx = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    if len(tr_idx) == 0:
        raise AriaError(f"no training steps under {cfg.data} ({len(feats)} steps, all in val); record more episodes")
    train, val = feats.take(tr_idx), feats.take(va_idx)
    tr_games, va_games = [games[i] for i in tr_idx], [games[i] for i in va_idx]
    if len(val) == 0:  # a single recording per game: report on train, and say so
        ui.print_warning("no val recordings: metrics below are on the training steps")
        val, va_games = train, tr_games
    most_frequent = most_frequent_types(train, tr_games)
    allowed_tr, allowed_va = allowed_mask(tr_games, action_sets), allowed_mask(va_games, action_sets)

    heads = PolicyHeads(PolicyConfig(hidden_size=train.summary.shape[1], world_model_fingerprint=feats.key,
                                      world_model_checkpoint=world_model_fingerprint(world_model_folder(cfg.checkpoints)),
                                      type_attention_heads=cfg.type_attention_heads,
                                      previous_frame=cfg.previous_frame)).to(device)
    opt = torch.optim.AdamW(heads.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state_path = out_dir / "train_state.pt"
    start_epoch, best, since_best, history = 0, -1.0, 0, []
    if cfg.resume:
        if not state_path.exists():
            raise CheckpointError(f"--resume: no training state at {state_path}; start without --resume")
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        saved = (st["config"]["batch_size"], st["config"].get("type_attention_heads", 0),
                 st["config"].get("previous_frame", False))
        if st["features_key"] != feats.key or saved != (cfg.batch_size, cfg.type_attention_heads, cfg.previous_frame):
            raise CheckpointError(f"--resume: {state_path} is from another world model, data, batch size, "
                                  "--type-attention-heads or --previous-frame setting")
        heads.load_state_dict(st["heads"])
        opt.load_state_dict(st["optimizer"])
        torch.set_rng_state(st["torch_rng"])
        start_epoch, best, since_best, history = st["epoch"], st["best"], st["since_best"], st["history"]

    t_tr, l_tr = torch.from_numpy(train.types), torch.from_numpy(train.locs)
    a_tr = torch.from_numpy(allowed_tr)
    gen = torch.Generator().manual_seed(cfg.seed)
    result = None
    with ui.progress(TextColumn("{task.fields[info]}")) as prog:
        task = prog.add_task("train-policy", total=cfg.epochs, completed=start_epoch, info="")
        for epoch in range(start_epoch, cfg.epochs):
            gen.manual_seed(cfg.seed * 1000 + epoch)  # per-epoch order: identical after --resume
            heads.train()
            perm = torch.randperm(len(train), generator=gen)
            total = 0.0
            for i in range(0, len(perm), cfg.batch_size):
                b = perm[i : i + cfg.batch_size]
                tl, ll = heads(*step_inputs(train, b.numpy(), device))
                loss = policy_loss(tl, ll, t_tr[b].to(device), l_tr[b].to(device), a_tr[b].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(b)
            tl, ll = predict(heads, val, device)
            result = policy_metrics(tl, ll, val, most_frequent, va_games, allowed_va)
            score = _score(result[ALL])
            history.append({"epoch": epoch + 1, "train_loss": total / len(train), **{
                k: result[ALL][k] for k in ("type_acc", "loc_acc")}})
            if score > best:
                best, since_best = score, 0
                heads.save(out_dir)
            else:
                since_best += 1
            state = {
                "heads": heads.state_dict(), "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                "epoch": epoch + 1, "best": best, "since_best": since_best, "history": history,
                "features_key": feats.key,
                "config": {"batch_size": cfg.batch_size, "type_attention_heads": cfg.type_attention_heads,
                           "previous_frame": cfg.previous_frame},
            }
            atomic.write_with(state_path, lambda p, st=state: torch.save(st, p))
            prog.update(task, advance=1, info=f"loss {total / len(train):.3f}  val type {ui.pct(result[ALL]['type_acc'])}"
                        f"  loc {ui.pct(result[ALL]['loc_acc'])}")
            if since_best >= cfg.patience:
                ui.console.print(f"stopping early: val accuracy has not improved for {cfg.patience} epochs")
                break
    best_heads = PolicyHeads.load(out_dir, device=device)
    tl, ll = predict(best_heads, val, device)
    result = policy_metrics(tl, ll, val, most_frequent, va_games, allowed_va)
    metrics = {
        "games": {g: m for g, m in result.items() if g != ALL},
        ALL: result[ALL],
        "train_steps": len(train),
        "val_steps": len(val) if val is not train else 0,
        "features_reused": reused,
        "action_sets": {g: list(a) for g, a in action_sets.items()},
        "seconds": round(time.time() - t0, 1),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "history": history,
    }
    atomic.write_json(out_dir / "metrics.json", metrics)
    ui.console.print(metrics_table(result))
    ui.console.print(f"saved {out_dir} ({metrics['seconds']} s)")
    return metrics
