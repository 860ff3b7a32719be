"""The `aria` command line: a table of contents over the core modules.

Each command parses its options and calls one core function; the work (and everything a test needs)
lives in the modules it imports. Imports are inside the commands so `aria --help` stays instant.
User mistakes raise `AriaError`, printed here as one line with a non-zero exit; so is an `OSError` (an
unreadable input, an unwritable output, a full disk), named by its path. Commands check that their
outputs can be written (`atomic.check_writable`) before they start the work.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from aria_cli import __version__
from aria_cli.common.errors import AriaError
from aria_cli.common.ui import console, print_error
from aria_cli.world_model.presets import PRESETS

app = typer.Typer(
    name="aria",
    help="Learn a world model of ARC-AGI-3 games from recorded play, and play with it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)

# Options shared by several commands are spelled the same everywhere.
DataOpt = Annotated[Path, typer.Option("--data", help="Recordings folder (searched recursively for *.jsonl).")]
CheckpointsOpt = Annotated[Path, typer.Option("--checkpoints", help="Checkpoints folder.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
SkipBadOpt = Annotated[
    bool, typer.Option("--skip-bad", help="Skip recording lines that do not parse, and report how many per file.")
]
EnvDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--environments-dir",
        help="An arc-agi environments folder (<game>/<version>/...) to search before the bundled games; "
        "default: $ENVIRONMENTS_DIR.",
    ),
]
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Use the checkpoints even when a stage was trained on another version of the one before it "
    "(a warning says which).")]
ReportToOpt = Annotated[
    str,
    typer.Option("--report-to", help="none | tensorboard | wandb | mlflow: also send each epoch's metrics.jsonl line "
                 "to this experiment tracker (its package is an extra: pip install 'aria-cli[tensorboard]')."),
]
DEFAULT_DATA = Path("recordings")
DEFAULT_CHECKPOINTS = Path("checkpoints")


def command(*args, **kwargs):
    """`app.command`, plus the one-line error contract for every command."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            try:
                return fn(*a, **k)
            except AriaError as e:
                print_error(str(e))
                raise typer.Exit(e.exit_code) from None
            except OSError as e:  # the file system's refusal (permissions, full disk): a set-up problem
                print_error(f"{e.filename}: {e.strerror}" if e.filename else (e.strerror or str(e)))
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                print_error("interrupted")
                raise typer.Exit(130) from None

        return app.command(*args, **kwargs)(wrapper)

    return deco


