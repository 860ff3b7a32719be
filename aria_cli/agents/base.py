"""Agents that play a game through the game adapter, behind one small protocol.

    agent.reset(GameStart(game="qmaz", win_levels=5, available_actions=(1, 2, 3, 4), seed=0))
    obs = session.reset()
    while obs.state != "WIN" and actions < budget:
        action, x, y, info = agent.act(obs)     # a Decision (a NamedTuple)
        obs = session.step(action, x, y)
        agent.observe(obs)                      # the outcome of that action

`obs` is the game adapter's `Observation` (aria_cli.games.adapter); an agent reads only its frame,
state, levels_completed, win_levels and available_actions, and must not assume anything about a game
beyond them. When the observation says GAME_OVER, `act` answers RESET (0). Built in:

- `random`: uniform over the available actions, clicks uniform over the frame;
- `explore`: the online explorer alone (`aria_cli.explore.Explorer`, no learned prior).

The learned agent (`world-model`) is an `ExploreAgent` with a prior: pass `prior=` (a callable
`(obs, candidates) -> log-probabilities`), and extend `observe` if the prior keeps its own context.
`make_agent(name, seed, **extra)` builds an agent by name; `extra` maps further names to factories.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from aria_cli.common.errors import AriaError
from aria_cli.explore import Decision, ExploreConfig, Explorer, Lead, OutcomeModel, Prior
from aria_cli.vocab import CLICK, FRAME_SIZE, RESET

if TYPE_CHECKING:
    from aria_cli.games.adapter import Observation

__all__ = [
    "AGENT_NAMES",
    "Agent",
    "AgentFactory",
    "Decision",
    "ExploreAgent",
    "GameStart",
    "RandomAgent",
    "make_agent",
]


@dataclass(frozen=True)
class GameStart:
    """What an agent is told when a game starts (nothing it could not see in the frames)."""

    game: str
    win_levels: int = 0
    available_actions: tuple[int, ...] = ()
    seed: int = 0


@runtime_checkable
class Agent(Protocol):
    name: str

    def reset(self, game_info: GameStart) -> None:
        """A new game begins: forget everything about the previous one."""

    def act(self, obs: Observation) -> Decision:
        """The next action for this observation: (action type 0-7, x, y, info)."""

    def observe(self, obs: Observation) -> None:
        """The observation the last action led to."""


AgentFactory = Callable[[int], Agent]  # seed -> a fresh agent


class RandomAgent:
    """Uniform over the available actions; clicks uniform over the frame; RESET only on GAME_OVER."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def reset(self, game_info: GameStart | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if game_info is None else game_info.seed)

    def act(self, obs: Observation) -> Decision:
        if obs.state == "GAME_OVER":
            return Decision(RESET, None, None, {"mode": "reset"})
        actions = [int(a) for a in obs.available_actions if int(a) != RESET]
        if not actions:
            return Decision(RESET, None, None, {"mode": "reset", "why": "no available action"})
        a = actions[int(self.rng.integers(len(actions)))]
        if a == CLICK:
            x, y = (int(v) for v in self.rng.integers(0, FRAME_SIZE, size=2))
            return Decision(a, x, y, {"mode": "random"})
        return Decision(a, None, None, {"mode": "random"})

    def observe(self, obs: Observation) -> None:
        pass


class ExploreAgent:
    """The online explorer as an agent. With `prior`, it is the base of the learned agent."""

    name = "explore"

    def __init__(self, seed: int = 0, config: ExploreConfig | None = None, prior: Prior | None = None,
                 outcome_model: OutcomeModel | None = None, lead: Lead | None = None):
        self.seed = seed
        self.explorer = Explorer(config, prior=prior, seed=seed, outcome_model=outcome_model, lead=lead)

    def reset(self, game_info: GameStart | None = None) -> None:
        self.explorer.reset(game_info)

    def act(self, obs: Observation) -> Decision:
        return self.explorer.act(obs)

    def observe(self, obs: Observation) -> None:
        self.explorer.observe(obs)

    def stats(self) -> dict[str, Any]:
        return self.explorer.stats()


BUILTIN_AGENTS: dict[str, AgentFactory] = {
    "explore": lambda seed: ExploreAgent(seed=seed),
    "random": lambda seed: RandomAgent(seed=seed),
}
AGENT_NAMES = tuple(BUILTIN_AGENTS)


def make_agent(name: str, seed: int = 0, extra: Mapping[str, AgentFactory] | None = None) -> Agent:
    """An agent by name: a built-in one, or one of `extra` (e.g. {"world-model": factory})."""
    factories = {**BUILTIN_AGENTS, **(extra or {})}
    factory = factories.get(name)
    if factory is None:
        raise AriaError(f"--agent {name!r}: unknown agent; choose from {', '.join(sorted(factories))}")
    agent = factory(seed)
    if not getattr(agent, "name", None):
        agent.name = name
    return agent
