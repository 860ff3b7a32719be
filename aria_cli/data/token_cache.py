"""Recordings → token trajectories, cached and never stale (`aria tokenize`; training commands call it too).

    cache = build_token_cache(Path("recordings"), Path("checkpoints"))
    for i in cache.split("train"):
        tokens = cache.episode_tokens(i) + base     # base-0 layout: add the world model's own base

The cache key is a fingerprint of the vocabulary version and layout (which follows the tokenizer's
codebook size, aria_cli.vocab), the tokenizer checkpoint's files and the
content (SHA-256) of every input file. Whatever changes, the next call rebuilds by itself; nothing is
ever deleted first. Each file's encoded episode is also kept on its own, keyed by the file's content
and the tokenizer, so a rebuild only encodes the files that changed.

Layout under `checkpoints/world_model/cache/`:

    index.json                         fingerprint, inputs and one entry per episode (file, game, split,
                                       token span, steps, levels, action types, click cells)
    cache-<fp>.npz                     tokens (int32, episodes concatenated), frame_offsets, spans
    entries/<tokenizer>-v<vocab>-c<code slots>/<sha256 of file>.npz   one file's encoded episode

`index.json` is written last and names its arrays file, so a crash mid-write leaves the previous
cache intact (or none): a reader never sees a half-built cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rich import box
from rich.table import Table

from aria_cli.common import atomic, ui
from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.data.recordings import Recording, find_recordings, read_recording
from aria_cli.data.splits import assign_split
from aria_cli.training.checkpoints import file_sha256, token_cache_dir
from aria_cli.vocab import CLICK, DEFAULT_CODES, VOCAB_VERSION, Vocab, episode_tokens

INDEX_FILE = "index.json"
INDEX_FORMAT = 1
ENCODE_FRAMES = 4096  # frames read before they are encoded together (bounds memory)


def cache_dir(checkpoints: Path) -> Path:
    return token_cache_dir(checkpoints)


def relative_key(path: Path, data_dir: Path) -> str:
    """A recording's name relative to the data folder (what splits and the cache index use)."""
    data_dir = Path(data_dir)
    if data_dir.is_file():
        return Path(path).name
    try:
        return Path(path).relative_to(data_dir).as_posix()
    except ValueError:
        return Path(path).as_posix()


def read_usable(path: Path, skip_bad: bool) -> Recording | None:
    """`read_recording`; with `skip_bad`, a file with no usable line is skipped (with a warning) and
    skipped bad lines are reported per file."""
    try:
        rec = read_recording(path, skip_bad=skip_bad)
    except AriaError as e:
        if not skip_bad:
            raise
        ui.print_warning(f"skipped {e}")
        return None
    if rec.bad_lines:
        ui.print_warning(f"{path}: skipped {len(rec.bad_lines)} bad lines (first: {rec.bad_lines[0].reason}, line {rec.bad_lines[0].line})")
    return rec




@dataclass
class EpisodeEntry:
    """One recording's episode inside `TokenCache.tokens`."""

    file: str  # relative to the data folder
    game: str
    split: str  # "train" | "val"
    start: int  # tokens[start:end] is the episode
    end: int
    frame_offsets: np.ndarray  # positions of its [FRAME] tokens, relative to start
    n_actions: int
    levels_completed: int  # LEVEL_COMPLETE markers in the episode
    action_types: list[int]  # action types used (0 = RESET, 1..7)
    click_cells: list[int]  # cells clicked (ACTION6)
    game_id: str = ""
    content_hash: str = ""
    bad_lines: int = 0  # lines skipped with --skip-bad

    @property
    def n_frames(self) -> int:
        return len(self.frame_offsets)

    @property
    def n_tokens(self) -> int:
        return self.end - self.start

    def meta(self) -> dict:
        d = asdict(self)
        del d["frame_offsets"]
        return d


