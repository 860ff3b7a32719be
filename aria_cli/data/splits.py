"""Train/val split by recording file, the same for every stage (tokenizer, world model, policy, eval).

Splitting by file (never by step) keeps a whole episode on one side, so val numbers measure
generalisation to unseen play. The split is a pure function of the file names: stable across runs,
machines and stages, with no state to keep in sync.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

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
