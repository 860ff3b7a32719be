"""`aria quickstart` (`make quickstart`): the whole pipeline, offline, on the bundled games.

    record demonstrations → train-vqvae → tokenize → train-wm → train-policy → eval → play each game

Sized to be the first thing a new user runs (minutes on a laptop CPU). A second run reuses every stage
whose inputs have not changed: recordings that are there, a tokenizer trained on the same recordings, a
world model trained on the same token cache, a policy trained on the same world model (the inputs'
fingerprints are kept in `CHECKPOINTS/quickstart.json`). `--full` runs the full-size version (more
episodes, the default epochs and no time caps).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from rich.rule import Rule
from rich.table import Table

from aria_cli.common import atomic, ui
from aria_cli.tokenizer.train import TokenizerTrainConfig
from aria_cli.training import checkpoints as ck
from aria_cli.world_model.backbones import TINY, TinyArch

# Episodes per game: recording is cheap and the world model's minutes are fixed, so more episodes buy
# generalisation rather than time; the click games get more, so their location heads see enough clicks
# (docs/RESULTS.md has the measurements behind these numbers).
QUICK_EPISODES = {"qmaz": 24, "qtgl": 90, "qmix": 60, "qpsh": 30}
FULL_EPISODES = {"qmaz": 40, "qtgl": 150, "qmix": 100, "qpsh": 50}
# The bundled games' tokenizer: the small model with the shorter schedule it was measured with. Their
# shortfall is cells never seen in training (docs/RESULTS.md §4), which more steps do not fix.
QUICK_TOKENIZER = {"lr": 5e-3, "min_steps_per_epoch": 128, "max_steps_per_epoch": 200, "epochs": 24}


def quick_tokenizer_config(seed: int = 0, **overrides) -> TokenizerTrainConfig:
    """The bundled games' tokenizer settings (the small model, QUICK_TOKENIZER), with `overrides`."""
    return TokenizerTrainConfig.for_size("small", seed=seed, **{**QUICK_TOKENIZER, **overrides})


@dataclass
class QuickstartConfig:
    data: Path = Path("recordings")
    checkpoints: Path = Path("checkpoints")
    full: bool = False
    noise: float = 0.05
    seed: int = 0
    # World-model training budget (quick version); validation and the final metrics come on top of it, and
    # the whole quickstart has to fit in 15 minutes on 2 CPU cores, install included.
    wm_minutes: float = 4.5
    max_actions: int = 1000
    device: str = "auto"
    eval_dir: Path = Path("eval")
    runs_dir: Path = Path("runs")
    # Sizes, for calling the pipeline from Python at another scale (the tests run it in miniature).
    episodes: dict[str, int] | None = None  # game → episodes; None: QUICK_EPISODES (FULL_EPISODES with full)
    vqvae: TokenizerTrainConfig | None = None  # None: quick_tokenizer_config()
    wm_arch: TinyArch | None = None  # None: the tiny preset
    # None: `tiny` for the quick run on any device, so a GPU machine without SmolLM2 in its Hugging Face cache
    # also runs it offline; with `full`, train-wm's default for the device (smollm2-360m on a GPU).
    backbone: str | None = None
    wm_epochs: int | None = None  # None: train-wm's default, capped by wm_minutes unless full
    policy_epochs: int = 50

    @property
    def wm_backbone(self) -> str | None:
        return self.backbone or (None if self.full else TINY)

    @property
    def games(self) -> dict[str, int]:
        return self.episodes or (FULL_EPISODES if self.full else QUICK_EPISODES)


def _state_path(cfg: QuickstartConfig) -> Path:
    return Path(cfg.checkpoints) / ck.QUICKSTART_FILE


def _load_state(cfg: QuickstartConfig) -> dict:
    try:
        return json.loads(_state_path(cfg).read_text())
    except (OSError, ValueError):
        return {}


def _save_state(cfg: QuickstartConfig, state: dict) -> None:
    atomic.write_json(_state_path(cfg), state)


def recordings_fingerprint(data: Path) -> str:
    from aria_cli.data.recordings import find_recordings
    from aria_cli.data.token_cache import relative_key

    return ck.files_fingerprint([(relative_key(p, data), p) for p in find_recordings(data)])


def _stage(cfg: QuickstartConfig, name: str):
    ui.console.print(Rule(f"[bold]{name}"))
    return time.time()


def record_stage(cfg: QuickstartConfig) -> None:
    from aria_cli.games.record import record_game

    for game, n in cfg.games.items():
        folder = Path(cfg.data) / game
        have = len(list(folder.glob("*.jsonl"))) if folder.is_dir() else 0
        if have >= n:
            ui.console.print(f"{game}: {have} recordings in {folder} [dim](up to date)[/]")
            continue
        # New episodes continue the seed sequence, so they differ from the ones already there.
        record_game(game, episodes=n - have, noise=cfg.noise, seed=cfg.seed + have, out_dir=folder, quiet=True)
        ui.console.print(f"{game}: recorded {n - have} episodes → {folder}")