@dataclass
class TokenCache:
    tokens: np.ndarray  # int32, base-0 layout (`vocab`), episodes concatenated
    episodes: list[EpisodeEntry]
    fingerprint: str
    path: Path  # the cache folder
    encoded_files: list[str] = field(default_factory=list)  # files this call had to encode
    reused: bool = False  # the whole cache was already up to date
    skipped: list[str] = field(default_factory=list)  # unusable files (with --skip-bad)
    n_codes: int = DEFAULT_CODES  # code slots of the layout: the tokenizer's (aria_cli.vocab)

    @property
    def vocab(self) -> Vocab:
        """The base-0 layout of `tokens`."""
        return Vocab(0, self.n_codes)

    def episode_tokens(self, i: int) -> np.ndarray:
        e = self.episodes[i]
        return self.tokens[e.start : e.end]

    def games(self) -> list[str]:
        return sorted({e.game for e in self.episodes})

    def split(self, name: str) -> list[int]:
        if name not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {name!r}")
        return [i for i, e in enumerate(self.episodes) if e.split == name]


# --------------------------------------------------------------------------- per-file entries
@dataclass
class _Encoded:
    tokens: np.ndarray
    frame_offsets: np.ndarray
    meta: dict  # game, game_id, n_actions, levels_completed, action_types, click_cells, bad_lines, first_bad


def _encode_recordings(recs: list[Recording], tokenizer) -> list[_Encoded]:
    """Several recordings at once: one `encode` call over all their frames (cells repeat across files)."""
    episodes = [rec.episode() for rec in recs]
    codes = tokenizer.encode(np.concatenate([ep.frames for ep in episodes]))
    out, at = [], 0
    for rec, ep in zip(recs, episodes, strict=True):
        n = len(ep.frames)
        tokens, offsets = episode_tokens(tokenizer.vocab, codes[at : at + n], ep.action_types, ep.action_cells, ep.level_up)
        at += n
        clicks = sorted({int(c) for t, c in zip(ep.action_types, ep.action_cells, strict=True) if t == CLICK})
        meta = {
            "game": rec.game,
            "game_id": rec.steps[0].game_id,
            "n_actions": int(ep.n_actions),
            "levels_completed": int(ep.level_up.sum()),
            "action_types": sorted({int(t) for t in ep.action_types}),
            "click_cells": clicks,
            "bad_lines": len(rec.bad_lines),
        }
        out.append(_Encoded(tokens.astype(np.int32), offsets.astype(np.int64), meta))
    return out


def _save_entry(path: Path, enc: _Encoded) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, tokens=enc.tokens, frame_offsets=enc.frame_offsets, meta=np.array(json.dumps(enc.meta)))

    atomic.write_with(path, write)


