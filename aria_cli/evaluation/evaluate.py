"""`aria eval`: decision-gate metrics per game, as tables and JSON, plus a demo replay picture.

    aria eval --all-games                       # val split, default gates
    aria eval --game qmaz --game qtgl --json eval.json --strict
    aria eval --all-games --gates gates.toml --split all

World-model metrics are the shared definitions of aria_cli.world_model.metrics (each beside its copy-frame
baseline); policy metrics those of aria_cli.policy.metrics. Demo replay: for sampled val steps the world
model decodes its greedy next frame (64 codes given the context and the true action, then the
tokenizer's decoder), scored by pixel accuracy against the real next frame, beside the
copy-last-frame baseline; `eval/<game>.png` shows a few steps as actual / predicted / difference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from aria_cli.common import atomic, ui
from aria_cli.common.errors import AriaError
from aria_cli.evaluation.gates import check_gates, load_gates
from aria_cli.vocab import FRAME_TOKENS, N_CELLS

SPLITS = ("val", "train", "all")
# Demo-replay contexts decoded together: where steps are bound by kernel launches (a GPU), a batch costs
# little more than one context (SmolLM2-360M's shape on an H100: 16 contexts in 9.2 s, one in 3.3 s).
REPLAY_BATCH = 16


@dataclass
class EvalConfig:
    data: Path = Path("recordings")
    checkpoints: Path = Path("checkpoints")
    games: list[str] = field(default_factory=list)  # empty = all games
    split: str = "val"
    json_out: Path | None = None
    gates_file: Path | None = None
    out_dir: Path = Path("eval")
    replay_steps: int = 16  # demo-replay steps per game (each decodes 64 codes one by one)
    device: str = "auto"
    skip_bad: bool = False
    force: bool = False  # evaluate a stale stack (aria_cli.stack), with a warning


def _episodes(cache, split: str, games: list[str]) -> list[int]:
    ids = range(len(cache.episodes)) if split == "all" else cache.split(split)
    return [i for i in ids if not games or cache.episodes[i].game in games]


@torch.no_grad()
def greedy_next_frames(wm, contexts: list[np.ndarray], n_codes: int | None = None) -> np.ndarray:
    """The world model's greedy 64 codes after each context (base-0 tokens ending where a [FRAME] goes, i.e.
    after an action), decoded as one left-padded batch: [FRAME] is written, then each code is the argmax
    over the tokenizer's `n_codes` codes (a codebook may use fewer than the layout's slots; the rest
    can never be decoded; default: every slot). (B, 64) int64."""
    n_codes = n_codes or wm.v0.n_codes
    ctx = [torch.as_tensor(np.append(c, wm.v0.frame), dtype=torch.long) for c in contexts]
    state = wm.prefill_left_padded(ctx)
    codes = torch.empty(len(ctx), N_CELLS, dtype=torch.long, device=wm.device)
    logits = state.logits
    for i in range(N_CELLS):
        codes[:, i] = logits[:, :n_codes].argmax(-1)
        if i + 1 < N_CELLS:
            step_logits, state = wm.extend(state, codes[:, i : i + 1])
            logits = step_logits[:, -1]
    return codes.cpu().numpy()


def demo_replay(wm, tokenizer, cache, data_dir: Path, episode_ids: list[int], n_steps: int, rng) -> dict:
    """Pixel accuracy of greedy next-frame predictions on sampled steps, beside copying the last frame and
    beside decoding the true next frame's codes: the score of a world model that never errs, which the
    tokenizer's reconstruction error keeps below 100% (copying the real last frame pays no such cost)."""
    from aria_cli.data.recordings import read_recording
    from aria_cli.world_model.data import eval_windows

    windows = eval_windows(cache, episode_ids, wm.config.context_steps)
    # Candidate steps: (window, position of the frame block whose action we condition on, of the next one).
    cands = []
    for w in range(len(windows)):
        tok = cache.tokens[windows.start[w] : windows.end[w]]
        pos = np.flatnonzero(tok == wm.v0.frame)
        for p, q in zip(pos[:-1], pos[1:], strict=True):  # a whole next frame must follow in the window
            if q + FRAME_TOKENS <= len(tok):
                cands.append((w, int(p), int(q)))
    if not cands or n_steps == 0:
        return {"steps": 0, "pixel_acc": None, "copy_pixel_acc": None, "true_codes_pixel_acc": None, "examples": []}
    pick = sorted(rng.choice(len(cands), size=min(n_steps, len(cands)), replace=False))
    frames_by_ep: dict[int, np.ndarray] = {}
    contexts, truths, pairs = [], [], []
    for k in pick:
        w, p, q = cands[k]
        ep = int(windows.episode[w])
        entry = cache.episodes[ep]
        if ep not in frames_by_ep:
            frames_by_ep[ep] = read_recording(data_dir / entry.file, skip_bad=True).episode().frames
        abs_pos = windows.start[w] + p
        tok = cache.tokens[windows.start[w] : windows.end[w]]
        # The context runs up to the next [FRAME]: the true action and level outcome are part of it.
        contexts.append(tok[:q])
        truths.append(tok[q + 1 : q + FRAME_TOKENS] - wm.v0.code0)  # the next frame's codes, after its [FRAME]
        frame_idx = int(np.searchsorted(entry.frame_offsets, abs_pos - entry.start))
        pairs.append((frames_by_ep[ep][frame_idx], frames_by_ep[ep][frame_idx + 1]))
    predicted_codes = np.concatenate([
        greedy_next_frames(wm, contexts[i : i + REPLAY_BATCH], tokenizer.config.codebook_size)
        for i in range(0, len(contexts), REPLAY_BATCH)
    ])  # fmt: skip
    predicted = tokenizer.decode(predicted_codes)
    decoded_truth = tokenizer.decode(np.stack(truths))
    acc, copy_acc, true_acc, examples = [], [], [], []
    for (actual_now, actual_next), pred, truth in zip(pairs, predicted, decoded_truth, strict=True):
        acc.append(float((pred == actual_next).mean()))
        copy_acc.append(float((actual_now == actual_next).mean()))
        true_acc.append(float((truth == actual_next).mean()))
        examples.append((actual_now, actual_next, pred))
    return {
        "steps": len(acc),
        "pixel_acc": float(np.mean(acc)),
        "copy_pixel_acc": float(np.mean(copy_acc)),
        "true_codes_pixel_acc": float(np.mean(true_acc)),
        "examples": examples,
    }


