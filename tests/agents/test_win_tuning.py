"""Learning from the levels it wins: the explorer's shortest known way through a won level, and the world-model
agent's policy heads tuned on it in memory. Real games through the toolkit, the tiny pipeline's models."""


import numpy as np
import torch
from helpers.pipeline import file_hashes

from aria_cli.agents.base import GameStart
from aria_cli.agents.contexts import LearnedModels
from aria_cli.agents.learned import AgentConfig, WorldModelAgent
from aria_cli.explore import Explorer
from aria_cli.games.session import GameSession
from aria_cli.play.compare import play_one


def _play_to_first_level(agent, game: str, seed: int, limit: int = 600) -> int:
    """Play until level 1 is completed; returns the actions taken."""
    with GameSession(game, seed=seed) as s:
        obs = s.reset()
        for n in range(1, limit + 1):
            d = agent.act(obs)
            obs = s.step(d.action, d.x, d.y)
            agent.observe(obs)
            if obs.levels_completed:
                return n
    raise AssertionError(f"{game}: no level in {limit} actions")


def test_the_winning_path_is_the_shortest_the_explorer_saw_and_its_replay_wins_the_level():
    explorer = Explorer(seed=0)
    explorer.reset(GameStart(game="qmaz", seed=0))
    taken = _play_to_first_level(explorer, "qmaz", 0)
    path = explorer.winning_path(0)
    assert path is not None and 1 <= len(path) <= taken
    assert explorer.winning_path(1) is None  # not won yet
    steady = ~explorer.store.mask.mask  # the pixels a state is told by (not the step counter)
    with GameSession("qmaz", seed=0) as s:
        obs = s.reset()
        for i, (frame, cand) in enumerate(path):
            assert np.array_equal(obs.frame[steady], frame[steady])  # each step's frame is its state's
            obs = s.step(cand.action, cand.x if cand.is_click else None, cand.y if cand.is_click else None)
            assert obs.levels_completed == (1 if i == len(path) - 1 else 0)


def test_a_won_level_tunes_the_agents_own_heads_toward_how_it_was_won_and_nothing_else(learned_models):
    source = {n: p.detach().clone() for n, p in learned_models.heads.named_parameters()}
    agent = WorldModelAgent(learned_models, AgentConfig(win_tune_steps=10, win_tune_lr=3e-3), seed=0)
    assert agent.ctx.m.heads is not learned_models.heads
    agent.reset(GameStart(game="qmaz", seed=0))
    _play_to_first_level(agent, "qmaz", 0)
    tuner = agent.tuner
    assert tuner.rounds == 1
    (path_len,) = {len(tuner.inputs), len(tuner.targets)}
    assert path_len == len(agent.explorer.winning_path(0))
    before, after = tuner.losses[0]
    assert after < 0.5 * before, tuner.losses  # the heads now name the winning actions
    # The winning actions are likelier under the tuned heads than under the loaded ones, step by step.
    inputs = tuple(torch.stack(x) for x in zip(*tuner.inputs, strict=True))
    types = torch.tensor([t for t, _, _ in tuner.targets])
    with torch.no_grad():
        tuned = torch.log_softmax(agent.ctx.m.heads(*inputs)[0], -1)[torch.arange(len(types)), types]
        loaded = torch.log_softmax(learned_models.heads(*inputs)[0], -1)[torch.arange(len(types)), types]
    assert float(tuned.mean()) > float(loaded.mean())
    # The shared heads (every other agent's) are untouched; a new game starts from them again.
    assert all(torch.equal(p, source[n]) for n, p in learned_models.heads.named_parameters())
    agent.reset(GameStart(game="qmaz", seed=1))
    assert tuner.rounds == 0 and not tuner.targets
    assert all(torch.equal(p, source[n]) for n, p in agent.ctx.m.heads.named_parameters())


def test_a_game_played_with_win_tuning_leaves_the_checkpoints_on_disk_unchanged(pipeline):
    before = file_hashes(pipeline.checkpoints)
    models = LearnedModels.load(pipeline.checkpoints, device="cpu")
    agent = WorldModelAgent(models, AgentConfig(win_tune_steps=5), seed=0)
    with GameSession("qmaz", seed=0) as s:
        run = play_one(s, agent, "qmaz", 0, max_actions=400)
    assert run.error is None and run.levels_completed >= 1
    assert agent.tuner.rounds == run.levels_completed - int(run.won)  # the game's last level needs no tuning
    assert file_hashes(pipeline.checkpoints) == before


def test_a_run_with_win_tuning_replays_alike_whatever_the_process_drew_before(learned_models):
    """A bench worker plays many runs in one process: the tuning's dropout must not depend on what came before."""
    runs, heads = [], []
    for burn in (1, 2):
        torch.manual_seed(burn)  # a different global generator state before each run
        agent = WorldModelAgent(learned_models, AgentConfig(win_tune_steps=5), seed=0)
        with GameSession("qmaz", seed=0) as s:
            run = play_one(s, agent, "qmaz", 0, max_actions=400)
        assert agent.tuner.rounds >= 1
        runs.append((run.actions, run.resets, run.actions_to_level))
        heads.append({n: p.detach().clone() for n, p in agent.ctx.m.heads.named_parameters()})
    assert runs[0] == runs[1]
    assert all(torch.equal(heads[0][n], heads[1][n]) for n in heads[0])