def _train_stages(cfg: QuickstartConfig, device: str, times: dict[str, float]) -> None:
    """Stages 2-5, each skipped when its inputs are those it was last trained on (quickstart.json)."""
    from aria_cli.data.cache_report import summary_table
    from aria_cli.data.token_cache import build_token_cache
    from aria_cli.policy.features import checkpoint_fingerprint
    from aria_cli.policy.train import PolicyTrainConfig, train_policy
    from aria_cli.tokenizer import model as vqvae
    from aria_cli.tokenizer.train import train_vqvae
    from aria_cli.world_model.train import WorldModelTrainConfig, train_world_model

    state = _load_state(cfg)
    t = _stage(cfg, "2/7 train the frame tokenizer (train-vqvae)")
    rec_fp = recordings_fingerprint(cfg.data)
    if vqvae.tokenizer_exists(cfg.checkpoints) and state.get("vqvae") == rec_fp:
        ui.console.print("tokenizer is up to date (same recordings) — reused")
    else:
        train_vqvae(cfg.data, cfg.checkpoints, cfg.vqvae or quick_tokenizer_config(cfg.seed), device=device)
        state["vqvae"] = rec_fp
        _save_state(cfg, state)
    times["train-vqvae"] = time.time() - t

    t = _stage(cfg, "3/7 tokenize")
    cache = build_token_cache(cfg.data, cfg.checkpoints, device=device, quiet=False)
    ui.console.print(summary_table(cache))
    times["tokenize"] = time.time() - t

    t = _stage(cfg, "4/7 train the world model (train-wm)")
    wm_best = ck.world_model_best(cfg.checkpoints)
    wm_key = f"{cache.fingerprint}:{cfg.wm_backbone or 'device default'}"
    if (wm_best / ck.CONFIG_FILE).exists() and state.get("world_model") == wm_key:
        ui.console.print("world model is up to date (same token cache) — reused")
    else:
        train_world_model(WorldModelTrainConfig(
            data=cfg.data, checkpoints=cfg.checkpoints, device=cfg.device, seed=cfg.seed,
            time_budget=0 if cfg.full else cfg.wm_minutes, epochs=cfg.wm_epochs, arch=cfg.wm_arch,
            backbone=cfg.wm_backbone,
        ))  # fmt: skip
        state["world_model"] = wm_key
        _save_state(cfg, state)
    times["train-wm"] = time.time() - t

    t = _stage(cfg, "5/7 train the policy heads (train-policy)")
    wm_fp = checkpoint_fingerprint(wm_best)
    if (ck.policy_dir(cfg.checkpoints) / ck.MODEL_FILE).exists() and state.get("policy") == wm_fp:
        ui.console.print("policy is up to date (same world model) — reused")
    else:
        train_policy(PolicyTrainConfig(data=cfg.data, checkpoints=cfg.checkpoints, device=cfg.device, seed=cfg.seed,
                                       epochs=cfg.policy_epochs))
        state["policy"] = wm_fp
        _save_state(cfg, state)
    times["train-policy"] = time.time() - t


def quickstart(cfg: QuickstartConfig) -> dict:
    from aria_cli.common.devices import resolve_device
    from aria_cli.evaluation.evaluate import EvalConfig, evaluate_pipeline, print_report
    from aria_cli.play.run import PlayConfig, agent_factories, play_single

    device = resolve_device(cfg.device)
    times: dict[str, float] = {}
    t_all = time.time()

    t = _stage(cfg, "1/7 record demonstrations of the bundled games")
    record_stage(cfg)
    times["record"] = time.time() - t
    _train_stages(cfg, device, times)

    t = _stage(cfg, "6/7 evaluate: decision gates on the val split (eval --all-games)")
    result = evaluate_pipeline(EvalConfig(data=cfg.data, checkpoints=cfg.checkpoints, out_dir=cfg.eval_dir, device=cfg.device))
    print_report(result)
    times["eval"] = time.time() - t

    t = _stage(cfg, f"7/7 play every bundled game (world-model agent, {cfg.max_actions} actions)")
    play_cfg = PlayConfig(games=list(cfg.games), checkpoints=cfg.checkpoints, max_actions=cfg.max_actions,
                          render="none", record_dir=cfg.runs_dir, device=cfg.device, seeds=[cfg.seed])
    factories = agent_factories(play_cfg)
    runs = []
    for game in cfg.games:
        r = play_single(play_cfg, game, "world-model", cfg.seed, factories)
        ui.console.print(f"{game}: {r.levels_completed} of {r.win_levels} levels in {r.actions} actions "
                         f"({r.ms_per_action:.1f} ms/action)" + (f" — error: {r.error}" if r.error else ""))
        runs.append(r)
    times["play"] = time.time() - t
    times["total"] = time.time() - t_all

    ui.console.print(Rule("[bold]summary"))
    ui.console.print(final_table(result, runs, times))
    return {"eval": result, "runs": [r.to_json() for r in runs], "seconds": times}


def final_table(result: dict, runs, times: dict[str, float]) -> Table:
    from aria_cli.evaluation.evaluate import gate_cell

    t = Table(title="aria quickstart", title_justify="left")
    t.add_column("game")
    t.add_column("frame acc (copy)", justify="right")
    t.add_column("policy type / loc", justify="right")
    t.add_column("gates", justify="center")
    t.add_column("levels in play", justify="right")
    t.add_column("actions", justify="right")
    total_levels = total_win = 0
    for r in runs:
        m = result["games"].get(r.game, {})
        gates = m.get("gates", {})
        passed = sum(bool(v) for v in gates.values())
        gate_txt = "[yellow]no data[/]" if m.get("no_data") else (
            gate_cell(all(gates.values())) + f" {passed}/{len(gates)}")
        t.add_row(
            r.game,
            f"{ui.pct(m.get('frame_acc'))} ({ui.pct(m.get('copy_frame_acc'))})",
            f"{ui.pct(m.get('policy_type_acc'))} / {ui.pct(m.get('policy_loc_acc'))}",
            gate_txt,
            f"{r.levels_completed} of {r.win_levels}",
            str(r.actions),
        )
        total_levels += r.levels_completed
        total_win += r.win_levels
    t.add_section()
    t.add_row("[bold]all[/]", "", "", "", f"[bold]{total_levels} of {total_win}[/]", "")
    stages = ", ".join(f"{k} {v:.0f}s" for k, v in times.items() if k != "total")
    t.caption = f"{stages} — total {times['total'] / 60:.1f} min"
    return t