def replay_picture(examples, path: Path, n: int = 4) -> None:
    from aria_cli.common.palette import diff_to_rgb, frame_grid, save_png

    # Prefer steps where something changed: those show what the model predicts.
    ranked = sorted(examples, key=lambda e: -int((e[0] != e[1]).sum()))[:n]
    rows = [[now, nxt, pred, diff_to_rgb(nxt, pred, scale=4)] for now, nxt, pred in ranked]
    img = frame_grid(rows, col_labels=["frame t", "actual t+1", "predicted t+1", "difference"], scale=4)
    save_png(img, path)


def evaluate_pipeline(cfg: EvalConfig) -> dict:
    from aria_cli.common.devices import resolve_device, torch_threads
    from aria_cli.policy.features import load_features, world_model_folder
    from aria_cli.policy.heads import PolicyHeads
    from aria_cli.policy.metrics import ALL
    from aria_cli.stack import check_stack
    from aria_cli.tokenizer import model as vqvae
    from aria_cli.training.checkpoints import policy_dir
    from aria_cli.world_model.data import eval_windows
    from aria_cli.world_model.metrics import evaluate_world_model

    if cfg.split not in SPLITS:
        raise AriaError(f"--split must be one of {', '.join(SPLITS)}, got {cfg.split!r}")
    t0 = time.time()
    gates = load_gates(cfg.gates_file)
    device = resolve_device(cfg.device)
    if cfg.json_out is not None:
        atomic.check_writable(cfg.json_out, "--json")
    atomic.check_writable(cfg.out_dir, "--out", folder=True)
    world_model_folder(cfg.checkpoints)  # fail fast, naming what to run
    PolicyHeads.load(policy_dir(cfg.checkpoints))
    check_stack(cfg.checkpoints, force=cfg.force)
    cache, wm, feats, _, action_sets = load_features(cfg.data, cfg.checkpoints, device, cfg.skip_bad)
    known = cache.games()
    unknown = [g for g in cfg.games if g not in known]
    if unknown:
        raise AriaError(f"--game {unknown[0]}: no recordings of it under {cfg.data} (games there: {', '.join(known)})")
    games = cfg.games or known
    heads = PolicyHeads.load(policy_dir(cfg.checkpoints), device=device)
    tokenizer = vqvae.load_tokenizer(cfg.checkpoints, device=device)

    ep_ids = _episodes(cache, cfg.split, games)
    wm_result = evaluate_world_model(wm, cache, eval_windows(cache, ep_ids, wm.config.context_steps)).result() if ep_ids else {
        "games": {}}

    pol = _policy_scores(heads, feats, cache, ep_ids, action_sets, device)

    rng = np.random.default_rng(0)
    out_games: dict[str, dict] = {}
    for g in games:
        ids = [i for i in ep_ids if cache.episodes[i].game == g]
        w = wm_result["games"].get(g)
        p = pol.get(g)
        if not ids or w is None:
            out_games[g] = {"no_data": True, "gates": {}}
            continue
        with torch_threads(1):
            replay = demo_replay(wm, tokenizer, cache, cfg.data, ids, cfg.replay_steps, rng)
        if replay["examples"]:
            replay_picture(replay["examples"], cfg.out_dir / f"{g}.png")
        m = _game_metrics(w, p, replay, len(ids))
        m["gates"] = {k: v for k, v in check_gates(m, gates).items() if v is not None}
        out_games[g] = m
    result = {
        "split": cfg.split,
        "gates_thresholds": gates,
        "games": out_games,
        "seconds": round(time.time() - t0, 1),
    }
    if ALL in pol:
        result["policy_all"] = pol[ALL]
    if cfg.json_out is not None:
        atomic.write_json(cfg.json_out, result)
    return result


