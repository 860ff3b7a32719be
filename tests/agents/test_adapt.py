"""Learning inside the game: the world-model agent adapts an in-memory copy of its world model to the game
it plays, in the background, and never touches the weights on disk. Real models (the tiny pipeline),
real games."""

import threading

import numpy as np
import pytest
import torch
from helpers.pipeline import file_hashes

from aria_cli.agents.adapt import AdaptConfig, OnlineAdapter, OnlineCalibration, OnlinePlatt
from aria_cli.agents.base import GameStart
from aria_cli.agents.contexts import LearnedModels
from aria_cli.agents.learned import AgentConfig, WorldModelAgent
from aria_cli.games.session import GameSession
from aria_cli.play.compare import play_one
from aria_cli.world_model.loss import LossWeights, weighted_loss


def _play_steps(agent, game, seed, n):
    """Play n actions; returns the world-model token steps the agent committed."""
    agent.reset(GameStart(game=game, seed=seed))
    with GameSession(game, seed=seed) as s:
        obs = s.reset()
        for _ in range(n):
            d = agent.act(obs)
            obs = s.step(d.action, d.x, d.y)
            agent.observe(obs)
    return list(agent._steps)


def test_adaptation_changes_the_in_memory_model_and_its_loss_on_the_game_falls(learned_models):
    agent = WorldModelAgent(learned_models, AgentConfig(adapt_every=1000), seed=0)  # rounds run by hand here
    steps = _play_steps(agent, "qmaz", 3, 24)
    assert len(steps) == 24
    source = {n: p.detach().clone() for n, p in learned_models.wm.named_parameters()}
    adapter = OnlineAdapter(learned_models.wm, AdaptConfig(every=1, steps=8, lr=3e-3, batch=4))
    before = adapter.loss(steps)
    for _ in range(3):
        assert adapter.submit(steps)
        weights = adapter.wait()
        assert weights
    after = adapter.loss(steps)
    adapter.close()
    assert after < before - 0.05, (before, after)
    changed = [n for n, w in weights.items() if not torch.equal(w, source[n])]
    assert changed, "no weight moved"
    # The shared models (what every other agent plays with) are untouched.
    assert all(torch.equal(p, source[n]) for n, p in learned_models.wm.named_parameters())


def test_adaptation_learns_what_the_actions_did_not_which_actions_the_agent_took(learned_models):
    """The action tokens are the agent's own choices: fitted, they teach the world model's next-action guess
    to echo the agent, so a round's loss is the world model's without them."""
    agent = WorldModelAgent(learned_models, AgentConfig(adapt_every=1000), seed=0)
    steps = _play_steps(agent, "qmaz", 3, 12)
    adapter = OnlineAdapter(learned_models.wm, AdaptConfig(every=1, steps=1))
    tokens = torch.as_tensor(np.concatenate(steps[-adapter.window :]))[None]
    wm = learned_models.wm
    with torch.no_grad():
        out = wm(tokens)
        dynamics, _ = weighted_loss(out.logits, tokens, None, LossWeights(act_type=0.0, act_loc=0.0), wm.v0)
        adapted = adapter.model.eval()(tokens).loss  # eval: no dropout, to compare with the source model
    adapter.close()
    assert float(adapted) == pytest.approx(float(dynamics), rel=1e-5)
    assert float(adapted) != pytest.approx(float(out.loss), rel=1e-3)  # the action targets did count


def test_decide_returns_while_a_round_runs_and_the_agent_plays_with_the_adapted_weights_after(learned_models):
    release, started = threading.Event(), threading.Event()

    def hold():  # the round starts, then waits until the test lets it go
        started.set()
        assert release.wait(60)

    agent = WorldModelAgent(learned_models, AgentConfig(adapt_every=4, adapt_steps=3, adapt_lr=3e-3), seed=0,
                            adapt_hook=hold)
    agent.reset(GameStart(game="qtgl", seed=1))
    play = dict(agent.ctx.m.wm.named_parameters())
    assert agent.ctx.m.wm is not learned_models.wm
    before = {n: p.detach().clone() for n, p in play.items()}
    decided_while_held = 0
    with GameSession("qtgl", seed=1) as s:
        obs = s.reset()
        for _ in range(12):
            d = agent.act(obs)  # returns although the round is held
            obs = s.step(d.action, d.x, d.y)
            agent.observe(obs)
            if started.is_set():
                assert agent.adapter.busy()
                decided_while_held += 1
        assert decided_while_held >= 6
        assert all(torch.equal(p, before[n]) for n, p in play.items()), "weights swapped before the round ended"
        release.set()
        agent.adapter._future.result(timeout=60)
        agent.act(obs)  # takes the finished round's weights
    assert agent.adapter.rounds == 1
    assert any(not torch.equal(p, before[n]) for n, p in play.items())


