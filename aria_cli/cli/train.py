"""Commands that train: train-vqvae, eval-tokenizer, tokenize, train-wm, train-policy, and eval of what they trained."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aria_cli.cli.app import (
    DEFAULT_CHECKPOINTS,
    DEFAULT_DATA,
    CheckpointsOpt,
    DataOpt,
    DeviceOpt,
    ForceOpt,
    ReportToOpt,
    SeedOpt,
    SkipBadOpt,
    command,
    console,
)
from aria_cli.common.errors import AriaError
from aria_cli.world_model.presets import PRESETS


# --------------------------------------------------------------------------- frame tokenizer
@command("train-vqvae")
def train_vqvae(
    data: DataOpt = DEFAULT_DATA,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    # The defaults are TokenizerTrainConfig's (a test checks they agree; importing it here would slow --help).
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="At most this many epochs (stops early when val accuracy stalls).")] = 48,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Frames per step.")] = 32,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate (AdamW, cosine decay).")] = 1e-2,
    size: Annotated[str, typer.Option("--size", help="Model size: large (what real ARC-AGI-3 frames need) or small (~2.4x faster a step).")] = "large",
    codebook_size: Annotated[int, typer.Option("--codebook-size", min=2, max=4096, help="Codes in the codebook; above 512 the token layout grows with it (and a world model must be trained on it).")] = 512,
    patience: Annotated[
        int, typer.Option("--patience", min=0, help="After this many epochs without a better val accuracy, cool down and stop; 0: never stop early.")
    ] = 3,
    cooldown: Annotated[
        int, typer.Option("--cooldown", min=0, help="Epochs over which the LR falls to its floor once val accuracy stalls, before stopping.")
    ] = 3,
    foreground_weight: Annotated[float, typer.Option(
        "--foreground-weight", min=1.0,
        help="Loss weight of pixels unlike their frame's most common colour (1: all alike); trades a little pixel accuracy for the non-background pixels.",
    )] = 1.0,
    decoder_memory: Annotated[bool, typer.Option(
        "--decoder-memory/--no-decoder-memory",
        help="When training ends, store the training cells under their codes' neighbourhood and decode those exactly.",
    )] = True,
    device: DeviceOpt = "auto",
    threads: Annotated[int, typer.Option(
        "--threads", min=1,
        help="CPU threads for torch: one per idle core is fastest (2 on 2 idle cores: ~1.8x a step); on a busy machine keep 1.",
    )] = 1,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run with its own settings (only --epochs and --threads can change).")
    ] = False,
    seed: SeedOpt = 0,
    skip_bad: SkipBadOpt = False,
    report_to: ReportToOpt = "none",
) -> None:
    """Train the frame tokenizer (VQ-VAE) on every frame of the recordings; best model → CHECKPOINTS/vqvae."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.common.devices import resolve_device
    from aria_cli.tokenizer.model import SIZES
    from aria_cli.tokenizer.train import TokenizerTrainConfig
    from aria_cli.tokenizer.train import train_vqvae as core

    if size not in SIZES:
        raise AriaError(f"--size must be one of {', '.join(SIZES)}, not {size!r}")
    check_writable(checkpoints, "--checkpoints", folder=True)
    config = TokenizerTrainConfig.for_size(size, epochs=epochs, batch_size=batch_size, lr=lr, codebook_size=codebook_size,
                                           patience=patience, cooldown=cooldown, seed=seed, report_to=report_to,
                                           foreground_weight=foreground_weight, threads=threads,
                                           decoder_memory=decoder_memory)
    core(data, checkpoints, config, device=resolve_device(device), resume=resume, skip_bad=skip_bad)


