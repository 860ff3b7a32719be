"""Scripted players for the bundled games: plan the rest of the level (`planners`), play it, replan.

`play_episode(session, noise, rng)` plays a whole game with the game's planner; when the planner
says the level can no longer be finished within the budget, the player resets the level. With
`noise` > 0 it plays the way people do: now and then a wrong or exploratory action, sometimes a RESET
of the level, then it replans from wherever it is. Noise applies fully to the first try of a level,
half to the second and not at all after that, so every episode ends in WIN.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from aria_cli.games.adapter import Observation
from aria_cli.games.planners import Act, planner_for
from aria_cli.games.session import GameSession
from aria_cli.vocab import CLICK, FRAME_SIZE, RESET

NOISE_RESET_SHARE = 0.1  # of the noisy actions, this share is a RESET of the level
BOARD_ROWS = 56  # the bundled games keep rows 56-63 for the HUD; exploratory clicks land above it


@dataclass
class EpisodeResult:
    steps: int = 0  # actions sent, RESETs included (not the initial one)
    resets: int = 0
    noisy: int = 0  # actions that were not part of the plan (RESETs included)
    levels: int = 0
    won: bool = False


def _random_action(available: tuple[int, ...], rng: random.Random) -> Act:
    a = rng.choice(available)
    if a == CLICK:
        return a, rng.randrange(FRAME_SIZE), rng.randrange(BOARD_ROWS)
    return a, None, None


def play_episode(
    session: GameSession,
    noise: float = 0.0,
    rng: random.Random | None = None,
    max_steps: int = 20_000,
    on_step: Callable[[Observation, EpisodeResult], None] | None = None,
) -> EpisodeResult:
    """Play the session's game to WIN with its demonstrator (see the module docstring for `noise`)."""
    planner = planner_for(session.info.game)
    rng = rng if rng is not None else random.Random(session.seed)
    game, obs, res = session.engine_game, session.last, EpisodeResult()
    plan: list[Act] = []
    tries: dict[int, int] = {}
    in_level = 0  # actions since the level started: a RESET with none restarts the whole game

    def send(a: int, x=None, y=None) -> Observation:
        nonlocal in_level
        res.steps += 1
        out = session.step(a, x, y)
        in_level = 0 if a == RESET or out.levels_completed > obs.levels_completed else in_level + 1
        if a == RESET:
            res.resets += 1
            tries[obs.levels_completed] = tries.get(obs.levels_completed, 0) + 1
        return out

    while obs.state != "WIN":
        if res.steps >= max_steps:
            raise RuntimeError(f"{session.info.game_id}: demonstrator did not finish in {max_steps} actions")
        level = obs.levels_completed
        p = noise / 2 ** tries.get(level, 0) if tries.get(level, 0) < 2 else 0.0
        if obs.state == "GAME_OVER":
            obs, plan = send(RESET), []
        elif p > 0 and rng.random() < p:
            res.noisy += 1
            if in_level > 0 and rng.random() < NOISE_RESET_SHARE:
                obs = send(RESET)
            else:
                obs = send(*_random_action(obs.available_actions, rng))
            plan = []
        else:
            if not plan:
                plan = planner(game, rng)
                if plan is None or not plan:
                    if in_level == 0:
                        raise RuntimeError(f"{session.info.game_id}: no plan for level {level + 1} from its start")
                    obs, plan = send(RESET), []
                    continue
            obs = send(*plan.pop(0))
        if obs.levels_completed != level:
            plan = []
        if on_step is not None:
            on_step(obs, res)
    res.levels, res.won = obs.levels_completed, True
    return res


def baseline_actions(game: str, environments_dir=None, seed: int = 0) -> list[int]:
    """Actions the noiseless demonstrator needs per level (what metadata.json lists as baseline_actions)."""
    counts: list[int] = []
    with GameSession(game, environments_dir, seed=seed) as s:
        last = 0

        def count(obs: Observation, res: EpisodeResult) -> None:
            nonlocal last
            while len(counts) < obs.levels_completed:
                counts.append(res.steps - last)
                last = res.steps

        play_episode(s, 0.0, random.Random(seed), on_step=count)
    return counts
