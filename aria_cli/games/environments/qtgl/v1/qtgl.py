"""qtgl: Toggle Lights, one of aria's bundled games for the arc-agi toolkit (arcengine).

Click-only (ACTION6 at x,y). Clicking a tile flips it and the tiles around it between dark (blue)
and lit (yellow); the level is won when every tile is lit. Which neighbours flip depends on the
level: the four orthogonal ones at first, the four diagonal ones later, and some boards have holes.
Every click spends one unit of the budget (the bar in the HUD strip); when it runs out the level is
lost (GAME_OVER) and RESET starts it again.

Tiles sit on the 8x8-pixel grid (one tile per 8x8 cell). Boards are scrambled from the solved state
by clicks chosen from the seed the toolkit passes in, so every seed is solvable and reproducible.

This file is self-contained (numpy, arcengine, the standard library) because the toolkit loads it by
executing its source. The attributes listed on `Qtgl` are what a scripted demonstrator reads.
"""

from __future__ import annotations

import random

import numpy as np
from arcengine import ARCBaseGame, BlockingMode, Camera, Level, RenderableUserDisplay, Sprite

BOARD_H = 56  # the play area; the HUD strip is rows 56-63
CELL = 8
C_BACK, C_OFF, C_ON, C_ON_CORE, C_HOLE = 4, 9, 11, 12, 5
PATTERNS = {
    "plus": ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)),
    "cross": ((0, 0), (-1, -1), (-1, 1), (1, -1), (1, 1)),
}
# width, height (in tiles), flip pattern, holes, scramble clicks
LEVELS = (
    (3, 3, "plus", 0, 2),
    (4, 4, "plus", 0, 3),
    (5, 5, "plus", 0, 5),
    (6, 5, "plus", 4, 7),
    (6, 6, "cross", 0, 9),
)


def make_level(index: int, rng: random.Random) -> dict:
    """One level as plain data: tile mask, starting lights, pattern and budget."""
    w, h, pattern, n_holes, n_scramble = LEVELS[index]
    cells = [(r, c) for r in range(h) for c in range(w)]
    holes = set(rng.sample(cells, n_holes))
    tiles = [p for p in cells if p not in holes]
    while True:
        lit = {p: True for p in tiles}
        for r, c in rng.sample(tiles, n_scramble):
            for dr, dc in PATTERNS[pattern]:
                if (r + dr, c + dc) in lit:
                    lit[(r + dr, c + dc)] = not lit[(r + dr, c + dc)]
        if not all(lit.values()):
            break
    rows = ["".join("." if (r, c) in holes else ("1" if lit[(r, c)] else "0") for c in range(w)) for r in range(h)]
    return {"rows": rows, "pattern": pattern, "budget": 2 * n_scramble + 6}


class Hud(RenderableUserDisplay):
    """Bottom strip: a pip per level (done, current, to come) and the click budget bar."""

    def __init__(self, game: Qtgl):
        self.game = game

    def render_interface(self, frame: np.ndarray) -> np.ndarray:
        g = self.game
        frame[BOARD_H:, :] = 5
        frame[BOARD_H, :] = 3
        for i in range(len(LEVELS)):
            frame[59:62, 2 + 4 * i : 5 + 4 * i] = 14 if i < g.levels_done else (0 if i == g.level_index else 3)
        fill = (28 * g.budget_left + g.budget - 1) // g.budget
        frame[59:62, 34:62] = 4
        frame[59:62, 34 : 34 + fill] = 8 if 4 * g.budget_left <= g.budget else 11
        return frame


class Qtgl(ARCBaseGame):
    """Toggle Lights.

    State a demonstrator may read (the current level): `lit` (rows of True/False, None for a hole),
    `pattern` ((drow, dcol) offsets a click flips), `origin` (x, y pixel of tile (0, 0)), `cell`
    (tile pitch in pixels), `budget` and `budget_left` (clicks).
    """

    def __init__(self, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.specs = [make_level(i, rng) for i in range(len(LEVELS))]
        self.lit: list[list[bool | None]] = []
        self.pattern = PATTERNS["plus"]
        self.cell = CELL
        self.origin = (0, 0)
        self.budget = self.budget_left = 1
        levels = [
            Level(
                sprites=[Sprite(np.full((BOARD_H, 64), C_BACK, np.int8), name="board", blocking=BlockingMode.NOT_BLOCKED)],
                data={"index": i},
                name=f"level {i + 1}",
            )
            for i in range(len(LEVELS))
        ]
        camera = Camera(background=C_BACK, letter_box=C_BACK, interfaces=[Hud(self)])
        super().__init__(game_id="qtgl", levels=levels, camera=camera, available_actions=[6], seed=seed)

    @property
    def levels_done(self) -> int:
        return self._score

    def on_set_level(self, level: Level) -> None:
        spec = self.specs[level.get_data("index")]
        self.lit = [[None if ch == "." else ch == "1" for ch in row] for row in spec["rows"]]
        self.pattern = PATTERNS[spec["pattern"]]
        self.budget = self.budget_left = spec["budget"]
        h, w = len(self.lit), len(self.lit[0])
        self.origin = ((64 // CELL - w) // 2 * CELL, (BOARD_H // CELL - h) // 2 * CELL)
        self.board = level.get_sprites_by_name("board")[0]
        self.pixels = np.full((BOARD_H, 64), C_BACK, np.int8)
        for r in range(h):
            for c in range(w):
                self._paint(r, c)
        self.board.pixels = self.pixels.copy()

    def _paint(self, r: int, c: int) -> None:
        x, y = self.origin[0] + c * CELL, self.origin[1] + r * CELL
        px = self.pixels[y : y + CELL, x : x + CELL]
        px[:] = C_BACK
        state = self.lit[r][c]
        if state is None:
            px[3:5, 3:5] = C_HOLE
        elif state:
            px[1:7, 1:7] = C_ON
            px[3:5, 3:5] = C_ON_CORE
        else:
            px[1:7, 1:7] = C_OFF

    def tile_at(self, x: int, y: int) -> tuple[int, int] | None:
        """(row, col) of the tile under pixel (x, y), or None for the background or a hole."""
        c, r = (x - self.origin[0]) // CELL, (y - self.origin[1]) // CELL
        if 0 <= r < len(self.lit) and 0 <= c < len(self.lit[0]) and self.lit[r][c] is not None:
            return r, c
        return None

    def step(self) -> None:
        data = self.action.data or {}
        if self.action.id.value == 6 and "x" in data and "y" in data:
            self._click(int(data["x"]), int(data["y"]))
        self.complete_action()

    def _click(self, x: int, y: int) -> None:
        self.budget_left -= 1
        hit = self.tile_at(x, y)
        if hit is not None:
            h, w = len(self.lit), len(self.lit[0])
            for dr, dc in self.pattern:
                r, c = hit[0] + dr, hit[1] + dc
                if 0 <= r < h and 0 <= c < w and self.lit[r][c] is not None:
                    self.lit[r][c] = not self.lit[r][c]
                    self._paint(r, c)
            self.board.pixels = self.pixels.copy()
        if all(v is not False for row in self.lit for v in row):
            self.next_level()
        elif self.budget_left <= 0:
            self.lose()