@command("eval-tokenizer")
def eval_tokenizer(
    data: Annotated[Path, typer.Option("--data", help="Recordings to measure on, e.g. of games the tokenizer never saw.")],
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    train_data: Annotated[Path | None, typer.Option(
        "--train-data", help="The recordings the tokenizer was trained on: also report the share of cells new to training.",
    )] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures (overall and per game) as JSON.")] = None,
    device: DeviceOpt = "auto",
    skip_bad: SkipBadOpt = False,
) -> None:
    """Measure a trained tokenizer on other recordings: pixel accuracy, frames exact, per game."""
    from aria_cli.common import atomic, ui
    from aria_cli.common.devices import resolve_device
    from aria_cli.tokenizer.evaluate import evaluate_recordings
    from aria_cli.tokenizer.metrics import decoder_alone, games_table

    if json_out is not None:
        atomic.check_writable(json_out, "--json")
    m = evaluate_recordings(checkpoints, data, train_data, device=resolve_device(device), skip_bad=skip_bad)
    console.print(games_table(m["games"], "recorded"))
    console.print(
        f"{m['val_frames']} frames ({m['val_frames_distinct']} distinct) of {len(m['games'])} games: pixel accuracy "
        f"{ui.pct(m['val_pixel_acc'], 3)}, frames exact {ui.pct(m['val_frame_exact'], 1)}, non-background pixels "
        f"{ui.pct(m['val_foreground_pixel_acc'], 3)}, cells new to training {ui.pct(m['val_cells_unseen'], 2)}"
    )
    if m["decoder_memory_entries"]:
        console.print(decoder_alone(m))
    if json_out is not None:
        atomic.write_json(json_out, m)
        console.print(f"wrote {json_out}")


@command("tokenize")
def tokenize(
    data: DataOpt = DEFAULT_DATA,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    device: DeviceOpt = "auto",
    skip_bad: SkipBadOpt = False,
) -> None:
    """Encode every recording into token trajectories (cached; rebuilt by itself when anything changes)."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.common.devices import resolve_device
    from aria_cli.data.cache_report import summary_table, throughput_line
    from aria_cli.data.token_cache import build_token_cache

    check_writable(checkpoints, "--checkpoints", folder=True)

    cache = build_token_cache(data, checkpoints, skip_bad=skip_bad, device=resolve_device(device), quiet=False)
    console.print(summary_table(cache))
    console.print(throughput_line(cache))


# --------------------------------------------------------------------------- world model
def _preset_help(field: str) -> str:
    """A world-model option's default per preset, read from the presets (e.g. "tiny 4, smollm2-360m 29")."""
    return ", ".join(f"{name} {getattr(p, field)}" for name, p in PRESETS.items() if getattr(p, field) is not None)