def _load_entry(path: Path) -> _Encoded | None:
    """A stored entry, or None when missing or unreadable (then the file is simply encoded again)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return _Encoded(z["tokens"], z["frame_offsets"], json.loads(str(z["meta"])))
    except Exception:  # a damaged entry is re-encoded, never trusted
        return None


# --------------------------------------------------------------------------- the whole cache
def _fingerprint(tokenizer_fp: str, n_codes: int, files: list[tuple[str, str]]) -> str:
    key = json.dumps({"vocab_version": VOCAB_VERSION, "n_codes": n_codes, "index_format": INDEX_FORMAT,
                      "tokenizer": tokenizer_fp, "files": files})
    return hashlib.sha256(key.encode()).hexdigest()


def _load_cache(d: Path, fingerprint: str) -> TokenCache | None:
    try:
        index = json.loads((d / INDEX_FILE).read_text())
        if index.get("fingerprint") != fingerprint:
            return None
        with np.load(d / index["arrays"], allow_pickle=False) as z:
            tokens, offsets, offset_spans = z["tokens"], z["frame_offsets"], z["offset_spans"]
        episodes = [
            EpisodeEntry(**{**m, "frame_offsets": offsets[a:b]})
            for m, (a, b) in zip(index["episodes"], offset_spans.tolist(), strict=True)
        ]
        if len(tokens) != index["n_tokens"]:
            return None
        return TokenCache(tokens, episodes, fingerprint, d, reused=True, skipped=index.get("skipped", []),
                          n_codes=int(index["n_codes"]))
    except Exception:  # missing, partial or from another version: rebuild
        return None


def _write_cache(cache: TokenCache) -> None:
    d = cache.path
    arrays = f"cache-{cache.fingerprint[:16]}.npz"
    offsets = [e.frame_offsets for e in cache.episodes]
    bounds = np.cumsum([0] + [len(o) for o in offsets])
    spans = np.stack([bounds[:-1], bounds[1:]], axis=1) if offsets else np.zeros((0, 2), np.int64)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                tokens=cache.tokens,
                frame_offsets=np.concatenate(offsets) if offsets else np.zeros(0, np.int64),
                offset_spans=spans.astype(np.int64),
            )

    atomic.write_with(d / arrays, write)
    index = {
        "format": INDEX_FORMAT,
        "fingerprint": cache.fingerprint,
        "vocab_version": VOCAB_VERSION,
        "vocab_base": 0,
        "n_codes": cache.n_codes,
        "arrays": arrays,
        "n_tokens": int(len(cache.tokens)),
        "skipped": cache.skipped,
        "episodes": [e.meta() for e in cache.episodes],
    }
    atomic.write_json(d / INDEX_FILE, index)  # the commit point
    for old in d.glob("cache-*.npz"):
        if old.name != arrays:
            old.unlink(missing_ok=True)


def build_token_cache(
    data_dir: Path, checkpoints: Path, skip_bad: bool = False, device: str = "cpu", quiet: bool = True
) -> TokenCache:
    """The token cache for every recording under `data_dir`: reused when up to date, otherwise rebuilt,
    encoding only the files whose content (or the tokenizer) changed."""
    from aria_cli.tokenizer import model as vqvae

    data_dir = Path(data_dir)
    paths = find_recordings(data_dir)
    if not vqvae.tokenizer_exists(checkpoints):
        raise AriaError(f"no frame tokenizer under {vqvae.vqvae_dir(checkpoints)}: run `aria train-vqvae` first")
    tok_fp = vqvae.tokenizer_fingerprint(checkpoints)
    n_codes = vqvae.tokenizer_vocab(checkpoints).n_codes
    files = [(relative_key(p, data_dir), p, file_sha256(p)) for p in paths]
    fingerprint = _fingerprint(tok_fp, n_codes, [(k, h) for k, _, h in files])
    d = cache_dir(checkpoints)

    cached = _load_cache(d, fingerprint)
    clean = cached is not None and not cached.skipped and not any(e.bad_lines for e in cached.episodes)
    if cached is not None and (skip_bad or clean):
        for msg in cached.skipped:
            ui.print_warning(f"skipped {msg}")
        return cached

    entry_dir = d / "entries" / f"{tok_fp[:16]}-v{VOCAB_VERSION}-c{n_codes}"
    tokenizer = None
    encoded: dict[str, _Encoded] = {}
    encoded_files: list[str] = []
    skipped: list[str] = []
    pending: list[tuple[str, Path, Recording]] = []  # read, waiting to be encoded together

    def flush() -> None:
        nonlocal tokenizer
        if not pending:
            return
        if tokenizer is None:
            tokenizer = vqvae.load_tokenizer(checkpoints, device=device)
            if tokenizer.fingerprint != tok_fp:
                raise AriaError(f"the tokenizer under {vqvae.vqvae_dir(checkpoints)} changed while tokenizing; run again")
        for (key, entry_path, _), enc in zip(pending, _encode_recordings([r for *_, r in pending], tokenizer), strict=True):
            _save_entry(entry_path, enc)
            encoded[key] = enc
            encoded_files.append(key)
        pending.clear()

    with ui.progress(transient=True) if not quiet else nullcontext() as prog:
        task = prog.add_task("tokenizing", total=len(files)) if prog is not None else None
        for key, path, sha in files:
            entry_path = entry_dir / f"{sha}.npz"
            enc = _load_entry(entry_path)
            if enc is not None and (skip_bad or not enc.meta["bad_lines"]):
                encoded[key] = enc
            else:
                rec = read_usable(path, skip_bad)  # raises the reader's error for bad lines without --skip-bad
                if rec is None:
                    skipped.append(f"{key} (no usable lines)")
                else:
                    pending.append((key, entry_path, rec))
                    if sum(len(r.steps) for *_, r in pending) >= ENCODE_FRAMES:
                        flush()
            if task is not None:
                prog.advance(task)
        flush()
    parts = [(key, sha, encoded[key]) for key, _, sha in files if key in encoded]
    if not parts:
        raise AriaError(f"no usable recordings under {data_dir.resolve()} (every file was empty or bad)")

    cache = _assemble(parts, fingerprint, d, encoded_files, skipped, n_codes)
    _store(cache, d, entry_dir)
    return cache


def _store(cache: TokenCache, d: Path, entry_dir: Path) -> None:
    """Write the cache, and drop the entries of other tokenizers or vocabularies: they can never be used again."""
    try:
        _write_cache(cache)
    except OSError as e:
        raise CheckpointError(f"{d}: cannot write the token cache ({e.strerror})") from None
    for other in (d / "entries").glob("*"):
        if other.is_dir() and other != entry_dir:
            shutil.rmtree(other, ignore_errors=True)


def _assemble(parts: list, fingerprint: str, d: Path, encoded_files: list[str], skipped: list[str],
              n_codes: int) -> TokenCache:
    """The cache from each file's (key, content hash, encoded entry), episodes concatenated in file order."""
    split = assign_split((key, enc.meta["game"]) for key, _, enc in parts)
    episodes, start = [], 0
    for key, sha, enc in parts:
        m = enc.meta
        n = len(enc.tokens)
        episodes.append(
            EpisodeEntry(
                file=key, game=m["game"], split=split[key], start=start, end=start + n,
                frame_offsets=enc.frame_offsets, n_actions=m["n_actions"], levels_completed=m["levels_completed"],
                action_types=list(m["action_types"]), click_cells=list(m["click_cells"]), game_id=m["game_id"],
                content_hash=sha, bad_lines=m["bad_lines"],
            )
        )  # fmt: skip
        start += n
    tokens = np.concatenate([enc.tokens for _, _, enc in parts]).astype(np.int32)
    return TokenCache(tokens, episodes, fingerprint, d, encoded_files=encoded_files, skipped=skipped, n_codes=n_codes)


