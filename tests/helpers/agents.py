"""Shared by the agent tests: a game session that logs what the agent did, and feeding moves to the contexts."""

from __future__ import annotations

from aria_cli.games.session import GameSession
from aria_cli.vocab import CLICK, LOC_NULL, cell_to_pixel


class Watched:
    """The real game session, with a log of what the agent saw and did (to check its behaviour)."""

    def __init__(self, session):
        self.session = session
        self.log = []  # (observation the action was chosen on, action)
        self.last = None

    def reset(self):
        self.last = self.session.reset()
        return self.last

    def step(self, action, x=None, y=None):
        self.log.append((self.last, action, x, y))
        self.last = self.session.step(action, x, y)
        return self.last


def feed_moves(ctx, game, seed, moves):
    """Play `moves` (action types, or (CLICK, cell)) in a real game, feeding `ctx` each frame and move the
    way the agent does; returns the observation after the last move."""
    with GameSession(game, seed=seed) as s:
        obs = s.reset()
        for move in moves:
            action, cell = move if isinstance(move, tuple) else (move, LOC_NULL)
            ctx.begin_frame(obs.frame, obs.available_actions)
            obs = s.step(action, *cell_to_pixel(cell)) if action == CLICK else s.step(action)
            ctx.end_action(action, cell, level_up=False)
    return obs
