"""Train/val split by recording file, the same for every stage (tokenizer, world model, policy, eval).

Splitting by file (never by step) keeps a whole episode on one side, so val numbers measure
generalisation to unseen play. The split is a pure function of the file names: stable across runs,
machines and stages, with no state to keep in sync.

`leave_games_out` is the other split, by game (a transfer benchmark holds whole games out of training):
it reads each recording's game from the recording itself, never from where the file sits.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import orjson

from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import find_recordings, short_game_id
from aria_cli.training.checkpoints import save_folder

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
    short ids, as the toolkit's game ids before the '-' ("vc33" for "vc33-9851e02b"), of the lines with a
    frame. Empty when no line has one. Reads only what it needs of each line: not JSON, or without a frame
    or a game id, a line names nothing (the trainers say what is wrong with it)."""
    games = set()
    with open(path, "rb") as f:
        for raw in f:
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(obj, dict):
                continue
            data = obj["data"] if isinstance(obj.get("data"), dict) else obj  # as `parse_line` reads it
            if data.get("frame") and isinstance(data.get("game_id"), str) and data["game_id"]:
                games.add(short_game_id(data["game_id"]))
    return games


def _short(games: Iterable[str]) -> set[str]:
    return {short_game_id(g) for g in games}


def _by_game(files: Iterable[Path], held: set[str], games_of) -> tuple[list[Path], list[Path]]:
    train, held_out = [], []
    for path in files:
        games = games_of(path)
        if games & held:
            held_out.append(path)
        elif games:
            train.append(path)
    return train, held_out


def leave_games_out(recordings_dir: str | Path, held_out_games: Iterable[str]) -> tuple[list[Path], list[Path]]:
    """(train files, held-out files) of the recordings under `recordings_dir`: a recording goes to the
    held-out side if any of its lines names a held-out game (ids with or without the version suffix), to
    training otherwise. A recording without a readable frame goes to neither: its game is unknown."""
    return _by_game(find_recordings(recordings_dir), _short(held_out_games), recording_games)


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


# ---------------------------------------------------------------------- aria split


@dataclass
class GameSplit:
    """What `split_by_games` wrote: `out/train/` and `out/held-out/` (links to the recordings), the held-out
    games one a line in `out/held-out-games.txt` (for `aria bench --games-file`), all of it in `out/split.json`."""

    out: str
    sources: list[str]
    held_out_games: list[str]
    train_games: list[str]
    train_files: int
    held_out_files: int
    unreadable_files: int  # no line with a frame: their game is unknown, so neither side has them
    seed: int | None = None  # the draw's, when the fold was drawn


SPLIT_FILE = "split.json"


def named_games(games: Iterable[str], games_file: Path | None) -> list[tuple[str, str]]:
    """The games of `--game` options and a `--games-file` (one a line, `#` comments), each with where it was
    named, for errors that point at it (`--game x`, `FILE:3`)."""
    wanted = [(g, f"--game {g}") for g in games]
    if games_file is not None:
        if not Path(games_file).is_file():
            raise AriaError(f"--games-file {games_file}: no such file")
        for i, line in enumerate(Path(games_file).read_text().splitlines(), 1):
            name = line.split("#", 1)[0].strip()
            if name:
                wanted.append((name, f"{games_file}:{i}"))
    return wanted


def split_by_games(sources: Sequence[str | Path], out: str | Path, held_out_games: Iterable[str | tuple[str, str]] = (),
                   size: int = 0, seed: int = 0, progress=None) -> GameSplit:
    """Hold games out of a corpus of recordings: the games named, or `size` of them drawn with `seed`
    (`draw_fold` over the games the recordings hold). Every recording is read for its games; one that names
    a held-out game goes to `out/held-out/`, the others to `out/train/`. `out` is written whole or not at
    all, by `checkpoints.save_folder` (a folder there must be an earlier split)."""
    out = Path(out)
    where = {}  # short id -> where it was named (a game may come with it, as `named_games` gives them)
    for g in held_out_games:
        name, said = g if isinstance(g, tuple) else (g, g)
        where.setdefault(short_game_id(name), said)
    named = sorted(where)
    if bool(named) == bool(size):
        raise AriaError("name the games to hold out (--game, --games-file) or how many to draw (--hold-out), not both"
                        if named else "nothing to hold out: give --hold-out N, --game or --games-file")
    if out.exists() and not (out / SPLIT_FILE).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise AriaError(f"--out {out}: exists and is not a split folder (no {SPLIT_FILE}); choose a new folder")
    files = sorted({f for src in sources for f in find_recordings(src)})
    games_of = {}
    task = progress.add_task("reading games", total=len(files)) if progress is not None else None
    for f in files:
        games_of[f] = recording_games(f)
        if progress is not None:
            progress.advance(task)
    every = sorted(set().union(*games_of.values()))
    if named:
        unknown = [g for g in named if g not in every]
        if unknown:
            raise AriaError(f"{where[unknown[0]]}: no recording under {', '.join(map(str, sources))} is of game "
                            f"{unknown[0]!r}" + (f" (nor of {len(unknown) - 1} more held-out games)" if len(unknown) > 1 else ""))
        held = named
    else:
        if size >= len(every):
            raise AriaError(f"--hold-out {size}: the recordings hold {len(every)} games; at least one must be left "
                            "to train on")
        held = draw_fold(every, size, seed)
    train, held_files = _by_game(files, set(held), games_of.__getitem__)
    result = GameSplit(out=str(out), sources=[str(s) for s in sources], held_out_games=held,
                       train_games=sorted(set().union(*(games_of[f] for f in train))),
                       train_files=len(train), held_out_files=len(held_files),
                       unreadable_files=sum(1 for f in files if not games_of[f]),
                       seed=None if named else seed)  # fmt: skip

    def write(folder: Path) -> None:
        link_recordings(train, folder / "train")
        link_recordings(held_files, folder / "held-out")
        (folder / "held-out-games.txt").write_text("".join(f"{g}\n" for g in held))
        (folder / SPLIT_FILE).write_text(json.dumps(asdict(result), indent=1))

    try:
        save_folder(out, [write])  # written beside `out`, then swapped in as one unit (a kill leaves the old one)
    except OSError as e:
        raise AriaError(f"--out {out}: cannot write ({e.strerror or e})") from None
    return result
