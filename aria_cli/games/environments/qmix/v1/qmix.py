"""qmix: Colour Grid, one of aria's bundled games for the arc-agi toolkit (arcengine).

A square board of tiles, some grey (empty), some already coloured and pinned (a black dot). The
white frame is the cursor: ACTION1-4 move it up, down, left, right; ACTION5 cycles the colour of the
tile under it (grey, then each colour in turn, then grey again); clicking a tile (ACTION6 at x,y)
moves the cursor there. The marks to the right of each row and below each column turn red when the
line repeats a colour and green when it holds every colour once. The level is won when every row
and every column holds every colour exactly once. Every action spends one unit of the budget (the
bar in the HUD strip); when it runs out the level is lost (GAME_OVER) and RESET starts it again.

Tiles sit on the 8x8-pixel grid. Boards come from the seed the toolkit passes in (a shuffled Latin
square with some tiles given), so every seed is solvable and reproducible.

This file is self-contained (numpy, arcengine, the standard library) because the toolkit loads it by
executing its source. The attributes listed on `Qmix` are what a scripted demonstrator reads.
"""

from __future__ import annotations

import random

import numpy as np
from arcengine import ARCBaseGame, BlockingMode, Camera, Level, RenderableUserDisplay, Sprite

BOARD_H = 56  # the play area; the HUD strip is rows 56-63
CELL = 8
COLOURS = (8, 14, 9, 11, 15)  # red, green, blue, yellow, purple; value v>0 is COLOURS[v-1]
C_BACK, C_EMPTY, C_CURSOR, C_PIN = 4, 2, 0, 5
C_LINE_OPEN, C_LINE_BAD, C_LINE_OK = 3, 8, 14
# size (n x n tiles, n colours), given tiles
LEVELS = ((2, 1), (3, 5), (3, 3), (4, 7), (5, 11))
MOVES = {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}


def make_level(index: int, rng: random.Random) -> dict:
    """One level as plain data: the given tiles (value, or 0 for empty) and the budget."""
    n, n_given = LEVELS[index]
    rows, cols, symbols = list(range(n)), list(range(n)), list(range(1, n + 1))
    rng.shuffle(rows)
    rng.shuffle(cols)
    rng.shuffle(symbols)
    square = [[symbols[(rows[r] + cols[c]) % n] for c in range(n)] for r in range(n)]
    given = set(rng.sample([(r, c) for r in range(n) for c in range(n)], n_given))
    values = [[square[r][c] if (r, c) in given else 0 for c in range(n)] for r in range(n)]
    free = n * n - n_given
    return {"values": values, "budget": free * (n + 2) + 2 * n + 6}


def line_status(line: list[int], n: int) -> int:
    """Indicator colour of one row or column."""
    filled = [v for v in line if v]
    if len(set(filled)) < len(filled):
        return C_LINE_BAD
    return C_LINE_OK if len(filled) == n else C_LINE_OPEN


class Hud(RenderableUserDisplay):
    """Bottom strip: a pip per level (done, current, to come) and the action budget bar."""

    def __init__(self, game: Qmix):
        self.game = game

    def render_interface(self, frame: np.ndarray) -> np.ndarray:
        g = self.game
        frame[BOARD_H:, :] = 5
        frame[BOARD_H, :] = 1
        for i in range(len(LEVELS)):
            frame[59:62, 2 + 4 * i : 5 + 4 * i] = 14 if i < g.levels_done else (0 if i == g.level_index else 3)
        fill = (28 * g.budget_left + g.budget - 1) // g.budget
        frame[59:62, 34:62] = 4
        frame[59:62, 34 : 34 + fill] = 8 if 4 * g.budget_left <= g.budget else 11
        return frame


