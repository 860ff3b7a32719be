"""`aria record GAME`: the demonstrator plays episodes through the toolkit with its recorder on.

Episode i plays the game made from seed `seed + i` (every bundled game lays out its levels from the
seed), so episodes differ; `noise` adds human-like detours and resets on top. Each episode is one
genuine toolkit recording, `<out_dir>/<game_id>-seed<S>-noise<N>.jsonl`, default out_dir `recordings/<game>/`.
The name is a function of what was played, not the toolkit's random guid: the train/val split hashes
file names, so the same recordings give the same split (and the same val figures) on every machine, and
recording the same episode again replaces its file instead of adding a duplicate.

    from aria_cli.games.record import record_game
    paths = record_game("qmaz", episodes=10, noise=0.05)
"""

from __future__ import annotations

import random
from pathlib import Path

from rich.progress import TextColumn

from aria_cli.common.errors import AriaError
from aria_cli.common.ui import progress
from aria_cli.data.recordings import short_game_id
from aria_cli.games.adapter import Observation, locate_game
from aria_cli.games.demonstrators import EpisodeResult, play_episode
from aria_cli.games.planners import planner_for
from aria_cli.games.session import GameSession

DEFAULT_EPISODES = 10
DEFAULT_NOISE = 0.05


def default_out_dir(game: str) -> Path:
    return Path("recordings") / short_game_id(game)


def record_game(
    game: str,
    episodes: int = DEFAULT_EPISODES,
    noise: float = DEFAULT_NOISE,
    seed: int = 0,
    out_dir: Path | None = None,
    environments_dir: Path | None = None,
    quiet: bool = False,
) -> list[Path]:
    """Record `episodes` demonstrator episodes of `game`; returns the recording files in play order."""
    if episodes < 1:
        raise AriaError(f"--episodes must be at least 1, got {episodes}")
    if not 0.0 <= noise < 1.0:
        raise AriaError(f"--noise must be in [0, 1), got {noise}")
    locate_game(game, environments_dir)  # an unknown game fails first, with the list of games
    planner_for(game)  # then one without a demonstrator, before anything is played
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(game)
    paths: list[Path] = []
    bar = progress(TextColumn("{task.fields[steps]} actions, {task.fields[resets]} resets"), transient=quiet)
    with bar:
        for ep in range(episodes):
            ep_seed = seed + ep
            with GameSession(game, environments_dir, seed=ep_seed, record_dir=out_dir) as session:
                session.recording_name = f"{session.info.game_id}-seed{ep_seed}-noise{noise:g}.jsonl"
                task = bar.add_task(
                    f"{session.info.game} episode {ep + 1}/{episodes} (seed {ep_seed})",
                    total=session.info.levels,
                    steps=0,
                    resets=0,
                )

                def show(obs: Observation, res: EpisodeResult, task=task) -> None:
                    bar.update(task, completed=obs.levels_completed, steps=res.steps, resets=res.resets)

                # The noise stream depends on the seed and the episode, never on other episodes.
                play_episode(session, noise, random.Random(f"{ep_seed}/{noise}"), on_step=show)
            if session.recording_path is not None:
                paths.append(session.recording_path)
    return paths
