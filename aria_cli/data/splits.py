"""Train/val split by recording file, the same for every stage (tokenizer, world model, policy, eval).

Splitting by file (never by step) keeps a whole episode on one side, so val numbers measure
generalisation to unseen play. The split is a pure function of the file names: stable across runs,
machines and stages, with no state to keep in sync.

`leave_games_out` is the other split, by game (a transfer benchmark holds whole games out of training):
it reads each recording's game from the recording itself, never from where the file sits.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import find_recordings, iter_steps

VAL_FRACTION = 0.2


def _rank(name: str) -> str:
    return hashlib.sha1(name.encode("utf-8")).hexdigest()


def assign_split(files_by_game: Iterable[tuple[str, str]], val_fraction: float = VAL_FRACTION) -> dict[str, str]:
    """Map each file to "train" or "val". Input: (file key, game) pairs; file keys should be paths
    relative to the data folder so the split does not depend on where the folder lives.

    Per game, the files with the smallest hashes go to val: round(fraction * n), at least one when the
    game has two or more files (so every game gets val metrics), never all of them.
    """
    by_game: dict[str, list[str]] = defaultdict(list)
    for key, game in files_by_game:
        by_game[game].append(key)
    out: dict[str, str] = {}
    for keys in by_game.values():
        keys = sorted(set(keys), key=_rank)
        n_val = 0 if len(keys) < 2 else min(len(keys) - 1, max(1, round(val_fraction * len(keys))))
        for i, k in enumerate(keys):
            out[k] = "val" if i < n_val else "train"
    return out


# ---------------------------------------------------------------------- leave games out


def recording_games(path: str | Path) -> set[str]:
    """The games a recording's lines name (read from the recording, never from its file or folder name):
    short ids, as the toolkit's game ids before the '-' ("vc33" for "vc33-9851e02b"). Empty when no line
    has a frame."""
    return {step.game for step in iter_steps(path, skip_bad=True)}


def leave_games_out(recordings_dir: str | Path, held_out_games: Iterable[str]) -> tuple[list[Path], list[Path]]:
    """(train files, held-out files) of the recordings under `recordings_dir`: a recording goes to the
    held-out side if any of its lines names a held-out game (ids with or without the version suffix), to
    training otherwise. A recording without a readable frame goes to neither: its game is unknown."""
    held = {g.split("-", 1)[0] for g in held_out_games}
    train, held_out = [], []
    for path in find_recordings(recordings_dir):
        games = recording_games(path)
        if games & held:
            held_out.append(path)
        elif games:
            train.append(path)
    return train, held_out


def draw_fold(games: Iterable[str], size: int, seed: int) -> list[str]:
    """A fixed fold: `size` of the games (sorted first, so the draw depends on the set only), by `seed`."""
    pool = sorted(set(games))
    if size > len(pool):
        raise AriaError(f"a fold of {size} games from {len(pool)}: not enough games")
    rng = np.random.default_rng(seed)
    return sorted(pool[i] for i in rng.choice(len(pool), size=size, replace=False))


def link_recordings(files: Iterable[Path], out_dir: str | Path) -> Path:
    """A data folder of links to these recordings (one sub-folder per source folder, so names stay
    unique): what the trainers read when they must see only these files."""
    out_dir = Path(out_dir)
    for f in sorted(Path(p).resolve() for p in files):
        link = out_dir / f"{f.parent.name}-{hashlib.sha1(str(f.parent).encode()).hexdigest()[:8]}" / f.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(f)
    return out_dir
