"""What `aria games` shows: the games aria can run, as a table."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from aria_cli.games.adapter import GameInfo


def games_table(infos: list[GameInfo]) -> Table:
    table = Table(title="games (first match wins: your folder, then bundled)", title_justify="left")
    for col in ("id", "version", "title", "levels", "actions", "source"):
        table.add_column(col, justify="right" if col == "levels" else "left")
    first_source: dict[str, str] = {}
    for g in infos:
        first_source.setdefault(g.game, g.source)
        source = g.source if first_source[g.game] == g.source else f"{g.source} (shadowed)"
        if g.error:
            table.add_row(g.game, g.version, Text(f"cannot load: {g.error}", style="red"), str(g.levels or "?"), "?", source)
        else:
            table.add_row(g.game, g.version, g.title, str(g.levels), g.action_set, source)
    return table