def test_a_game_played_with_adaptation_leaves_the_checkpoints_on_disk_unchanged(pipeline):
    before = file_hashes(pipeline.checkpoints)
    models = LearnedModels.load(pipeline.checkpoints, device="cpu")
    agent = WorldModelAgent(models, AgentConfig(adapt_every=5, adapt_steps=2, wm_change_k=8), seed=0)
    with GameSession("qmaz", seed=4) as s:
        run = play_one(s, agent, "qmaz", 4, max_actions=60)
    agent.adapter.wait()
    assert run.error is None and agent.adapter.rounds >= 2
    assert file_hashes(pipeline.checkpoints) == before


def test_the_world_models_p_change_is_blended_in_and_calibrated_on_the_outcomes(learned_models):
    agent = WorldModelAgent(learned_models, AgentConfig(wm_change_k=8), seed=0)
    _play_steps(agent, "qtgl", 2, 40)
    assert agent.calibration["change"].n >= 10  # outcomes of actions both predictors had a P(change) for
    assert 0.0 < agent.calibration["change"].weight() < 1.0
    assert agent.calibration["new"].n == 0  # P(new state) was not asked of the world model


def test_the_world_models_p_new_state_is_blended_in_and_calibrated_on_the_outcomes(learned_models):
    agent = WorldModelAgent(learned_models, AgentConfig(wm_novelty_k=8), seed=0)
    scores = []
    blend = agent._blend

    def watch(outcome, candidates, p_online, which, score):
        scores.append((outcome, np.asarray(score).copy()))
        return blend(outcome, candidates, p_online, which, score)

    agent._blend = watch  # records what the blend got; the agent's own method does the work
    _play_steps(agent, "qtgl", 2, 40)
    assert agent.calibration["new"].n >= 10  # outcomes of actions both predictors had a P(new state) for
    assert 0.0 < agent.calibration["new"].weight() < 1.0
    assert len(agent.platt["new"].x) == agent.calibration["new"].n and agent.platt["new"].coef.any()
    assert agent.calibration["change"].n == 0 and not agent.platt["change"].x
    news = [x for outcome, x in scores if outcome == "new" and len(x) > 1]
    assert news and all((x <= 0).all() for x in news)  # log-probabilities per cell
    assert any(np.ptp(x) > 0 for x in news)  # the candidates' outcomes differ


def test_online_platt_learns_the_direction_and_rate_of_an_outcome_from_a_score():
    platt = OnlinePlatt()
    assert platt.predict(np.array([-3.0, 3.0])).tolist() == [0.5, 0.5]
    rng = np.random.default_rng(0)
    for _ in range(400):
        x = rng.normal()
        platt.observe(x, bool(rng.random() < 1 / (1 + np.exp(2.0 * x))))  # the outcome falls as the score rises
    lo, hi = platt.predict(np.array([-2.0, 2.0]))
    assert lo > 0.9 and hi < 0.1
    assert platt.coef[0] == pytest.approx(-2.0, abs=0.5)


def test_the_calibration_moves_weight_to_the_predictor_that_was_right():
    cal = OnlineCalibration()
    assert cal.weight() == 0.5
    rng = np.random.default_rng(0)
    for _ in range(50):
        outcome = bool(rng.random() < 0.8)
        cal.observe(0.2, 0.8, outcome)  # predictor 1 knows the rate, predictor 0 has it backwards
    assert cal.weight() > 0.99
    assert np.allclose(cal.blend(np.array([0.2]), np.array([0.8])), 0.2 * (1 - cal.weight()) + 0.8 * cal.weight())
    for _ in range(30):
        cal.observe(0.9, 0.1, True)  # the game changed: predictor 0 is now right; the weight comes back
    assert cal.weight() < 0.5


def test_aria_play_options_reach_the_agent(pipeline):
    from aria_cli.play.run import PlayConfig, agent_factories

    cfg = PlayConfig(games=["qmaz"], checkpoints=pipeline.checkpoints, device="cpu", adapt_every=6, adapt_steps=3,
                     wm_change=5, wm_novelty=4, learn_wins=7)
    agent = agent_factories(cfg)["world-model"](0)
    assert agent.adapter is not None and agent.adapt.every == 6 and agent.adapt.steps == 3
    assert agent.tuner is not None and agent.tuner.config.steps == 7
    assert agent.explorer.scorer.outcome_model is not None
    assert (agent.config.wm_change_k, agent.config.wm_novelty_k) == (5, 4)
    plain = agent_factories(PlayConfig(games=["qmaz"], checkpoints=pipeline.checkpoints, device="cpu"))["world-model"](0)
    assert plain.adapter is None and plain.explorer.scorer.outcome_model is None and plain.tuner is None
    assert plain.config.lead_p == 0.9 and plain.explorer.lead is not None
    sure = agent_factories(PlayConfig(games=["qmaz"], checkpoints=pipeline.checkpoints, device="cpu", lead_p=0.99))
    assert sure["world-model"](0).config.lead_p == 0.99
    unled = agent_factories(PlayConfig(games=["qmaz"], checkpoints=pipeline.checkpoints, device="cpu", lead_p=0.0))
    assert unled["world-model"](0).explorer.lead is None  # --lead-p 0: off
