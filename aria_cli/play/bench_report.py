"""What `aria bench` leaves at the end of a results folder: summary.json, table.txt and bench.png.

The PNG has one block per game and one row per agent in it: on the left the levels completed (mean
over seeds) as a share of the game's levels, on the right the official score (the best seed's, on a
0-115 scale, the toolkit's cap per level). Drawn with Pillow, a dependency already.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from rich.console import Console

from aria_cli.common import atomic
from aria_cli.play.compare import ComparisonResult
from aria_cli.play.score import fmt_score

WIDTH = 960
HEADER = 44
ROW = 18  # one agent's bars
GAP = 8  # between games
FOOTER = 12
LABEL_W, AGENT_W = 150, 110
PANEL_W = (WIDTH - LABEL_W - AGENT_W - 3 * 12) // 2
SCORE_MAX = 115.0
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def png_size(n_games: int, n_agents: int) -> tuple[int, int]:
    return WIDTH, HEADER + n_games * (n_agents * ROW + GAP) + FOOTER


def _bar(draw: ImageDraw.ImageDraw, x: int, y: int, frac: float, colour, text: str, font) -> None:
    draw.rectangle([x, y + 2, x + PANEL_W, y + ROW - 3], fill=(238, 238, 238))
    w = int(round(PANEL_W * max(0.0, min(1.0, frac))))
    if w:
        draw.rectangle([x, y + 2, x + w, y + ROW - 3], fill=colour)
    draw.text((x + 4, y + 3), text, fill=(0, 0, 0), font=font)


def draw_png(result: ComparisonResult, path: Path) -> Path:
    """Levels completed and score side by side, per game and agent (see the module docstring)."""
    size = png_size(len(result.games), len(result.agents))
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    x_levels = LABEL_W + AGENT_W + 12
    x_score = x_levels + PANEL_W + 12
    n_seeds = len(result.seeds)
    draw.text((8, 6), f"aria bench · {len(result.games)} games · at most {result.max_actions} actions · "
                      f"{n_seeds} seed{'s' if n_seeds != 1 else ''}", fill=(0, 0, 0), font=font)  # fmt: skip
    draw.text((x_levels, 26), "levels completed (mean over seeds)", fill=(0, 0, 0), font=font)
    draw.text((x_score, 26), f"score, 0-{SCORE_MAX:.0f}" + (" (best seed)" if n_seeds > 1 else ""),
              fill=(0, 0, 0), font=font)  # fmt: skip
    rows = {(s["game"], s["agent"]): s for s in result.summary()}
    y = HEADER
    for game in result.games:
        draw.line([0, y, WIDTH, y], fill=(210, 210, 210))
        draw.text((8, y + 3), game, fill=(0, 0, 0), font=font)
        for k, agent in enumerate(result.agents):
            s, colour = rows.get((game, agent)), COLOURS[k % len(COLOURS)]
            draw.text((LABEL_W, y + 3), agent, fill=colour, font=font)
            if s is None:
                pass
            elif s["errors"] and not s["win_levels"]:
                draw.text((x_levels + 4, y + 3), "error: " + s["errors"][0][:120], fill=(200, 0, 0), font=font)
            else:
                frac = s["mean_levels"] / s["win_levels"] if s["win_levels"] else 0.0
                _bar(draw, x_levels, y, frac, colour, f"{s['mean_levels']:.1f} / {s['win_levels']}", font)
                score = s["score"]
                _bar(draw, x_score, y, (score or 0.0) / SCORE_MAX, colour, fmt_score(score), font)
            y += ROW
        y += GAP
    atomic.write_with(path, lambda tmp: img.save(tmp, format="PNG"))
    return path


def table_text(result: ComparisonResult) -> str:
    """The bench table as plain text (table.txt), as wide as it needs to be."""
    console = Console(width=250, record=True, file=io.StringIO())
    for table in result.tables(show_errors=True):
        console.print(table)
    return console.export_text()


def write_report(out: Path, result: ComparisonResult, meta: dict) -> None:
    """summary.json, table.txt, bench.png in `out`."""
    summary = result.to_json() | {"bench": meta}
    runs = result.runs
    summary["failed_runs"] = sum(1 for r in runs if r.error)
    atomic.write_json(out / "summary.json", summary)
    atomic.write_text(out / "table.txt", table_text(result))
    draw_png(result, out / "bench.png")