def _version(value: bool) -> None:
    if value:
        console.print(f"aria {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Learn a world model of ARC-AGI-3 games from recorded play, and play with it."""


# --------------------------------------------------------------------------- games and recording
@command("games")
def games(environments_dir: EnvDirOpt = None) -> None:
    """List the games aria can run: yours (--environments-dir or $ENVIRONMENTS_DIR), then the bundled ones."""
    from aria_cli.games.adapter import list_games
    from aria_cli.games.catalog import games_table

    console.print(games_table(list_games(environments_dir)))


@command("record")
def record(
    game: Annotated[str, typer.Argument(help="A bundled game id (see `aria games`), e.g. qmaz.")],
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Episodes to record, one file each.")] = 10,
    noise: Annotated[
        float,
        typer.Option("--noise", min=0.0, max=0.99, help="Share of actions that stray from the plan (exploring, slips, resets)."),
    ] = 0.05,
    seed: SeedOpt = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the recordings [default: recordings/GAME].")] = None,
    environments_dir: EnvDirOpt = None,
) -> None:
    """Record the demonstrator playing a bundled game, as arc-agi toolkit recordings (episode i uses seed+i)."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.games.record import default_out_dir, record_game

    check_writable(out or default_out_dir(game), "--out", folder=True)
    paths = record_game(game, episodes=episodes, noise=noise, seed=seed, out_dir=out, environments_dir=environments_dir)
    console.print(f"recorded {len(paths)} episodes of {game} in {paths[0].parent}; look at one with: aria inspect-tokens {paths[0]}")


@command("distill")
def distill(
    runs: Annotated[list[Path], typer.Argument(help="Recordings of play (.jsonl files or folders of them).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the distilled recordings (<out>/<game>/...).")],
    environments_dir: EnvDirOpt = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed the runs were played with (default: -seed<N> in the file name, else 0).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the per-level results as JSON.")] = None,
) -> None:
    """Turn recordings of play into clean demonstrations: the shortest observed way through each completed level, replayed."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.games.distill import distill as core
    from aria_cli.games.distill import result_table

    check_writable(out, "--out", folder=True)
    if json_out is not None:
        check_writable(json_out, "--json")
    def show(r) -> None:
        if r.levels:
            console.print(result_table(r))
        if r.output is not None:
            console.print(f"wrote {r.output}" + (f" ({r.message})" if r.message else ""))
        else:
            console.print(f"{r.source}: {r.message}; nothing written")

    results = core(runs, out, environments_dir=environments_dir, seed=seed, on_result=show)
    if json_out is not None:
        from aria_cli.common import atomic

        atomic.write_json(json_out, [r.to_json() for r in results])
        console.print(f"wrote {json_out}")
    written = [r for r in results if r.output is not None]
    if not written:
        raise AriaError(f"nothing distilled: none of the {len(results)} recordings has a level that replays to a win")
    console.print(f"distilled {len(written)} of {len(results)} recordings into {out}")


# --------------------------------------------------------------------------- recordings and tokens
@command("inspect-tokens")
def inspect_tokens(
    file: Annotated[Path, typer.Argument(help="A .jsonl recording.")],
    steps: Annotated[str, typer.Option("--steps", help="START:END steps to list.")] = "0:20",
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    skip_bad: SkipBadOpt = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the steps and tokens as JSON.")] = None,
) -> None:
    """Show what one recording becomes: steps, actions, cells, level markers, and VQ codes."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.data import inspect as core

    if json_out is not None:
        check_writable(json_out, "--json")
    ins = core.inspect_recording(file, checkpoints, skip_bad=skip_bad)
    console.print(core.summary_panel(ins))
    console.print(core.steps_table(ins, core.parse_step_range(steps, ins.episode.n_actions)))
    if json_out is not None:
        core.write_json(ins, json_out)
        console.print(f"wrote {json_out}")


# --------------------------------------------------------------------------- frame tokenizer
@command("train-vqvae")
def train_vqvae(
    data: DataOpt = DEFAULT_DATA,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    # The defaults are TokenizerTrainConfig's (a test checks they agree; importing it here would slow --help).
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="At most this many epochs (stops early when val accuracy stalls).")] = 24,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Frames per step.")] = 32,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate (AdamW, cosine decay).")] = 5e-3,
    codebook_size: Annotated[int, typer.Option("--codebook-size", min=2, max=4096, help="Codes in the codebook; above 512 the token layout grows with it (and a world model must be trained on it).")] = 512,
    patience: Annotated[
        int, typer.Option("--patience", min=0, help="Stop after this many epochs without a better val accuracy; 0: never stop early.")
    ] = 3,
    foreground_weight: Annotated[float, typer.Option(
        "--foreground-weight", min=1.0,
        help="Loss weight of pixels unlike their frame's most common colour (1: all alike); trades a little pixel accuracy for the non-background pixels.",
    )] = 1.0,
    device: DeviceOpt = "auto",
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run with its own settings (only --epochs can change).")
    ] = False,
    seed: SeedOpt = 0,
    skip_bad: SkipBadOpt = False,
    report_to: ReportToOpt = "none",
) -> None:
    """Train the frame tokenizer (VQ-VAE) on every frame of the recordings; best model → CHECKPOINTS/vqvae."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.common.devices import resolve_device
    from aria_cli.tokenizer.train import TokenizerTrainConfig
    from aria_cli.tokenizer.train import train_vqvae as core

    check_writable(checkpoints, "--checkpoints", folder=True)
    config = TokenizerTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, codebook_size=codebook_size,
                                  patience=patience, seed=seed, report_to=report_to,
                                  foreground_weight=foreground_weight)
    core(data, checkpoints, config, device=resolve_device(device), resume=resume, skip_bad=skip_bad)


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
    from aria_cli.data.token_cache import build_token_cache, summary_table

    check_writable(checkpoints, "--checkpoints", folder=True)

    cache = build_token_cache(data, checkpoints, skip_bad=skip_bad, device=resolve_device(device), quiet=False)
    console.print(summary_table(cache))


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
        device=device, resume=resume, seed=seed, skip_bad=skip_bad, report_to=report_to,
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
        previous_frame=previous_frame, lr_schedule=lr_schedule, report_to=report_to, force=force,
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


