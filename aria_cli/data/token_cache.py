"""Recordings → token trajectories, cached and never stale (`aria tokenize`; training commands call it too).

    cache = build_token_cache(Path("recordings"), Path("checkpoints"))
    for i in cache.split("train"):
        tokens = cache.episode_tokens(i) + base     # base-0 layout: add the world model's own base

The cache key is a fingerprint of the vocabulary version and layout (which follows the tokenizer's
codebook size, aria_cli.vocab), how recordings become episodes (`EPISODE_FORMAT`), the tokenizer
checkpoint's files and the
content (SHA-256) of every input file. Whatever changes, the next call rebuilds by itself; nothing is
ever deleted first. Each file's encoded episode is also kept on its own, keyed by the file's content
and the tokenizer, so a rebuild only encodes the files that changed.

Layout under `checkpoints/world_model/cache/`:

    index.json                         fingerprint, inputs and one entry per episode (file, game, split,
                                       token span, steps, levels, action types, click cells)
    cache-<fp>.tokens.npy              tokens (int32, episodes concatenated), memory-mapped when read
    cache-<fp>.npz                     frame_offsets, click_points and each episode's span of them
    entries/<tokenizer>-v<vocab>-c<code slots>-e<episode format>-f<entry format>/<sha256 of file>.npz
                                       one file's encoded episode

A LOC token names a click's 8x8 cell; where inside the cell the click landed (`vocab.click_point`, -1
for other actions) is kept beside the tokens, one per action, for the policy's click-point head.

The tokens are opened with `np.load(mmap_mode="r")`: a cache of tens of millions of tokens costs no
memory until windows read it, and is built by appending one file's episode at a time (never all of
them in memory). `index.json` is written last and names its arrays files, so a crash mid-write leaves
the previous cache intact (or none): a reader never sees a half-built cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from aria_cli.common import atomic, ui
from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.data.recordings import EPISODE_FORMAT, Recording, find_recordings, read_recording
from aria_cli.data.splits import assign_split
from aria_cli.training.checkpoints import file_sha256, token_cache_dir
from aria_cli.vocab import CLICK, DEFAULT_CODES, VOCAB_VERSION, Vocab, episode_tokens

INDEX_FILE = "index.json"
INDEX_FORMAT = 3  # 2: tokens in their own memory-mapped .npy; 3: click points
ENTRY_FORMAT = 2  # 2: click points
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
    click_points: np.ndarray  # (n_actions,) int8: each click's pixel inside its cell (vocab.click_point), else -1
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
        del d["frame_offsets"], d["click_points"]
        return d


@dataclass
class TokenCache:
    tokens: np.ndarray  # int32, base-0 layout (`vocab`), episodes concatenated; a read-only np.memmap
    episodes: list[EpisodeEntry]
    fingerprint: str
    path: Path  # the cache folder
    encoded_files: list[str] = field(default_factory=list)  # files this call had to encode
    reused: bool = False  # the whole cache was already up to date
    skipped: list[str] = field(default_factory=list)  # unusable files (with --skip-bad)
    n_codes: int = DEFAULT_CODES  # code slots of the layout: the tokenizer's (aria_cli.vocab)
    frames_encoded: int = 0  # frames this call had to encode
    seconds: float = 0.0  # this call's wall time

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

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
    click_points: np.ndarray
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
        out.append(_Encoded(tokens.astype(np.int32), offsets.astype(np.int64), ep.action_points, meta))
    return out


def _save_entry(path: Path, enc: _Encoded) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, tokens=enc.tokens, frame_offsets=enc.frame_offsets, click_points=enc.click_points,
                     meta=np.array(json.dumps(enc.meta)))

    atomic.write_with(path, write)


def _load_entry(path: Path) -> _Encoded | None:
    """A stored entry, or None when missing or unreadable (then the file is simply encoded again)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return _Encoded(z["tokens"], z["frame_offsets"], z["click_points"], json.loads(str(z["meta"])))
    except Exception:  # a damaged entry is re-encoded, never trusted
        return None


# --------------------------------------------------------------------------- the whole cache
def _fingerprint(tokenizer_fp: str, n_codes: int, files: list[tuple[str, str]]) -> str:
    key = json.dumps({"vocab_version": VOCAB_VERSION, "n_codes": n_codes, "index_format": INDEX_FORMAT,
                      "episode_format": EPISODE_FORMAT, "tokenizer": tokenizer_fp, "files": files})
    return hashlib.sha256(key.encode()).hexdigest()


