"""qmaz: Key Maze, one of aria's bundled games for the arc-agi toolkit (arcengine).

Walk a maze with ACTION1-4 (up, down, left, right) to the green exit. Coloured doors open only
for a player who has picked up the key of the same colour. Every action spends one unit of the
step budget (the bar at the right of the HUD strip); when it runs out the level is lost
(GAME_OVER) and RESET starts the level again. Five levels, each a larger maze with more keys.

Layouts are generated from the seed the toolkit passes in, so every seed is a different, always
solvable game, and a given seed is always the same game.

This file is self-contained (numpy, arcengine, the standard library) because the toolkit loads it by
executing its source. The attributes listed on `Qmaz` are what a scripted demonstrator reads.
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np
from arcengine import ARCBaseGame, BlockingMode, Camera, Level, RenderableUserDisplay, Sprite

BOARD_H = 56  # the play area; the HUD strip is rows 56-63
WALL, FLOOR, EXIT = "#", ".", "E"
KEYS, DOORS = "abc", "ABC"  # key 'a' opens door 'A'
KEY_COLOURS = (9, 6, 12)  # blue, magenta, orange
C_OUTSIDE, C_WALL, C_FLOOR, C_PLAYER, C_EXIT, C_EXIT_IN = 5, 3, 1, 8, 14, 0

# width, height (odd: walls on even rows/columns), tile pixels, keys, share of extra openings (loops)
LEVELS = (
    (7, 7, 8, 0, 0.35),
    (9, 9, 6, 0, 0.15),
    (11, 11, 5, 1, 0.10),
    (13, 13, 4, 2, 0.08),
    (15, 13, 4, 3, 0.05),
)
MOVES = {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}


def _neighbours(r: int, c: int, step: int = 1):
    return ((r - step, c), (r + step, c), (r, c - step), (r, c + step))


def _carve(w: int, h: int, rng: random.Random) -> list[list[str]]:
    """A perfect maze (a tree) on the odd cells, by randomised depth-first search."""
    grid = [[WALL] * w for _ in range(h)]
    start = (1 + 2 * rng.randrange(h // 2), 1 + 2 * rng.randrange(w // 2))
    grid[start[0]][start[1]] = FLOOR
    stack = [start]
    while stack:
        r, c = stack[-1]
        options = [(nr, nc) for nr, nc in _neighbours(r, c, 2) if 0 < nr < h and 0 < nc < w and grid[nr][nc] == WALL]
        if not options:
            stack.pop()
            continue
        nr, nc = rng.choice(options)
        grid[(r + nr) // 2][(c + nc) // 2] = FLOOR
        grid[nr][nc] = FLOOR
        stack.append((nr, nc))
    return grid


def _bfs_tree(grid: list[list[str]], src: tuple[int, int]) -> dict:
    parent = {src: None}
    queue = deque([src])
    while queue:
        cur = queue.popleft()
        for nxt in _neighbours(*cur):
            if nxt not in parent and grid[nxt[0]][nxt[1]] != WALL:
                parent[nxt] = cur
                queue.append(nxt)
    return parent


def shortest_solution(grid: list[list[str]], start: tuple[int, int], held: str = "") -> int | None:
    """Fewest moves from `start` to the exit, picking up keys on the way (None if impossible)."""
    h, w = len(grid), len(grid[0])
    mask0 = sum(1 << KEYS.index(k) for k in held)
    seen = {(start, mask0)}
    queue = deque([(start, mask0, 0)])
    while queue:
        (r, c), mask, d = queue.popleft()
        for dr, dc in MOVES.values():
            nr, nc = r + dr, c + dc
            if not (0 <= nr < h and 0 <= nc < w):
                continue
            t = grid[nr][nc]
            if t == WALL or (t in DOORS and not mask >> DOORS.index(t) & 1):
                continue
            if t == EXIT:
                return d + 1
            m = mask | (1 << KEYS.index(t)) if t in KEYS else mask
            if ((nr, nc), m) not in seen:
                seen.add(((nr, nc), m))
                queue.append(((nr, nc), m, d + 1))
    return None


def make_level(index: int, rng: random.Random) -> dict:
    """One level: maze rows, start, tile size and step budget, as plain data (kept in Level.data)."""
    w, h, tile, n_keys, loops = LEVELS[index]
    grid = _carve(w, h, rng)
    nodes = [(r, c) for r in range(1, h, 2) for c in range(1, w, 2)]
    start = rng.choice(nodes)
    parent = _bfs_tree(grid, start)
    # The exit is the node farthest from the start, so the maze has to be walked.
    depth = {start: 0}
    for cell in parent:  # BFS order: parents come first
        if parent[cell] is not None:
            depth[cell] = depth[parent[cell]] + 1
    exit_ = max(nodes, key=lambda n: (depth[n], n))
    path = [exit_]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])
    path.reverse()
    # Doors sit in corridors along the one route to the exit, in order; key i lies before door i.
    doors, last = [], 1
    for i in range(n_keys):
        want = max(last + 2, len(path) * (i + 1) // (n_keys + 1))
        idx = next((j for j in range(want, len(path) - 1) if (path[j][0] % 2 == 0) != (path[j][1] % 2 == 0)), None)
        if idx is None:
            break
        doors.append(path[idx])
        last = idx
    region = {start: 0}
    for cell in parent:
        if parent[cell] is not None:
            region[cell] = region[parent[cell]] + (1 if parent[cell] in doors else 0)
    on_path = set(path)
    for i, door in enumerate(doors):
        grid[door[0]][door[1]] = DOORS[i]
        cands = [n for n in nodes if region.get(n) == i and n != start and n not in on_path]
        dead_ends = [n for n in cands if sum(grid[a][b] != WALL for a, b in _neighbours(*n)) == 1]
        pool = dead_ends or cands or [n for n in nodes if region.get(n) == i and n not in (start, exit_)]
        key = rng.choice(pool)
        grid[key[0]][key[1]] = KEYS[i]
    # A few extra openings make loops, only inside one region so no door can be walked around.
    walls = [
        (r, c)
        for r in range(1, h - 1)
        for c in range(1, w - 1)
        if grid[r][c] == WALL and (r % 2) != (c % 2)
    ]
    rng.shuffle(walls)
    for r, c in walls[: int(len(walls) * loops)]:
        a, b = ((r - 1, c), (r + 1, c)) if r % 2 == 0 else ((r, c - 1), (r, c + 1))
        if region.get(a) == region.get(b) is not None and a not in doors and b not in doors:
            grid[r][c] = FLOOR
    grid[exit_[0]][exit_[1]] = EXIT
    best = shortest_solution(grid, start)
    assert best is not None, "generated an unsolvable maze"
    return {
        "rows": ["".join(row) for row in grid],
        "start": start,
        "tile": tile,
        "budget": best + max(8, best // 2),
    }


class Hud(RenderableUserDisplay):
    """Bottom strip: a pip per level (done, current, to come), keys held, and the step budget bar."""

    def __init__(self, game: Qmaz):
        self.game = game

    def render_interface(self, frame: np.ndarray) -> np.ndarray:
        g = self.game
        frame[BOARD_H:, :] = 5
        frame[BOARD_H, :] = 4
        for i in range(len(LEVELS)):
            frame[59:62, 2 + 4 * i : 5 + 4 * i] = 14 if i < g.levels_done else (0 if i == g.level_index else 3)
        for j, k in enumerate(KEYS):
            if k in g.keys_held:
                frame[59:62, 24 + 4 * j : 27 + 4 * j] = KEY_COLOURS[j]
        fill = (28 * g.budget_left + g.budget - 1) // g.budget
        frame[59:62, 34:62] = 4
        frame[59:62, 34 : 34 + fill] = 8 if 4 * g.budget_left <= g.budget else 11
        return frame


class Qmaz(ARCBaseGame):
    """Key Maze.

    State a demonstrator may read (the current level): `grid` (rows of tile characters: '#' wall,
    '.' floor, 'E' exit, 'a'-'c' keys, 'A'-'C' doors), `player` (row, col), `keys_held` (a str),
    `budget` and `budget_left` (actions).
    """

    def __init__(self, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.specs = [make_level(i, rng) for i in range(len(LEVELS))]
        self.grid: list[list[str]] = []
        self.player = (0, 0)
        self.keys_held = ""
        self.budget = self.budget_left = 1
        levels = [
            Level(
                sprites=[Sprite(np.full((BOARD_H, 64), C_OUTSIDE, np.int8), name="board", blocking=BlockingMode.NOT_BLOCKED)],
                data={"index": i},
                name=f"level {i + 1}",
            )
            for i in range(len(LEVELS))
        ]
        camera = Camera(background=C_OUTSIDE, letter_box=C_OUTSIDE, interfaces=[Hud(self)])
        super().__init__(game_id="qmaz", levels=levels, camera=camera, available_actions=[1, 2, 3, 4], seed=seed)

    @property
    def levels_done(self) -> int:
        return self._score

    def on_set_level(self, level: Level) -> None:
        spec = self.specs[level.get_data("index")]
        self.grid = [list(row) for row in spec["rows"]]
        self.player = tuple(spec["start"])
        self.keys_held = ""
        self.budget = self.budget_left = spec["budget"]
        self.tile = spec["tile"]
        h, w = len(self.grid), len(self.grid[0])
        self.ox, self.oy = (64 - w * self.tile) // 2, (BOARD_H - h * self.tile) // 2
        self.board = level.get_sprites_by_name("board")[0]
        self.static = np.full((BOARD_H, 64), C_OUTSIDE, np.int8)
        for r in range(h):
            for c in range(w):
                self._paint(r, c)
        self._draw()

    # ------------------------------------------------------------------ drawing
    def _cell(self, arr: np.ndarray, r: int, c: int) -> np.ndarray:
        t = self.tile
        return arr[self.oy + r * t : self.oy + (r + 1) * t, self.ox + c * t : self.ox + (c + 1) * t]

    def _paint(self, r: int, c: int) -> None:
        """Draw one tile of the static layer (walls, floor, exit, keys, doors)."""
        t, ch, px = self.tile, self.grid[r][c], self._cell(self.static, r, c)
        s, o = max(2, t // 2), (t - max(2, t // 2)) // 2
        if ch == WALL:
            px[:] = C_WALL
        elif ch == EXIT:
            px[:] = C_EXIT
            px[o : o + s, o : o + s] = C_EXIT_IN
        elif ch in KEYS:
            px[:] = C_FLOOR
            px[o : o + s, o : o + s] = KEY_COLOURS[KEYS.index(ch)]
        elif ch in DOORS:
            px[:] = KEY_COLOURS[DOORS.index(ch)]
            px[t // 2, (t - 1) // 2 : t // 2 + 1] = C_OUTSIDE
        else:
            px[:] = C_FLOOR

    def _draw(self) -> None:
        board = self.static.copy()
        px = self._cell(board, *self.player)
        inset = 1 if self.tile >= 6 else 0
        px[inset : self.tile - inset, inset : self.tile - inset] = C_PLAYER
        self.board.pixels = board

    # ------------------------------------------------------------------ rules
    def step(self) -> None:
        move = MOVES.get(self.action.id.value)
        if move is not None:
            self._move(*move)
        self.complete_action()

    def _move(self, dr: int, dc: int) -> None:
        r, c = self.player[0] + dr, self.player[1] + dc
        ch = self.grid[r][c] if 0 <= r < len(self.grid) and 0 <= c < len(self.grid[0]) else WALL
        self.budget_left -= 1
        if ch in DOORS and KEYS[DOORS.index(ch)] in self.keys_held:
            ch = self.grid[r][c] = FLOOR  # the door opens and stays open
            self._paint(r, c)
        if ch != WALL and ch not in DOORS:
            self.player = (r, c)
            if ch in KEYS:
                self.keys_held += ch
                self.grid[r][c] = FLOOR
                self._paint(r, c)
        self._draw()
        if ch == EXIT:
            self.next_level()
        elif self.budget_left <= 0:
            self.lose()