def _policy_scores(heads, feats, cache, ep_ids: list[int], action_sets: dict, device: str) -> dict:
    """The policy metrics on the steps of `ep_ids`, with baselines taken from the train split."""
    from aria_cli.policy.metrics import allowed_mask, most_frequent_types, policy_metrics, predict

    ep_games = np.array([cache.episodes[e].game for e in feats.episode])
    ep_split = np.array([cache.episodes[e].split for e in feats.episode])
    train_sel = np.flatnonzero(ep_split == "train")
    most_frequent = most_frequent_types(feats.take(train_sel), list(ep_games[train_sel]))
    sel = np.flatnonzero(np.isin(feats.episode, ep_ids))
    if not len(sel):
        return {}
    pf = feats.take(sel)
    tl, ll, points = predict(heads, pf, device)
    sel_games = list(ep_games[sel])
    return policy_metrics(tl, ll, points, pf, most_frequent, sel_games, allowed_mask(sel_games, action_sets))


_WM_KEYS = ("frame_acc", "copy_frame_acc", "changed_acc", "action_type_acc", "action_loc_acc",
            "level_precision", "level_recall", "perplexity")
_POLICY_KEYS = {"policy_type_acc": "type_acc", "policy_loc_acc": "loc_acc", "policy_type_top3": "type_top3",
                "policy_loc_top3": "loc_top3", "policy_point_acc": "point_acc",
                "baseline_most_frequent_type": "baseline_most_frequent_type",
                "baseline_repeat_type": "baseline_repeat_type", "baseline_repeat_loc": "baseline_repeat_loc"}


