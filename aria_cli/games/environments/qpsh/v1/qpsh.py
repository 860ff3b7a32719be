"""qpsh: Crate Push, one of aria's bundled games for the arc-agi toolkit (arcengine).

Walk with ACTION1-4 (up, down, left, right) and push the orange crates onto the green pads; a crate
on a pad turns green. Crates can be pushed but not pulled, one at a time, so a crate pushed into a
corner is stuck: RESET starts the level again. Every action spends one unit of the budget (the bar
in the HUD strip); when it runs out the level is lost (GAME_OVER). Five levels: larger rooms, inner
walls and more crates.

Rooms are made from the seed the toolkit passes in by playing backwards from the solved room
(pulling crates off their pads), so every seed is solvable and reproducible.

This file is self-contained (numpy, arcengine, the standard library) because the toolkit loads it by
executing its source. The attributes listed on `Qpsh` are what a scripted demonstrator reads.
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np
from arcengine import ARCBaseGame, BlockingMode, Camera, Level, RenderableUserDisplay, Sprite

BOARD_H = 56  # the play area; the HUD strip is rows 56-63
WALL, FLOOR = "#", "."
C_OUTSIDE, C_WALL, C_FLOOR, C_PAD = 5, 2, 4, 14
C_CRATE, C_CRATE_EDGE, C_CRATE_DONE, C_PLAYER, C_PLAYER_CORE = 12, 13, 14, 9, 10
# width, height (tiles, walls included), tile pixels, crates, inner wall density, backward steps,
# and how far (in total) the crates must start from their pads
LEVELS = (
    (7, 6, 8, 1, 0.0, 40, 3),
    (8, 7, 8, 1, 0.10, 80, 4),
    (9, 8, 6, 2, 0.08, 150, 7),
    (10, 9, 6, 2, 0.12, 200, 9),
    (11, 10, 5, 3, 0.10, 300, 12),
)
MOVES = {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}


def _room(w: int, h: int, density: float, rng: random.Random) -> list[list[str]]:
    """Border walls, scattered inner walls, and only the largest connected floor area kept."""
    grid = [[WALL if r in (0, h - 1) or c in (0, w - 1) or rng.random() < density else FLOOR for c in range(w)] for r in range(h)]
    seen: set = set()
    best: set = set()
    for r in range(h):
        for c in range(w):
            if grid[r][c] == FLOOR and (r, c) not in seen:
                comp, queue = {(r, c)}, deque([(r, c)])
                while queue:
                    cr, cc = queue.popleft()
                    for dr, dc in MOVES.values():
                        nxt = (cr + dr, cc + dc)
                        if grid[nxt[0]][nxt[1]] == FLOOR and nxt not in comp:
                            comp.add(nxt)
                            queue.append(nxt)
                seen |= comp
                if len(comp) > len(best):
                    best = comp
    return [[FLOOR if (r, c) in best else WALL for c in range(w)] for r in range(h)]


def walk_length(grid, crates: set, src: tuple, dst: tuple) -> int | None:
    """Fewest steps from src to dst around walls and crates."""
    if src == dst:
        return 0
    dist = {src: 0}
    queue = deque([src])
    while queue:
        cur = queue.popleft()
        for dr, dc in MOVES.values():
            nxt = (cur[0] + dr, cur[1] + dc)
            if nxt not in dist and grid[nxt[0]][nxt[1]] == FLOOR and nxt not in crates:
                if nxt == dst:
                    return dist[cur] + 1
                dist[nxt] = dist[cur] + 1
                queue.append(nxt)
    return None


def _play_backwards(grid, pads: list, player: tuple, steps: int, rng: random.Random):
    """Walk at random from the solved room, often pulling the crate behind; keeps going straight a while."""
    crates, pulls, d = set(pads), [], rng.choice(list(MOVES.values()))
    for _ in range(steps):
        if rng.random() > 0.6:
            d = rng.choice(list(MOVES.values()))
        to = (player[0] + d[0], player[1] + d[1])
        if grid[to[0]][to[1]] != FLOOR or to in crates:
            d = rng.choice(list(MOVES.values()))
            continue
        behind = (player[0] - d[0], player[1] - d[1])
        if behind in crates and rng.random() < 0.8:
            crates.remove(behind)
            crates.add(player)
            pulls.append((player, d))  # (where the player stood, direction): replayed forwards as a push
        player = to
    return crates, player, pulls


def make_level(index: int, rng: random.Random) -> dict:
    """One level as plain data, made by pulling crates backwards from their pads (so it is solvable)."""
    w, h, tile, n_crates, density, n_back, spread = LEVELS[index]
    best, best_far = None, -1
    for _attempt in range(60):
        grid = _room(w, h, density, rng)
        floor = [(r, c) for r in range(h) for c in range(w) if grid[r][c] == FLOOR]
        pads = rng.sample(floor, n_crates)
        start = rng.choice([p for p in floor if p not in pads])
        crates, player, pulls = _play_backwards(grid, pads, start, n_back, rng)
        if crates & set(pads):
            continue
        far = sum(min(abs(b[0] - p[0]) + abs(b[1] - p[1]) for p in pads) for b in crates)
        if far > best_far:
            best, best_far = (grid, pads, crates, player, pulls), far
        if far >= spread:
            break
    if best is None:
        raise RuntimeError(f"could not make level {index + 1}")
    grid, pads, crates, player, pulls = best
    # Par: replay the pulls backwards as pushes, walking the shortest way to each one.
    par, pos, state = 0, player, set(crates)
    for p, (dr, dc) in reversed(pulls):
        stand = (p[0] + dr, p[1] + dc)
        par += walk_length(grid, state, pos, stand) + 1
        state.remove(p)
        state.add((p[0] - dr, p[1] - dc))
        pos = p
    return {
        "rows": ["".join(row) for row in grid],
        "pads": sorted(pads),
        "crates": sorted(crates),
        "player": player,
        "tile": tile,
        "budget": par + max(12, par // 2),
    }


class Hud(RenderableUserDisplay):
    """Bottom strip: a pip per level (done, current, to come), crates placed, and the budget bar."""

    def __init__(self, game: Qpsh):
        self.game = game

    def render_interface(self, frame: np.ndarray) -> np.ndarray:
        g = self.game
        frame[BOARD_H:, :] = 5
        frame[BOARD_H, :] = 2
        for i in range(len(LEVELS)):
            frame[59:62, 2 + 4 * i : 5 + 4 * i] = 14 if i < g.levels_done else (0 if i == g.level_index else 3)
        fill = (28 * g.budget_left + g.budget - 1) // g.budget
        frame[59:62, 34:62] = 4
        frame[59:62, 34 : 34 + fill] = 8 if 4 * g.budget_left <= g.budget else 11
        return frame


class Qpsh(ARCBaseGame):
    """Crate Push.

    State a demonstrator may read (the current level): `grid` (rows of '#' wall / '.' floor),
    `pads` (set of (row, col)), `crates` (set of (row, col)), `player` (row, col), `budget` and
    `budget_left` (actions).
    """

    def __init__(self, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.specs = [make_level(i, rng) for i in range(len(LEVELS))]
        self.grid: list[str] = []
        self.pads: frozenset = frozenset()
        self.crates: set = set()
        self.player = (0, 0)
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
        super().__init__(game_id="qpsh", levels=levels, camera=camera, available_actions=[1, 2, 3, 4], seed=seed)

    @property
    def levels_done(self) -> int:
        return self._score

    def on_set_level(self, level: Level) -> None:
        spec = self.specs[level.get_data("index")]
        self.grid = list(spec["rows"])
        self.pads = frozenset(tuple(p) for p in spec["pads"])
        self.crates = {tuple(p) for p in spec["crates"]}
        self.player = tuple(spec["player"])
        self.budget = self.budget_left = spec["budget"]
        self.tile = t = spec["tile"]
        h, w = len(self.grid), len(self.grid[0])
        self.ox, self.oy = (64 - w * t) // 2, (BOARD_H - h * t) // 2
        self.board = level.get_sprites_by_name("board")[0]
        self.static = np.full((BOARD_H, 64), C_OUTSIDE, np.int8)
        s, o = t // 2, (t - t // 2) // 2
        for r in range(h):
            for c in range(w):
                px = self._cell(self.static, r, c)
                px[:] = C_WALL if self.grid[r][c] == WALL else C_FLOOR
                if (r, c) in self.pads:
                    px[o : o + s, o : o + s] = C_PAD
        self._draw()

    def _cell(self, arr: np.ndarray, r: int, c: int) -> np.ndarray:
        t = self.tile
        return arr[self.oy + r * t : self.oy + (r + 1) * t, self.ox + c * t : self.ox + (c + 1) * t]

    def _draw(self) -> None:
        board = self.static.copy()
        t, e = self.tile, 1 if self.tile >= 5 else 0
        for crate in self.crates:
            px = self._cell(board, *crate)
            px[:] = C_CRATE_EDGE
            px[e : t - e, e : t - e] = C_CRATE_DONE if crate in self.pads else C_CRATE
        px = self._cell(board, *self.player)
        px[e : t - e, e : t - e] = C_PLAYER
        px[t // 2 - 1 : t // 2 + 1, t // 2 - 1 : t // 2 + 1] = C_PLAYER_CORE
        self.board.pixels = board

    def step(self) -> None:
        move = MOVES.get(self.action.id.value)
        if move is not None:
            self._move(*move)
        self.complete_action()

    def _free(self, p: tuple[int, int]) -> bool:
        return self.grid[p[0]][p[1]] == FLOOR and p not in self.crates

    def _move(self, dr: int, dc: int) -> None:
        self.budget_left -= 1
        to = (self.player[0] + dr, self.player[1] + dc)
        if to in self.crates:
            beyond = (to[0] + dr, to[1] + dc)
            if self._free(beyond):
                self.crates.remove(to)
                self.crates.add(beyond)
                self.player = to
        elif self._free(to):
            self.player = to
        self._draw()
        if self.crates <= self.pads:
            self.next_level()
        elif self.budget_left <= 0:
            self.lose()