def _load_cache(d: Path, fingerprint: str) -> TokenCache | None:
    try:
        index = json.loads((d / INDEX_FILE).read_text())
        if index.get("fingerprint") != fingerprint or index.get("format") != INDEX_FORMAT:
            return None
        with np.load(d / index["arrays"], allow_pickle=False) as z:
            offsets, offset_spans = z["frame_offsets"], z["offset_spans"]
            points, point_spans = z["click_points"], z["point_spans"]
        tokens = np.load(d / index["tokens"], mmap_mode="r", allow_pickle=False)
        if tokens.dtype != np.int32 or tokens.shape != (index["n_tokens"],):
            return None
        episodes = [
            EpisodeEntry(**{**m, "frame_offsets": offsets[a:b], "click_points": points[c:d]})
            for m, (a, b), (c, d) in zip(index["episodes"], offset_spans.tolist(), point_spans.tolist(), strict=True)
        ]
        return TokenCache(tokens, episodes, fingerprint, d, reused=True, skipped=index.get("skipped", []),
                          n_codes=int(index["n_codes"]))
    except Exception:  # missing, partial or from another version: rebuild
        return None


@dataclass
class _Part:
    """One file's episode while the cache is assembled: its tokens stay in its entry file until written."""

    key: str
    sha: str
    entry_path: Path
    n_tokens: int
    frame_offsets: np.ndarray
    click_points: np.ndarray
    meta: dict


def _part(key: str, sha: str, entry_path: Path, enc: _Encoded) -> _Part:
    return _Part(key, sha, entry_path, len(enc.tokens), enc.frame_offsets, enc.click_points, enc.meta)


def _write_tokens(path: Path, parts: list[_Part]) -> None:
    """The .npy of every part's tokens, one entry file read at a time (plain writes: a full disk is an
    OSError, where a memory map would die of SIGBUS)."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<i4")), "fortran_order": False,
              "shape": (sum(p.n_tokens for p in parts),)}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            for p in parts:
                enc = _load_entry(p.entry_path)
                if enc is None or len(enc.tokens) != p.n_tokens:
                    raise CheckpointError(f"{p.entry_path}: the encoded entry vanished while the token cache was built; run again")
                f.write(enc.tokens.astype("<i4", copy=False).tobytes())

    atomic.write_with(path, write)


def _joined(arrays: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype)


def _spans(arrays: list[np.ndarray]) -> np.ndarray:
    """(n, 2) int64: where each array lies in their concatenation."""
    bounds = np.cumsum([0] + [len(a) for a in arrays])
    return np.stack([bounds[:-1], bounds[1:]], axis=1).astype(np.int64)


def _write_cache(cache: TokenCache, parts: list[_Part]) -> Path:
    """Write the arrays, then the index that names them (the commit point); the tokens' path."""
    d = cache.path
    stem = f"cache-{cache.fingerprint[:16]}"
    arrays, tokens = f"{stem}.npz", f"{stem}.tokens.npy"
    offsets = [e.frame_offsets for e in cache.episodes]
    points = [e.click_points for e in cache.episodes]

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, frame_offsets=_joined(offsets, np.int64), offset_spans=_spans(offsets),
                     click_points=_joined(points, np.int8), point_spans=_spans(points))

    _write_tokens(d / tokens, parts)
    atomic.write_with(d / arrays, write)
    index = {
        "format": INDEX_FORMAT,
        "fingerprint": cache.fingerprint,
        "vocab_version": VOCAB_VERSION,
        "vocab_base": 0,
        "n_codes": cache.n_codes,
        "arrays": arrays,
        "tokens": tokens,
        "n_tokens": int(sum(p.n_tokens for p in parts)),
        "skipped": cache.skipped,
        "episodes": [e.meta() for e in cache.episodes],
    }
    atomic.write_json(d / INDEX_FILE, index)  # the commit point
    for old in d.glob("cache-*"):
        if old.name not in (arrays, tokens):
            old.unlink(missing_ok=True)
    return d / tokens


