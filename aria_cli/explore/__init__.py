"""Online exploration: the part of the agent that learns about a game while it plays it.

One module per concept:

- `frame_hash`: state keys that ignore pixels that change by themselves (step counters, budget bars);
- `objects`: connected single-colour regions and the click candidates they offer;
- `state_graph`: per-level graph of (state, action) -> next state, with shortest paths to frontiers;
- `change_predictor`: P(frame changes | state, action), learned online from this game;
- `scoring`: how promising each untried action is (the two predictors, salience, the learned prior's hook);
- `explorer`: the policy that puts them together: where to act, where to go, what to file.
"""

from aria_cli.explore.change_predictor import ActionHistory, ChangePredictor, PredictorConfig
from aria_cli.explore.explorer import Decision, ExploreConfig, Explorer, Lead, OutcomeModel, Prior
from aria_cli.explore.frame_hash import FrameStore, VolatileConfig, VolatileMask
from aria_cli.explore.objects import Candidate, Segmentation, action_candidates, segment
from aria_cli.explore.scoring import ActionScorer
from aria_cli.explore.state_graph import StateGraph, Transition

__all__ = [
    "ActionHistory",
    "ActionScorer",
    "Candidate",
    "ChangePredictor",
    "Decision",
    "ExploreConfig",
    "Explorer",
    "FrameStore",
    "Lead",
    "OutcomeModel",
    "PredictorConfig",
    "Prior",
    "Segmentation",
    "StateGraph",
    "Transition",
    "VolatileConfig",
    "VolatileMask",
    "action_candidates",
    "segment",
]