# --------------------------------------------------------------------------- playing
@command("play")
def play(
    games: Annotated[list[str], typer.Argument(help="Game id(s), e.g. qmaz (see `aria games`).")],
    agent: Annotated[
        list[str] | None,
        typer.Option("--agent", help="world-model | policy | explore | random (repeatable) [default: world-model]."),
    ] = None,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    environments_dir: EnvDirOpt = None,
    online: Annotated[bool, typer.Option("--online", help="Download official games (needs a network).")] = False,
    max_actions: Annotated[int, typer.Option("--max-actions", help="Action budget per game (RESETs count).")] = 1000,
    seed: Annotated[list[int] | None, typer.Option("--seed", help="Random seed (repeatable) [default: 0].")] = None,
    render: Annotated[
        str, typer.Option("--render", help="live | none [default: live on a terminal, none otherwise].")
    ] = "auto",
    record: Annotated[bool, typer.Option("--record/--no-record", help="Save the run as a toolkit recording.")] = True,
    record_dir: Annotated[Path, typer.Option("--record-dir", help="Where recordings of runs go.")] = Path("runs"),
    gif: Annotated[Path | None, typer.Option("--gif", help="Write an animated GIF of the run.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON.")] = None,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="Sampling temperature over the candidates' scores (0: always the best).")] = 0.5,
    level_weight: Annotated[float, typer.Option("--level-weight", help="Weight of log P(level) in the score.")] = 1.0,
    adapt_every: Annotated[int, typer.Option("--adapt-every", min=0, help="world-model: adapt an in-memory copy of the world model to the game every N actions (0: off).")] = 0,
    adapt_steps: Annotated[int, typer.Option("--adapt-steps", min=0, help="world-model: gradient steps per adaptation round (0: off).")] = 2,
    wm_change: Annotated[int, typer.Option("--wm-change", min=0, help="world-model: ask the world model P(frame changes) for the top N candidates, blended with the explorer's by online calibration (0: off).")] = 0,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """Play games with an agent through the arc-agi toolkit; several games/agents/seeds → a comparison."""
    from aria_cli.play.run import PlayConfig
    from aria_cli.play.run import play as core

    core(PlayConfig(
        games=games, agents=agent or ["world-model"], seeds=seed or [0], checkpoints=checkpoints,
        environments_dir=environments_dir, online=online, max_actions=max_actions, render=render, record=record,
        record_dir=record_dir, gif=gif, json_out=json_out, device=device, temperature=temperature,
        level_weight=level_weight, adapt_every=adapt_every, adapt_steps=adapt_steps, wm_change=wm_change,
        force=force,
    ))  # fmt: skip