def build_token_cache(
    data_dir: Path, checkpoints: Path, skip_bad: bool = False, device: str = "cpu", quiet: bool = True
) -> TokenCache:
    """The token cache for every recording under `data_dir`: reused when up to date, otherwise rebuilt,
    encoding only the files whose content (or the tokenizer) changed."""
    from aria_cli.tokenizer import model as vqvae

    t0 = time.perf_counter()
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
        cached.seconds = time.perf_counter() - t0
        return cached

    entry_dir = d / "entries" / f"{tok_fp[:16]}-v{VOCAB_VERSION}-c{n_codes}-e{EPISODE_FORMAT}-f{ENTRY_FORMAT}"
    enc = _Encoder(checkpoints, tok_fp, device)
    parts: dict[str, _Part] = {}
    skipped: list[str] = []
    with ui.progress(transient=True) if not quiet else nullcontext() as prog:
        task = prog.add_task("tokenizing", total=len(files)) if prog is not None else None
        for key, path, sha in files:
            entry_path = entry_dir / f"{sha}.npz"
            stored = _load_entry(entry_path)
            if stored is not None and (skip_bad or not stored.meta["bad_lines"]):
                parts[key] = _part(key, sha, entry_path, stored)
            else:
                rec = read_usable(path, skip_bad)  # raises the reader's error for bad lines without --skip-bad
                if rec is None:
                    skipped.append(f"{key} (no usable lines)")
                else:
                    parts.update(enc.add(key, sha, entry_path, rec))
            del stored
            if task is not None:
                prog.advance(task)
        parts.update(enc.flush())
    ordered = [parts[key] for key, _, _ in files if key in parts]
    if not ordered:
        raise AriaError(f"no usable recordings under {data_dir.resolve()} (every file was empty or bad)")

    cache = _assemble(ordered, fingerprint, d, enc.files, skipped, n_codes)
    _store(cache, ordered, d, entry_dir)
    cache.frames_encoded, cache.seconds = enc.frames, time.perf_counter() - t0
    return cache


class _Encoder:
    """Recordings read but not yet encoded: encoded together once ENCODE_FRAMES frames wait (cells repeat
    across files), each result saved as its file's entry and kept only as a `_Part`."""

    def __init__(self, checkpoints: Path, tok_fp: str, device: str):
        self.checkpoints, self.tok_fp, self.device = checkpoints, tok_fp, device
        self.tokenizer = None
        self.pending: list[tuple[str, str, Path, Recording]] = []
        self.files: list[str] = []  # encoded, in order
        self.frames = 0

    def add(self, key: str, sha: str, entry_path: Path, rec: Recording) -> dict[str, _Part]:
        self.pending.append((key, sha, entry_path, rec))
        return self.flush() if sum(len(r.steps) for *_, r in self.pending) >= ENCODE_FRAMES else {}

    def flush(self) -> dict[str, _Part]:
        from aria_cli.tokenizer import model as vqvae

        if not self.pending:
            return {}
        if self.tokenizer is None:
            self.tokenizer = vqvae.load_tokenizer(self.checkpoints, device=self.device)
            if self.tokenizer.fingerprint != self.tok_fp:
                raise AriaError(f"the tokenizer under {vqvae.vqvae_dir(self.checkpoints)} changed while tokenizing; run again")
        out = {}
        recs = [r for *_, r in self.pending]
        for (key, sha, entry_path, rec), enc in zip(self.pending, _encode_recordings(recs, self.tokenizer), strict=True):
            _save_entry(entry_path, enc)
            out[key] = _part(key, sha, entry_path, enc)
            self.files.append(key)
            self.frames += len(rec.steps)
        self.pending.clear()
        return out


def _store(cache: TokenCache, parts: list[_Part], d: Path, entry_dir: Path) -> None:
    """Write the cache (its tokens then memory-mapped), and drop the entries of other tokenizers or
    vocabularies: they can never be used again."""
    try:
        cache.tokens = np.load(_write_cache(cache, parts), mmap_mode="r", allow_pickle=False)
    except OSError as e:
        raise CheckpointError(f"{d}: cannot write the token cache ({e.strerror})") from None
    for other in (d / "entries").glob("*"):
        if other.is_dir() and other != entry_dir:
            shutil.rmtree(other, ignore_errors=True)


def _assemble(parts: list[_Part], fingerprint: str, d: Path, encoded_files: list[str], skipped: list[str],
              n_codes: int) -> TokenCache:
    """The cache's index from each file's part, episodes concatenated in file order (its tokens: empty
    until `_store` has written them)."""
    split = assign_split((p.key, p.meta["game"]) for p in parts)
    episodes, start = [], 0
    for p in parts:
        m = p.meta
        episodes.append(
            EpisodeEntry(
                file=p.key, game=m["game"], split=split[p.key], start=start, end=start + p.n_tokens,
                frame_offsets=p.frame_offsets, click_points=p.click_points, n_actions=m["n_actions"],
                levels_completed=m["levels_completed"], action_types=list(m["action_types"]),
                click_cells=list(m["click_cells"]), game_id=m["game_id"],
                content_hash=p.sha, bad_lines=m["bad_lines"],
            )
        )  # fmt: skip
        start += p.n_tokens
    return TokenCache(np.zeros(0, np.int32), episodes, fingerprint, d, encoded_files=encoded_files, skipped=skipped,
                      n_codes=n_codes)