class Qmix(ARCBaseGame):
    """Colour Grid.

    State a demonstrator may read (the current level): `n` (board size and number of colours),
    `values` (rows of 0 = empty or 1..n), `pinned` (rows of True where a tile is given), `cursor`
    (row, col), `origin` (x, y pixel of tile (0, 0)), `cell` (tile pitch in pixels), `budget` and
    `budget_left` (actions).
    """

    def __init__(self, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.specs = [make_level(i, rng) for i in range(len(LEVELS))]
        self.n = 2
        self.values: list[list[int]] = []
        self.pinned: list[list[bool]] = []
        self.cursor = (0, 0)
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
        super().__init__(game_id="qmix", levels=levels, camera=camera, available_actions=[1, 2, 3, 4, 5, 6], seed=seed)

    @property
    def levels_done(self) -> int:
        return self._score

    def on_set_level(self, level: Level) -> None:
        spec = self.specs[level.get_data("index")]
        self.values = [list(row) for row in spec["values"]]
        self.pinned = [[v > 0 for v in row] for row in self.values]
        self.n = len(self.values)
        self.cursor = (0, 0)
        self.budget = self.budget_left = spec["budget"]
        # Leave one cell right of and below the board for the line marks.
        self.origin = ((64 // CELL - self.n - 1) // 2 * CELL, (BOARD_H // CELL - self.n - 1) // 2 * CELL)
        self.board = level.get_sprites_by_name("board")[0]
        self.pixels = np.full((BOARD_H, 64), C_BACK, np.int8)
        for r in range(self.n):
            for c in range(self.n):
                self._paint(r, c)
        self._paint_marks()
        self._show()

    # ------------------------------------------------------------------ drawing
    def _xy(self, r: int, c: int) -> tuple[int, int]:
        return self.origin[0] + c * CELL, self.origin[1] + r * CELL

    def _paint(self, r: int, c: int) -> None:
        x, y = self._xy(r, c)
        px = self.pixels[y : y + CELL, x : x + CELL]
        px[:] = C_BACK
        v = self.values[r][c]
        px[1:7, 1:7] = COLOURS[v - 1] if v else C_EMPTY
        if self.pinned[r][c]:
            px[3:5, 3:5] = C_PIN

    def _paint_marks(self) -> None:
        n = self.n
        for i in range(n):
            x, y = self._xy(i, n)
            self.pixels[y + 2 : y + 6, x + 1 : x + 3] = line_status(self.values[i], n)
            x, y = self._xy(n, i)
            self.pixels[y + 1 : y + 3, x + 2 : x + 6] = line_status([row[i] for row in self.values], n)

    def _show(self) -> None:
        board = self.pixels.copy()
        x, y = self._xy(*self.cursor)
        ring = board[y : y + CELL, x : x + CELL]
        ring[0, :] = ring[-1, :] = ring[:, 0] = ring[:, -1] = C_CURSOR
        self.board.pixels = board

    def tile_at(self, x: int, y: int) -> tuple[int, int] | None:
        """(row, col) of the tile under pixel (x, y), or None off the board."""
        c, r = (x - self.origin[0]) // CELL, (y - self.origin[1]) // CELL
        return (r, c) if 0 <= r < self.n and 0 <= c < self.n and x >= self.origin[0] and y >= self.origin[1] else None

    # ------------------------------------------------------------------ rules
    def solved(self) -> bool:
        n, full = self.n, set(range(1, self.n + 1))
        return all(set(row) == full for row in self.values) and all(
            {self.values[r][c] for r in range(n)} == full for c in range(n)
        )

    def step(self) -> None:
        a, data = self.action.id.value, self.action.data or {}
        if a == 0:  # RESET: the engine has already restored the level
            self.complete_action()
            return
        self.budget_left -= 1
        if a in MOVES:
            dr, dc = MOVES[a]
            self.cursor = (min(max(self.cursor[0] + dr, 0), self.n - 1), min(max(self.cursor[1] + dc, 0), self.n - 1))
        elif a == 5:
            r, c = self.cursor
            if not self.pinned[r][c]:
                self.values[r][c] = (self.values[r][c] + 1) % (self.n + 1)
                self._paint(r, c)
                self._paint_marks()
        elif a == 6 and "x" in data and "y" in data:
            hit = self.tile_at(int(data["x"]), int(data["y"]))
            if hit is not None:
                self.cursor = hit
        self._show()
        if a == 5 and self.solved():
            self.next_level()
        elif self.budget_left <= 0:
            self.lose()
        self.complete_action()