@command("bench")
def bench(
    env_dir: Annotated[
        Path | None, typer.Argument(help="An environments folder (<game>/<version>/...) \\[default: the bundled games].")
    ] = None,
    game: Annotated[list[str] | None, typer.Option("--game", help="Only this game (repeatable).")] = None,
    games_file: Annotated[Path | None, typer.Option("--games-file", help="Only the games in this file, one a line.")] = None,
    agent: Annotated[
        list[str] | None, typer.Option("--agent", help="explore | random | world-model | policy (repeatable) \\[default: explore].")
    ] = None,
    seed: Annotated[list[int] | None, typer.Option("--seed", help="Random seed (repeatable) \\[default: 0].")] = None,
    seeds: Annotated[str | None, typer.Option("--seeds", help="Seeds as a range or list: 0-4, or 0,3,7.")] = None,
    max_actions: Annotated[int, typer.Option("--max-actions", help="Action budget per run (RESETs count).")] = 1000,
    jobs: Annotated[int, typer.Option("--jobs", min=0, show_default=False, help="Worker processes \\[default: the machine's cores].")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Results folder \\[default: runs/bench-<UTC time>].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Finish the bench in --out, skipping the runs it has.")] = False,
    shard: Annotated[str | None, typer.Option("--shard", help="I/N: run only share I (0-based) of N of the runs.")] = None,
    merge: Annotated[
        list[Path] | None, typer.Option("--merge", help="Join these shard results folders into --out (repeatable).")
    ] = None,
    run_timeout: Annotated[
        float, typer.Option("--run-timeout", help="Seconds before a run is stopped as hung (what it played is kept).")
    ] = 600.0,
    record: Annotated[bool, typer.Option("--record/--no-record", help="Save each run as a toolkit recording.")] = True,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    device: Annotated[str, typer.Option("--device", help="cpu | cuda | auto, for the learned agents.")] = "cpu",
    adapt_every: Annotated[int, typer.Option("--adapt-every", min=0, help="world-model: adapt an in-memory copy of the world model to the game every N actions (0: off).")] = 0,
    adapt_steps: Annotated[int, typer.Option("--adapt-steps", min=0, help="world-model: gradient steps per adaptation round (0: off).")] = 2,
    wm_change: Annotated[int, typer.Option("--wm-change", min=0, help="world-model: the world model's P(frame changes) for the top N candidates, blended with the explorer's (0: off).")] = 0,
) -> None:
    """Agents × seeds on every game of a folder, in worker processes: table, summary.json, bench.png."""
    from aria_cli.play import bench as core

    if merge:
        folder, result = core.merge(list(merge), out)
    else:
        seed_list = (seed or []) + (core.parse_seeds(seeds) if seeds else [])
        folder, result = core.bench(core.BenchConfig(
            env_dir=env_dir, games=game or [], games_file=games_file, agents=agent or ["explore"],
            seeds=seed_list or [0], max_actions=max_actions, jobs=jobs, out=out, resume=resume, shard=shard,
            run_timeout=run_timeout, record=record, checkpoints=checkpoints, device=device,
            adapt_every=adapt_every, adapt_steps=adapt_steps, wm_change=wm_change,
        ))  # fmt: skip
    console.print(result.table(show_errors=True))
    console.print(f"results: {folder}/ (summary.json, table.txt, bench.png, runs.jsonl)")
    failed = sum(1 for r in result.runs if r.error)
    if failed:
        print_error(f"{failed} of {len(result.runs)} runs failed; their errors are in the table")
    if result.runs and failed == len(result.runs):
        raise typer.Exit(1)


@command("quickstart")
def quickstart(
    data: DataOpt = DEFAULT_DATA,
    checkpoints: CheckpointsOpt = DEFAULT_CHECKPOINTS,
    full: Annotated[bool, typer.Option("--full", help="The full-size run: more episodes, no time caps.")] = False,
    wm_minutes: Annotated[float, typer.Option("--wm-minutes", help="World-model training budget (quick run).")] = 4.5,
    max_actions: Annotated[int, typer.Option("--max-actions", help="Actions per game in the play stage.")] = 1000,
    backbone: Annotated[
        str | None,
        typer.Option("--backbone", help="World-model backbone (default: tiny; with --full, train-wm's default "
                     "for the device: smollm2-360m on a GPU)."),
    ] = None,
    device: DeviceOpt = "auto",
    seed: SeedOpt = 0,
) -> None:
    """The whole pipeline on the bundled games, offline: record → tokenizer → world model → policy → eval → play."""
    from aria_cli.common.atomic import check_writable
    from aria_cli.quickstart import QuickstartConfig
    from aria_cli.quickstart import quickstart as core

    check_writable(checkpoints, "--checkpoints", folder=True)
    check_writable(data, "--data", folder=True)

    core(QuickstartConfig(data=data, checkpoints=checkpoints, full=full, wm_minutes=wm_minutes,
                          max_actions=max_actions, backbone=backbone, device=device, seed=seed))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
