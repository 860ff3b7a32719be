"""The per-game table `aria tokenize` prints: what a token cache holds and how long it took to build."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from rich import box
from rich.table import Table

from aria_cli.data.token_cache import TokenCache


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



def disk_bytes(cache: TokenCache) -> int:
    """Bytes on disk of the cache itself: index, tokens and offsets (the per-file entries not counted)."""
    return sum(f.stat().st_size for f in [cache.path / "index.json", *cache.path.glob("cache-*")] if f.exists())


def throughput_line(cache: TokenCache) -> str:
    """What this call did and how fast: frames encoded, frames/s, tokens, seconds, size on disk."""
    size = f"{cache.n_tokens:,} tokens, {disk_bytes(cache) / 1e6:,.1f} MB on disk"
    if cache.reused:
        return f"reused the token cache ({size}) in {cache.seconds:.1f} s"
    if not cache.frames_encoded:
        return f"rebuilt the token cache from stored entries, no frame encoded ({size}) in {cache.seconds:.1f} s"
    rate = cache.frames_encoded / max(cache.seconds, 1e-9)
    return (f"encoded {cache.frames_encoded:,} frames of {len(cache.encoded_files)} files in {cache.seconds:.1f} s "
            f"({rate:,.0f} frames/s); {size}")