@command("train-wm")
def train_wm(
    data: DataOpt = DEFAULT_DATA,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help="Epochs (default 30; on a CPU without --epochs, capped by --time-budget)."),
    ] = None,
    backbone: Annotated[
        str | None,
        typer.Option(
            "--backbone",
            help="tiny | smollm2-360m | a local path or hub id of a Llama-family causal LM "
            "(default: tiny on CPU, smollm2-360m on GPU).",
        ),
    ] = None,
    context_steps: Annotated[
        int | None, typer.Option("--context-steps", min=1, help=f"Steps per window (default: {_preset_help('context_steps')}).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help=f"Windows per process per step (default: {_preset_help('batch_size')}).")
    ] = None,
    lr: Annotated[
        float | None, typer.Option("--lr", help=f"Peak learning rate (default: {_preset_help('lr')}).")
    ] = None,
    lora_rank: Annotated[
        int | None, typer.Option("--lora-rank", min=1, help=f"LoRA rank, alpha = 2 x rank (default: {_preset_help('lora_rank')}).")
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            "--time-budget",
            min=0,
            help="Minutes of training, turned into a number of steps up front (default: 5 on a CPU without "
            "--epochs, else none); 0: no cap.",
        ),
    ] = None,
    action_mask: Annotated[
        float,
        typer.Option(
            "--action-mask",
            min=0.0,
            max=0.9,
            help="Share of training windows read with their actions masked, as the policy reads them "
            "(teaches the MASK embedding; default 0.15).",
        ),
    ] = 0.15,
    val_tokens: Annotated[int, typer.Option(
        "--val-tokens", min=0, help="Val tokens measured after each epoch: a fixed sample of val windows beyond it (0: all).",
    )] = 500_000,
    device: DeviceOpt = "auto",
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue CHECKPOINTS/world_model/last exactly where it stopped.")
    ] = False,
    seed: SeedOpt = 0,
    skip_bad: SkipBadOpt = False,
    report_to: ReportToOpt = "none",
) -> None:
    """Train the world model on token trajectories; best and last → CHECKPOINTS/world_model."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.world_model.train import WorldModelTrainConfig, train_world_model

    check_writable(checkpoints, "--checkpoints", folder=True)

    config = WorldModelTrainConfig(
        data=data, checkpoints=checkpoints, epochs=epochs, backbone=backbone, context_steps=context_steps,
        batch_size=batch_size, lr=lr, lora_rank=lora_rank, time_budget=time_budget, action_mask=action_mask,
        val_tokens=val_tokens, device=device, resume=resume, seed=seed, skip_bad=skip_bad, report_to=report_to,
    )  # fmt: skip
    train_world_model(config)


# --------------------------------------------------------------------------- policy and evaluation
@command("train-policy")
def train_policy(
    data: DataOpt = DEFAULT_DATA,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="At most this many epochs (stops early).")] = 50,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="AdamW learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Steps per batch.")] = 256,
    device: DeviceOpt = "auto",
    lr_schedule: Annotated[str, typer.Option(
        "--lr-schedule", help="constant | cosine (linear warm-up, then cosine decay to a tenth over the epochs).",
    )] = "constant",
    resume: Annotated[bool, typer.Option("--resume", help="Continue CHECKPOINTS/policy/last.")] = False,
    seed: SeedOpt = 0,
    skip_bad: SkipBadOpt = False,
    type_attention_heads: Annotated[int, typer.Option(
        "--type-attention-heads", min=0,
        help="Heads of the type head's attention over the 64 cell states (0: the summary state alone).",
    )] = 8,
    previous_frame: Annotated[bool, typer.Option(
        "--previous-frame/--no-previous-frame",
        help="Let the heads also read the previous step's states (how the frame changed), not only step t's.",
    )] = True,
    click_points: Annotated[bool, typer.Option(
        "--click-points/--no-click-points",
        help="Also learn where inside its 8x8 cell each click lands (which of a cell's objects to click).",
    )] = True,
    force: ForceOpt = False,
    report_to: ReportToOpt = "none",
) -> None:
    """Train the policy heads on the frozen world model (masked actions); → CHECKPOINTS/policy."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.policy.train import PolicyTrainConfig
    from aria_cli.policy.train import train_policy as core

    check_writable(checkpoints, "--checkpoints", folder=True)
    core(PolicyTrainConfig(
        data=data, checkpoints=checkpoints, epochs=epochs, lr=lr, batch_size=batch_size, device=device,
        resume=resume, seed=seed, skip_bad=skip_bad, type_attention_heads=type_attention_heads,
        previous_frame=previous_frame, click_points=click_points, lr_schedule=lr_schedule, report_to=report_to,
        force=force,
    ))  # fmt: skip


@command("eval")
def eval_(
    all_games: Annotated[bool, typer.Option("--all-games", help="Every game in the recordings (the default).")] = False,
    game: Annotated[list[str] | None, typer.Option("--game", help="Only this game (repeatable).")] = None,
    data: DataOpt = DEFAULT_DATA,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    split: Annotated[str, typer.Option("--split", help="val | train | all.")] = "val",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics and gates as JSON.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 3 when any gate fails.")] = False,
    gates: Annotated[Path | None, typer.Option("--gates", help="TOML file of gate thresholds.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo-replay pictures.")] = Path("eval"),
    replay_steps: Annotated[
        int, typer.Option("--replay-steps", min=0, help="Demo-replay steps per game (each decodes 64 codes).")
    ] = 16,
    device: DeviceOpt = "auto",
    skip_bad: SkipBadOpt = False,
    force: ForceOpt = False,
) -> None:
    """Decision-gate metrics per game (world model beside its copy baseline, policy), PASS/FAIL."""
    from aria_cli.evaluation import evaluate as core

    if all_games and game:
        raise AriaError("--all-games and --game exclude each other")
    result = core.evaluate_pipeline(core.EvalConfig(
        data=data, checkpoints=checkpoints, games=list(game or []), split=split, json_out=json_out,
        gates_file=gates, out_dir=out_dir, replay_steps=replay_steps, device=device, skip_bad=skip_bad,
        force=force,
    ))  # fmt: skip
    core.print_report(result)
    if json_out is not None:
        console.print(f"wrote {json_out}")
    if strict and core.any_gate_failed(result):
        raise typer.Exit(3)
