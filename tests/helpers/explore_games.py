"""Tiny games for the explorer's tests, with the game adapter's interface (reset / step -> Observation).

They follow the arcengine rules that matter to an explorer: RESET restarts the level, or the whole game
when no action was taken since the level started; GAME_OVER until RESET; levels_completed counts up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Obs:
    frame: np.ndarray
    state: str
    levels_completed: int
    win_levels: int
    available_actions: tuple[int, ...]


class _Game:
    available: tuple[int, ...] = ()
    levels: list = []

    def __init__(self):
        self.level = 0
        self.state = "NOT_FINISHED"
        self.actions_in_level = 0
        self.steps = 0

    def obs(self) -> Obs:
        return Obs(self.render(), self.state, self.level, len(self.levels), self.available)

    def reset(self) -> Obs:
        if self.actions_in_level == 0 or self.state == "WIN":
            self.level = 0
        self.state = "NOT_FINISHED"
        self.actions_in_level = 0
        self.start_level()
        return self.obs()

    def step(self, action: int, x: int | None = None, y: int | None = None) -> Obs:
        if action == 0:
            return self.reset()
        if action not in self.available:
            raise ValueError(f"action {action} not available")
        if self.state != "NOT_FINISHED":
            return self.obs()
        self.steps += 1
        self.actions_in_level += 1
        if self.apply(action, x, y):
            self.level += 1
            self.actions_in_level = 0
            if self.level == len(self.levels):
                self.level -= 1
                self.state = "WIN"
                self.level = len(self.levels)
            else:
                self.start_level()
        return self.obs()


class CounterMaze(_Game):
    """Move a 4x4 player with ACTION1-4 (up, down, left, right) to the goal. A budget bar at the bottom
    shrinks with every action, whatever it did; when the budget is spent the game is over."""

    available = (1, 2, 3, 4)
    # Each level: walls as (x0, y0, x1, y1) cell rectangles on a 14x14 cell board, player and goal cells.
    levels = [
        {"walls": [(5, 0, 5, 10)], "player": (1, 1), "goal": (10, 2)},
        {"walls": [(4, 3, 4, 13), (9, 0, 9, 10)], "player": (1, 12), "goal": (12, 12)},
    ]

    def __init__(self, budget: int = 60, bar: int = 64):
        self.budget = budget
        self.bar = bar  # bar pixels: with fewer pixels than budget, the bar shrinks every few actions
        super().__init__()
        self.start_level()

    def start_level(self) -> None:
        spec = self.levels[min(self.level, len(self.levels) - 1)]
        self.wall = np.zeros((14, 14), dtype=bool)
        for x0, y0, x1, y1 in spec["walls"]:
            self.wall[y0 : y1 + 1, x0 : x1 + 1] = True
        self.player = spec["player"]
        self.goal = spec["goal"]
        self.left = self.budget

    def apply(self, action: int, x, y) -> bool:
        dx, dy = {1: (0, -1), 2: (0, 1), 3: (-1, 0), 4: (1, 0)}[action]
        px, py = self.player[0] + dx, self.player[1] + dy
        if 0 <= px < 14 and 0 <= py < 14 and not self.wall[py, px]:
            self.player = (px, py)
        self.left -= 1
        if self.player == self.goal:
            return True
        if self.left <= 0:
            self.state = "GAME_OVER"
        return False

    def render(self) -> np.ndarray:
        f = np.zeros((64, 64), dtype=np.uint8)
        board = np.where(self.wall, 5, 0).astype(np.uint8)
        board[self.goal[1], self.goal[0]] = 3
        board[self.player[1], self.player[0]] = 9
        f[2:58, 4:60] = np.kron(board, np.ones((4, 4), dtype=np.uint8))
        f[61:63, : -(-self.bar * self.left // self.budget)] = 11  # the budget bar
        return f


class LavaMaze(CounterMaze):
    """CounterMaze without a step budget, whose red (2) cells end the game when walked into: game overs
    that the action causes, at whatever step it is taken."""

    levels = [
        {"walls": [], "lava": [(3, 1), (1, 3), (6, 5), (5, 6), (9, 9), (10, 8)], "player": (1, 1), "goal": (12, 12)},
    ]  # fmt: skip

    def __init__(self):
        super().__init__(budget=10**9)

    def start_level(self) -> None:
        super().start_level()
        self.lava = set(self.levels[0]["lava"])

    def apply(self, action: int, x, y) -> bool:
        won = super().apply(action, x, y)
        if self.player in self.lava:
            self.state = "GAME_OVER"
        return won

    def render(self) -> np.ndarray:
        f = super().render()
        for cx, cy in self.lava:
            if (cx, cy) != self.player:
                f[2 + 4 * cy : 6 + 4 * cy, 4 + 4 * cx : 8 + 4 * cx] = 2
        return f


class ColourClicks(_Game):
    """Click-only: clicking a red (2) square turns it green (4); turn every red square green to win the
    level. Clicks elsewhere do nothing. A counter in row 0 grows by one pixel per action."""

    available = (6,)
    levels = [4, 6]

    def __init__(self, seed: int = 0, distractors: int = 8):
        self.rng = np.random.default_rng(seed)
        self.distractors = distractors
        super().__init__()
        self.start_level()

    def start_level(self) -> None:
        n_red = self.levels[min(self.level, len(self.levels) - 1)]
        rng = np.random.default_rng(self.level)  # the same layout every time the level starts
        slots = rng.permutation(36)[: n_red + self.distractors]
        self.squares = []  # (x, y, colour)
        for i, s in enumerate(slots):
            x, y = 4 + (s % 6) * 10, 4 + (s // 6) * 9
            colour = 2 if i < n_red else int(rng.choice([1, 6, 7, 8]))
            self.squares.append([x, y, colour])

    def apply(self, action: int, x, y) -> bool:
        for sq in self.squares:
            if sq[0] <= x < sq[0] + 5 and sq[1] <= y < sq[1] + 5 and sq[2] == 2:
                sq[2] = 4
        return all(sq[2] != 2 for sq in self.squares)

    def render(self) -> np.ndarray:
        f = np.zeros((64, 64), dtype=np.uint8)
        for x, y, c in self.squares:
            f[y : y + 5, x : x + 5] = c
        f[0, : self.steps % 64] = 12  # a counter that changes on every action
        return f


class HiddenCell(_Game):
    """Click-only: a 6x6 board of 8-pixel cells, empty (one black region) inside a grey frame. A click
    on the level's target cell wins it; clicks elsewhere do nothing. Nothing marks the target, and the
    board's one object click (its centre) is not on it."""

    available = (6,)
    levels = [(4, 1), (1, 4)]  # target cell (column, row) per level

    def __init__(self):
        super().__init__()
        self.start_level()

    def start_level(self) -> None:
        pass

    def apply(self, action: int, x, y) -> bool:
        return ((x - 8) // 8, (y - 8) // 8) == self.levels[self.level]

    def render(self) -> np.ndarray:
        f = np.full((64, 64), 5, dtype=np.uint8)
        f[8:56, 8:56] = 0
        f[60, 4 * self.level : 4 * self.level + 4] = 4  # which level this is
        return f


def play(agent, game, max_actions: int) -> tuple[int, list[tuple[int, int | None, int | None]]]:
    """Play until WIN or the budget; returns (levels completed, actions taken)."""
    obs = game.reset()
    taken = []
    for _ in range(max_actions):
        action, x, y, _info = agent.act(obs)
        taken.append((action, x, y))
        obs = game.step(action, x, y)
        agent.observe(obs)
        if obs.state == "WIN":
            break
    return obs.levels_completed, taken


def tiled_board() -> np.ndarray:
    """A board of 7x7 two-colour tiles with a centre each, on grout of colour 4, like a toggle game."""
    tiles = np.full((64, 64), 4, dtype=np.uint8)
    for r in range(7):
        for c in range(7):
            tiles[1 + 8 * r : 8 + 8 * r, 1 + 8 * c : 8 + 8 * c] = 9 if (r + c) % 2 else 11
            tiles[3 + 8 * r : 6 + 8 * r, 3 + 8 * c : 6 + 8 * c] = 12
    return tiles
