"""The official ARC-AGI-3 score of a run, computed by the arc-agi toolkit's own calculator.

    score, level_scores = official_score(level_actions=[12, 40], actions=70,
                                         baseline_actions=[10, 30, 50])

Per level: `min(115, (baseline / actions_taken)^2 * 100)` when completed, else 0; the game's score is
their mean weighted by level index (level i weighs i). Actions on a level are all actions since the
previous level was completed, RESETs included; the level in progress when the run ended gets the
rest. The arithmetic is `arc_agi.scorecard.EnvironmentScoreCalculator`'s, fed exactly as the
toolkit's scorecard feeds it. A game whose metadata has no `baseline_actions` has no score (None).

Over several seeds the toolkit keeps each game's best run (`EnvironmentScoreList.score` is a max);
over several games, the mean of those.
"""

from __future__ import annotations

from collections.abc import Sequence

from arc_agi.scorecard import EnvironmentScoreCalculator


def official_score(
    level_actions: Sequence[int], actions: int, baseline_actions: Sequence[int]
) -> tuple[float | None, list[float]]:
    """(score, per-level scores) of one run; (None, []) for a game without baselines.

    `level_actions`: actions spent on each completed level, in order; `actions`: all actions of the run.
    A game with more completed levels than baselines scores 0, as the toolkit's scorecard does
    ("Human baseline actions size mismatch"); the tables say so beside the score.
    """
    if not baseline_actions:
        return None, []
    if len(level_actions) > len(baseline_actions):
        return 0.0, [0.0] * len(baseline_actions)
    calc = EnvironmentScoreCalculator()
    spent = 0
    for i, baseline in enumerate(baseline_actions):
        if i < len(level_actions):
            taken, completed = int(level_actions[i]), True
        else:  # the level being played when the run ended gets every remaining action; later ones none
            taken, completed = int(actions) - spent, False
        spent += taken
        calc.add_level(level_index=i + 1, completed=completed, actions_taken=taken, baseline_actions=int(baseline))
    s = calc.to_score()
    return float(s.score), [float(x) for x in s.level_scores or []]


def best_score(scores: Sequence[float | None]) -> tuple[float | None, int | None]:
    """(best score, index of the run that has it) over a game's runs, as the toolkit keeps it."""
    scored = [(s, i) for i, s in enumerate(scores) if s is not None]
    if not scored:
        return None, None
    return max(scored, key=lambda t: (t[0], -t[1]))


def fmt_score(score: float | None) -> str:
    return "—" if score is None else f"{score:.2f}"