def _game_metrics(wm: dict, policy: dict | None, replay: dict, episodes: int) -> dict:
    """One game's row of eval metrics: world model, policy (None without val steps) and demo replay."""
    m = {k: wm.get(k) for k in _WM_KEYS}
    m.update({k: policy[v] if policy else None for k, v in _POLICY_KEYS.items()})
    m.update(replay_pixel_acc=replay["pixel_acc"], replay_copy_pixel_acc=replay["copy_pixel_acc"],
             replay_true_codes_pixel_acc=replay["true_codes_pixel_acc"], replay_steps=replay["steps"],
             episodes=episodes)
    return m


def gate_cell(ok: bool | None) -> str:
    return "[dim]n/a[/]" if ok is None else ("[bold green]PASS[/]" if ok else "[bold red]FAIL[/]")


def game_table(game: str, m: dict, gates: dict[str, float]) -> Table:
    t = Table(title=f"{game}", title_justify="left", show_header=True)
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("baseline", justify="right")
    t.add_column("gate", justify="center")
    if m.get("no_data"):
        t.add_row("[yellow]no data[/]", "no recordings of this game in the split", "", "")
        return t
    rows = [
        ("frame_acc", "frame_acc", "copy_frame_acc", "copy last frame"),
        ("changed_acc", "changed_acc", None, ""),
        ("action_type_acc", "action_type_acc", None, ""),
        ("action_loc_acc (clicks)", "action_loc_acc", None, ""),
        ("level_precision", "level_precision", None, ""),
        ("level_recall", "level_recall", None, ""),
        ("policy_type_acc", "policy_type_acc", "baseline_most_frequent_type", "most frequent type"),
        ("policy_type_acc", None, "baseline_repeat_type", "repeat previous"),
        ("policy_loc_acc (clicks)", "policy_loc_acc", "baseline_repeat_loc", "repeat previous"),
        ("policy_point_acc (clicks)", "policy_point_acc", None, ""),
        ("replay pixel acc", "replay_pixel_acc", "replay_copy_pixel_acc", "copy last frame"),
        ("replay pixel acc", None, "replay_true_codes_pixel_acc", "true codes decoded"),
    ]
    for label, key, base, base_label in rows:
        value = m.get(key) if key else None
        baseline = m.get(base) if base else None
        if key is None:
            label = "  "
        vs = "—" if key is None else ui.pct(value)
        if key and base and value is not None and baseline is not None:
            vs = f"[{'green' if value > baseline else 'red'}]{vs}[/]"
        bs = f"{ui.pct(baseline)} {base_label}" if base else ""
        gate = gate_cell(m["gates"].get(key)) if key in gates else ""
        t.add_row(label, vs, bs, gate)
    ppl = m.get("perplexity")
    t.add_row("perplexity", "—" if ppl is None else f"{ppl:.2f}", "", "")
    return t


def summary_table(result: dict) -> Table:
    gates = result["gates_thresholds"]
    t = Table(title=f"decision gates ({result['split']} split)", title_justify="left")
    t.add_column("game")
    for g, thr in gates.items():
        t.add_column(f"{g} > {thr:.0%}", justify="center")
    for game, m in result["games"].items():
        if m.get("no_data"):
            t.add_row(game, *["[yellow]no data[/]"] * len(gates))
            continue
        t.add_row(game, *[f"{gate_cell(m['gates'].get(g))} {ui.pct(m.get(g)) if m.get(g) is not None else ''}"
                          for g in gates])
    return t


def any_gate_failed(result: dict) -> bool:
    return any(v is False for m in result["games"].values() for v in m.get("gates", {}).values())


def print_report(result: dict) -> None:
    for game, m in result["games"].items():
        ui.console.print(game_table(game, m, result["gates_thresholds"]))
    ui.console.print(summary_table(result))

