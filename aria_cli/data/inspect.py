"""What one recording becomes: summary, per-step actions and their tokens (`aria inspect-tokens`)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from aria_cli.common import atomic
from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import Episode, Recording, read_recording
from aria_cli.training.checkpoints import tokenizer_dir
from aria_cli.vocab import ACTION_NAMES, CLICK, GRID, LOC_NULL, Vocab, episode_tokens


@dataclass
class Inspection:
    recording: Recording
    vocab: Vocab
    codes: np.ndarray | None  # (frames, 64) when a tokenizer exists
    tokens: np.ndarray | None
    offsets: np.ndarray | None
    tokenizer_note: str
    episode: Episode


def parse_step_range(spec: str, n: int) -> range:
    """'START:END' (either side optional), like a Python slice over steps."""
    try:
        if ":" not in spec:
            i = int(spec)
            return range(i, min(i + 1, n))
        a, b = spec.split(":", 1)
        return range(*slice(int(a) if a else None, int(b) if b else None).indices(n))
    except ValueError:
        raise AriaError(f"--steps must look like START:END (e.g. 0:20), got {spec!r}") from None


def inspect_recording(path: Path, checkpoints: Path, skip_bad: bool = False, device: str = "cpu") -> Inspection:
    rec = read_recording(path, skip_bad=skip_bad)
    vocab = Vocab(base=0)
    ep = rec.episode()
    codes = tokens = offsets = None
    note = f"no frame tokenizer under {tokenizer_dir(checkpoints)}: run `aria train-vqvae` to see VQ codes"
    # Importing the tokenizer pulls in torch (seconds); only pay that when a checkpoint is there.
    if tokenizer_dir(checkpoints).is_dir():
        from aria_cli.tokenizer import model as vqvae

        has_tokenizer = vqvae.tokenizer_exists(checkpoints)
    else:
        has_tokenizer = False
    if has_tokenizer:
        tok = vqvae.load_tokenizer(checkpoints, device=device)
        codes = tok.encode(ep.frames)
        tokens, offsets = episode_tokens(vocab, codes, ep.action_types, ep.action_cells, ep.level_up)
        note = f"VQ codes from {checkpoints / 'vqvae'}"
    return Inspection(rec, vocab, codes, tokens, offsets, note, ep)


def summary_panel(ins: Inspection) -> Panel:
    rec, ep = ins.recording, ins.episode
    last = rec.steps[-1]
    types = Counter(int(t) for t in ep.action_types)
    resets = types.get(0, 0)
    hist = ", ".join(f"{ACTION_NAMES[t]} {c}" for t, c in sorted(types.items())) or "none"
    grid = np.zeros((GRID, GRID), dtype=np.int64)
    for t, c in zip(ep.action_types, ep.action_cells, strict=True):
        if t == CLICK:
            grid[c // GRID, c % GRID] += 1
    info = Table.grid(padding=(0, 2))
    info.add_row("game", f"{rec.game}  ({rec.steps[0].game_id})")
    info.add_row("file", str(rec.path))
    info.add_row("steps", f"{ep.n_actions} actions, {len(ep.frames)} frames")
    info.add_row("levels", f"{last.levels_completed} of {last.win_levels} (final state {last.state})")
    info.add_row("level-ups", str(int(ep.level_up.sum())))
    info.add_row("resets", str(resets))
    info.add_row("actions", hist)
    skipped = f"{rec.skipped_summary} without a frame"
    if rec.bad_lines:
        skipped += f", {len(rec.bad_lines)} bad (first: {rec.bad_lines[0]})"
    info.add_row("skipped lines", skipped)
    info.add_row("tokens", f"{len(ins.tokens)}" if ins.tokens is not None else "—")
    info.add_row("tokenizer", ins.tokenizer_note)
    clicks = Table(title=f"click cells ({int((grid > 0).sum())} of 64 covered)", show_header=False, box=None)
    for _ in range(GRID):
        clicks.add_column(justify="right")
    for r in range(GRID):
        clicks.add_row(*["[dim]·[/]" if v == 0 else str(v) for v in grid[r]])
    return Panel(Group(info, "", clicks), title="recording summary", expand=False)


def steps_table(ins: Inspection, steps: range) -> Table:
    ep, rec = ins.episode, ins.recording
    v = ins.vocab
    table = Table(title=f"steps {steps.start}:{steps.stop} of {ep.n_actions}")
    for col in ("step", "line", "action", "x,y", "cell", "tokens", "level"):
        table.add_column(col, overflow="fold")
    for t in steps:
        kind, cell = int(ep.action_types[t]), int(ep.action_cells[t])
        xy = "" if ep.action_xy[t][0] < 0 else f"{ep.action_xy[t][0]},{ep.action_xy[t][1]}"
        frame_part = (
            " ".join(str(c) for c in ins.codes[t])
            if ins.codes is not None
            else "[dim](64 VQ codes: needs a tokenizer)[/]"
        )
        act = ["ACT", v.name(v.act_type(kind)), v.name(v.act_loc(cell))]
        if ep.level_up[t]:
            act.append("LEVEL_COMPLETE")
        table.add_row(
            str(t),
            str(rec.steps[t].line),
            ACTION_NAMES[kind],
            xy,
            "NULL" if cell == LOC_NULL else str(cell),
            f"FRAME {frame_part} {' '.join(act)}",
            f"[green]level {int(ep.levels[t + 1])}[/]" if ep.level_up[t] else "",
        )
    return table


def write_json(ins: Inspection, path: Path) -> None:
    ep = ins.episode
    out = {
        "file": str(ins.recording.path),
        "game": ins.recording.game,
        "vocab_base": ins.vocab.base,
        "steps": [
            {
                "step": t,
                "line": ins.recording.steps[t].line,
                "action": ACTION_NAMES[int(ep.action_types[t])],
                "x": int(ep.action_xy[t][0]) if ep.action_xy[t][0] >= 0 else None,
                "y": int(ep.action_xy[t][1]) if ep.action_xy[t][1] >= 0 else None,
                "cell": int(ep.action_cells[t]),
                "level_up": bool(ep.level_up[t]),
                "codes": ins.codes[t].tolist() if ins.codes is not None else None,
            }
            for t in range(ep.n_actions)
        ],
        "tokens": ins.tokens.tolist() if ins.tokens is not None else None,
        "token_names": ins.vocab.names(ins.tokens) if ins.tokens is not None else None,
    }
    atomic.write_text(path, json.dumps(out) + "\n")
