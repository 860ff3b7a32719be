"""Planners for the bundled games: read the game's own state and plan the rest of the level.

A planner is `plan(game, rng) -> list[Act] | None`: the actions that finish the current level from
the game's current state, or None when that is no longer possible within the budget (a crate
pushed into a corner, too few steps left). `game` is the arcengine game instance
(`GameSession.engine_game`); each game documents the attributes read here. `planner_for(game)` finds
a game's planner; `aria_cli.games.demonstrators` plays whole episodes with them.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable

from aria_cli.common.errors import GameError
from aria_cli.data.recordings import short_game_id
from aria_cli.vocab import CLICK

Act = tuple[int, int | None, int | None]  # (action, x, y); x, y only for ACTION6
MOVES = {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}  # ACTION1-4: up, down, left, right


def _moves_to(path: list[tuple[int, int]]) -> list[Act]:
    by_delta = {d: a for a, d in MOVES.items()}
    return [(by_delta[(b[0] - a[0], b[1] - a[1])], None, None) for a, b in itertools.pairwise(path)]


def _within_budget(plan: list[Act] | None, game) -> list[Act] | None:
    return plan if plan is not None and len(plan) <= game.budget_left else None


# --------------------------------------------------------------------------- qmaz: key maze
def plan_qmaz(game, rng: random.Random) -> list[Act] | None:
    """Shortest walk to the exit over (position, keys held), through doors whose key is held."""
    grid = game.grid
    keys, doors = "abc", "ABC"
    h, w = len(grid), len(grid[0])
    start = (tuple(game.player), sum(1 << keys.index(k) for k in game.keys_held))
    parent = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        (r, c), mask = state
        for a, (dr, dc) in MOVES.items():
            nr, nc = r + dr, c + dc
            if not (0 <= nr < h and 0 <= nc < w):
                continue
            t = grid[nr][nc]
            if t == "#" or (t in doors and not mask >> doors.index(t) & 1):
                continue
            nxt = ((nr, nc), mask | (1 << keys.index(t)) if t in keys else mask)
            if nxt in parent:
                continue
            parent[nxt] = (state, a)
            if t == "E":
                plan = []
                while parent[nxt] is not None:
                    nxt, act = parent[nxt]
                    plan.append((act, None, None))
                return _within_budget(plan[::-1], game)
            queue.append(nxt)
    return None


# --------------------------------------------------------------------------- qtgl: toggle lights
def _solve_gf2(equations: list[tuple[int, int]], n: int) -> int | None:
    """Fewest-clicks solution (a bitmask over n variables) of XOR equations (mask, rhs), or None."""
    pivots: dict[int, tuple[int, int]] = {}  # pivot column -> (row mask, rhs), kept fully reduced
    for mask, rhs in equations:
        for col, (pm, pb) in pivots.items():
            if mask >> col & 1:
                mask, rhs = mask ^ pm, rhs ^ pb
        if mask == 0:
            if rhs:
                return None
            continue
        col = (mask & -mask).bit_length() - 1
        for other, (pm, pb) in list(pivots.items()):
            if pm >> col & 1:
                pivots[other] = (pm ^ mask, pb ^ rhs)
        pivots[col] = (mask, rhs)
    free = [i for i in range(n) if i not in pivots]
    best = None
    choices = range(1 << len(free)) if len(free) <= 12 else [0]
    for bits in choices:
        f = sum(1 << free[j] for j in range(len(free)) if bits >> j & 1)
        x = f
        for col, (pm, pb) in pivots.items():
            if pb ^ ((pm & f).bit_count() & 1):
                x |= 1 << col
        if best is None or x.bit_count() < best.bit_count():
            best = x
    return best


def lights_out_solution(lit: dict[tuple[int, int], bool], pattern) -> list[tuple[int, int]] | None:
    """The fewest tiles to click (once each, listed in `lit`'s order) so every tile of `lit` (tile → lit)
    ends up lit, when clicking a tile at (r, c) flips the tiles at (r + dr, c + dc) for (dr, dc) in
    `pattern`; None if no set of clicks does it."""
    tiles = list(lit)
    index = {p: i for i, p in enumerate(tiles)}
    equations = []
    for r, c in tiles:
        mask = 0
        for dr, dc in pattern:  # tile (r, c) flips when a tile at (r - dr, c - dc) is clicked
            i = index.get((r - dr, c - dc))
            if i is not None:
                mask |= 1 << i
        equations.append((mask, 0 if lit[(r, c)] else 1))
    x = _solve_gf2(equations, len(tiles))
    return None if x is None else [tiles[i] for i in range(len(tiles)) if x >> i & 1]


def plan_qtgl(game, rng: random.Random) -> list[Act] | None:
    """Lights out over GF(2): which tiles to click (once each) so every tile ends up lit."""
    lit = {(r, c): v for r, row in enumerate(game.lit) for c, v in enumerate(row) if v is not None}
    clicks = lights_out_solution(lit, game.pattern)
    if clicks is None:
        return None
    rng.shuffle(clicks)  # order does not matter; people click in any order
    ox, oy, cell = game.origin[0], game.origin[1], game.cell
    plan = [(CLICK, ox + c * cell + rng.randint(1, cell - 2), oy + r * cell + rng.randint(1, cell - 2)) for r, c in clicks]
    return _within_budget(plan, game)


# --------------------------------------------------------------------------- qmix: colour grid
def _latin_completion(values: list[list[int]], pinned: list[list[bool]], n: int) -> list[list[int]] | None:
    """A Latin square that keeps the pinned tiles, preferring each tile's current colour."""
    grid = [[values[r][c] if pinned[r][c] else 0 for c in range(n)] for r in range(n)]
    cells = [(r, c) for r in range(n) for c in range(n) if not pinned[r][c]]

    def fill(k: int) -> bool:
        if k == len(cells):
            return True
        r, c = cells[k]
        used = set(grid[r]) | {grid[i][c] for i in range(n)}
        options = sorted(range(1, n + 1), key=lambda v: v != values[r][c])
        for v in options:
            if v not in used:
                grid[r][c] = v
                if fill(k + 1):
                    return True
        grid[r][c] = 0
        return False

    return grid if fill(0) else None


def _distance(a: tuple[int, int], b: tuple[int, int]) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def _qmix_todo(game) -> tuple[list[list[int]], list[tuple[int, int]]] | None:
    """The Latin square the demonstrator completes, and the tiles whose colour differs from it."""
    n, values = game.n, game.values
    target = _latin_completion(values, game.pinned, n)
    if target is None:
        return None
    return target, [(r, c) for r in range(n) for c in range(n) if values[r][c] != target[r][c]]


def nearest_tiles(tiles: list[tuple[int, int]], cursor: tuple[int, int]) -> list[tuple[int, int]]:
    """The tiles at the smallest Manhattan distance from the cursor (empty when there are none)."""
    best = min((_distance(t, cursor) for t in tiles), default=None)
    return [t for t in tiles if _distance(t, cursor) == best]


def qmix_tile_at(game, x: int, y: int) -> tuple[int, int]:
    """(row, col) of the qmix tile under pixel (x, y)."""
    return (y - game.origin[1]) // game.cell, (x - game.origin[0]) // game.cell


def qmix_next_tiles(game) -> list[tuple[int, int]]:
    """(row, col) of the tiles qmix's demonstrator may go to next from the game's current state: the
    wrong tiles nearest the cursor. It picks one of them at random, so a predictor that knew the
    solution would be right on a click with probability 1 / len(...) (benchmarks/bench_gate_ceilings.py)."""
    todo = _qmix_todo(game)
    return nearest_tiles(todo[1], tuple(game.cursor)) if todo else []


def plan_qmix(game, rng: random.Random) -> list[Act] | None:
    """Complete the Latin square, then visit each wrong tile (arrows when near, a click when far) and cycle it."""
    planned = _qmix_todo(game)
    if planned is None:
        return None
    target, todo = planned
    values, n = game.values, game.n
    cur, plan = tuple(game.cursor), []
    while todo:
        todo.sort(key=lambda p: (_distance(p, cur), rng.random()))
        r, c = todo.pop(0)
        dist = _distance((r, c), cur)
        if dist > 2 or (dist == 2 and rng.random() < 0.5):
            x = game.origin[0] + c * game.cell + rng.randint(1, game.cell - 2)
            y = game.origin[1] + r * game.cell + rng.randint(1, game.cell - 2)
            plan.append((CLICK, x, y))
        else:
            steps = [1 if r < cur[0] else 2] * abs(r - cur[0]) + [3 if c < cur[1] else 4] * abs(c - cur[1])
            rng.shuffle(steps)
            plan += [(a, None, None) for a in steps]
        plan += [(5, None, None)] * ((target[r][c] - values[r][c]) % (n + 1))
        cur = (r, c)
    return _within_budget(plan, game)


# --------------------------------------------------------------------------- qpsh: crate push
def _push_distances(grid: list[str], pads: frozenset) -> dict[tuple[int, int], int]:
    """Pushes a lone crate needs from each cell to the nearest pad (pulling backwards from the pads).

    Cells missing from the result are dead: a crate there can never reach a pad.
    """
    dist, queue = dict.fromkeys(pads, 0), deque(pads)
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES.values():
            prev, stand = (r - dr, c - dc), (r - 2 * dr, c - 2 * dc)
            if prev not in dist and grid[prev[0]][prev[1]] == "." and grid[stand[0]][stand[1]] == ".":
                dist[prev] = dist[(r, c)] + 1
                queue.append(prev)
    return dist


def _distances(grid: list[str], crates, src: tuple[int, int]) -> dict:
    """BFS around walls and crates: {cell: (steps, previous cell)} for every cell reachable from src."""
    seen = {src: (0, None)}
    queue = deque([src])
    while queue:
        cur = queue.popleft()
        d = seen[cur][0] + 1
        for dr, dc in MOVES.values():
            nxt = (cur[0] + dr, cur[1] + dc)
            if nxt not in seen and grid[nxt[0]][nxt[1]] == "." and nxt not in crates:
                seen[nxt] = (d, cur)
                queue.append(nxt)
    return seen


def _path(seen: dict, dst: tuple[int, int]) -> list[tuple[int, int]]:
    path = [dst]
    while seen[path[-1]][1] is not None:
        path.append(seen[path[-1]][1])
    return path[::-1]


def _boxed_in(grid: list[str], crates, pads, cell: tuple[int, int]) -> bool:
    """A 2x2 block of walls and crates around `cell` with a crate off its pad: none of them can ever move."""
    for r0 in (cell[0] - 1, cell[0]):
        for c0 in (cell[1] - 1, cell[1]):
            block = ((r0, c0), (r0 + 1, c0), (r0, c0 + 1), (r0 + 1, c0 + 1))
            if all(grid[r][c] == "#" or (r, c) in crates for r, c in block) and any(
                p in crates and p not in pads for p in block
            ):
                return True
    return False


def _search_pushes(game, greed: float, max_states: int) -> list[Act] | None:
    """Weighted A* over pushes, costed in moves (walk to the crate, then push), never into dead cells."""
    grid, pads = game.grid, frozenset(game.pads)
    start = (frozenset(game.crates), tuple(game.player))
    live = _push_distances(grid, pads)
    if not start[0] <= live.keys():
        return None

    def h(crates) -> float:  # each crate needs at least its own pushes to the nearest pad
        return greed * sum(live[b] for b in crates)

    by_delta = {d: a for a, d in MOVES.items()}
    cost = {start: 0}
    parent: dict = {start: None}
    tie = itertools.count()
    frontier = [(h(start[0]), next(tie), start)]
    while frontier and len(cost) < max_states:
        f, _, state = heapq.heappop(frontier)
        crates, player = state
        g = cost[state]
        if f > g + h(crates):
            continue  # a stale entry: this state was reached more cheaply since
        if crates <= pads:
            plan = []
            while parent[state] is not None:
                state, stand, (dr, dc) = parent[state]
                walk = _path(_distances(grid, state[0], state[1]), stand)
                plan[:0] = _moves_to(walk) + [(by_delta[(dr, dc)], None, None)]
            return plan
        seen = _distances(grid, crates, player)
        for b in crates:
            for dr, dc in MOVES.values():
                stand, dest = (b[0] - dr, b[1] - dc), (b[0] + dr, b[1] + dc)
                if stand not in seen or dest not in live or dest in crates:
                    continue
                moved = crates - {b} | {dest}
                nxt = (moved, b)
                g2 = g + seen[stand][0] + 1
                if g2 < cost.get(nxt, 1 << 30) and not _boxed_in(grid, moved, pads, dest):
                    cost[nxt] = g2
                    parent[nxt] = (state, stand, (dr, dc))
                    heapq.heappush(frontier, (g2 + h(moved), next(tie), nxt))
    return None


def plan_qpsh(game, rng: random.Random) -> list[Act] | None:
    """A quick greedy search first; a slower, nearer-optimal one if that plan does not fit the budget."""
    for greed, max_states in ((4.0, 20_000), (1.5, 60_000)):
        plan = _within_budget(_search_pushes(game, greed, max_states), game)
        if plan is not None:
            return plan
    return None


Planner = Callable[[object, random.Random], "list[Act] | None"]
PLANNERS: dict[str, Planner] = {"qmaz": plan_qmaz, "qtgl": plan_qtgl, "qmix": plan_qmix, "qpsh": plan_qpsh}


def planner_for(game: str) -> Planner:
    base = short_game_id(game)
    if base not in PLANNERS:
        raise GameError(
            f"no demonstrator for game {base!r}: aria can record its bundled games ({', '.join(PLANNERS)}); "
            "record other games yourself with the arc-agi toolkit (save_recording=True)"
        )
    return PLANNERS[base]