# --------------------------------------------------------------------------- report
@dataclass
class GameSummary:
    game: str
    files: int = 0
    val_files: int = 0
    steps: int = 0
    frames: int = 0
    levels: int = 0
    tokens: int = 0
    action_types: set = field(default_factory=set)
    click_cells: set = field(default_factory=set)


def summarize(cache: TokenCache) -> list[GameSummary]:
    by_game: dict[str, GameSummary] = defaultdict(lambda: GameSummary(""))
    for e in cache.episodes:
        s = by_game[e.game]
        s.game = e.game
        s.files += 1
        s.val_files += e.split == "val"
        s.steps += e.n_actions
        s.frames += e.n_frames
        s.levels += e.levels_completed
        s.tokens += e.n_tokens
        s.action_types.update(e.action_types)
        s.click_cells.update(e.click_cells)
    return [by_game[g] for g in sorted(by_game)]


def _types(types: set) -> str:
    """{0, 1, 2, 3, 4, 6} → "R,1-4,6"."""
    out: list[str] = ["R"] if 0 in types else []
    run: list[int] = []
    for t in sorted(types - {0}) + [99]:
        if run and t != run[-1] + 1:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
            run = []
        run.append(t)
    return ",".join(out) or "—"


def summary_table(cache: TokenCache) -> Table:
    if cache.reused:
        how = "up to date, reused"
    else:
        how = f"rebuilt, {len(cache.encoded_files)} of {len(cache.episodes)} files encoded"
    table = Table(
        title=f"token cache ({how}): {cache.path}",
        caption="actions: R = RESET, 1-7 = ACTION1-7; val: files in the val split",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col in ("game", "files", "val", "steps", "frames", "levels", "tokens", "actions", "click cells"):
        table.add_column(col, justify="left" if col in ("game", "actions") else "right", no_wrap=True)
    rows = summarize(cache)
    for s in rows:
        table.add_row(
            s.game, str(s.files), str(s.val_files), f"{s.steps:,}", f"{s.frames:,}", str(s.levels), f"{s.tokens:,}",
            _types(s.action_types), f"{len(s.click_cells)} of 64",
        )  # fmt: skip
    if len(rows) > 1:
        table.add_row(
            "all", str(sum(s.files for s in rows)), str(sum(s.val_files for s in rows)), f"{sum(s.steps for s in rows):,}",
            f"{sum(s.frames for s in rows):,}", str(sum(s.levels for s in rows)), f"{sum(s.tokens for s in rows):,}",
            _types(set().union(*(s.action_types for s in rows))), "", style="bold",
        )  # fmt: skip
    return table

