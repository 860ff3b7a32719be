"""The learned prior: the world model's own guesses of the next action, the uniform mixture, the evidence."""

import numpy as np
import pytest
import torch
from helpers.agents import feed_moves

from aria_cli.agents.contexts import FULL, ModelContexts
from aria_cli.agents.prior import PriorEvidence, UniformShares, mix_uniform, prior_scores
from aria_cli.vocab import CLICK, LOC_NULL, Vocab

V0 = Vocab(0)


def test_the_world_model_agent_also_weighs_the_world_models_guess_of_the_next_action_type(learned_models):
    # The world model's context shows the actions taken so far (the policy's does not): its prediction
    # at the [ACT] slot is a distribution over the next action type, read off the cached logits.
    ctx = ModelContexts(learned_models)
    obs = feed_moves(ctx, "qmaz", 1, (4, 4, 2))
    ctx.begin_frame(obs.frame, obs.available_actions)
    allowed = list(obs.available_actions)
    with torch.no_grad():
        logits = learned_models.wm.logits(torch.as_tensor(ctx.context.tokens(FULL))[None])[0, -1]
    t = logits[V0.type0 : V0.type0 + len(ctx.wm_type_logp)].numpy()[allowed]
    np.testing.assert_allclose(ctx.wm_type_logp[allowed], t - np.logaddexp.reduce(t), atol=1e-4)
    cands = [(a, LOC_NULL) for a in allowed]
    plain = prior_scores(ctx, cands, level_weight=0.0, top_k=4)
    both = prior_scores(ctx, cands, level_weight=0.0, top_k=4, wm_type_weight=1.0)
    np.testing.assert_allclose(both - plain, ctx.wm_type_logp[allowed], atol=1e-6)


def test_the_world_model_agent_also_weighs_the_world_models_guess_of_the_click_cell(learned_models):
    # After a CLICK type token the world model points into the frame (its location pointer): the agent
    # reads that distribution from a look-ahead token it then takes back, the same as a full forward gives.
    ctx = ModelContexts(learned_models)
    obs = feed_moves(ctx, "qtgl", 2, [(CLICK, 27), (CLICK, 36)])
    ctx.begin_frame(obs.frame, obs.available_actions)
    length = ctx.context.state.length
    tokens = [*ctx.context.tokens(FULL), V0.type0 + CLICK]
    with torch.no_grad():
        cells = learned_models.wm.logits(torch.as_tensor(tokens)[None])[0, -1, V0.loc0 : V0.loc0 + 64].numpy()
    np.testing.assert_allclose(ctx.wm_cell_logp, cells - np.logaddexp.reduce(cells), atol=1e-4)
    assert ctx.context.state.length == length  # asked on a branch: the context itself is untouched
    cands = [(CLICK, c) for c in range(64)]
    plain = prior_scores(ctx, cands, level_weight=0.0, top_k=4)
    both = prior_scores(ctx, cands, level_weight=0.0, top_k=4, wm_cell_weight=1.0)
    np.testing.assert_allclose(both - plain, ctx.wm_cell_logp, atol=1e-6)


def test_a_prior_mixed_with_the_uniform_keeps_its_order_and_bounds_its_penalty():
    logp = np.log(np.array([0.97, 0.02, 0.01, 1e-9]))
    logp = np.append(logp - np.logaddexp.reduce(logp), -np.inf)  # the last type is not available
    mixed = mix_uniform(logp, 0.2)
    assert np.isclose(np.logaddexp.reduce(mixed[:4]), 0.0) and mixed[4] == -np.inf
    assert list(np.argsort(-mixed[:4])) == list(np.argsort(-logp[:4]))
    assert mixed[:4].min() >= np.log(0.2 / 4) - 1e-12  # no available action falls below share / n
    assert mix_uniform(logp, 0.0) is logp


def test_prior_evidence_moves_each_distribution_by_how_it_predicts_productive_actions():
    ev = PriorEvidence(initial=0.5, bound=0.95, rate=1.0)  # untempered
    assert ev.shares() == UniformShares(0.5, 0.5, 0.5, 0.5)
    # Held-out qmix: the world model liked moves that did nothing and put 1e-5 on the colour key, which
    # changes the board.
    for _ in range(4):
        ev.observe("wm_type", np.log(0.4), 6, productive=False)
    ev.observe("wm_type", np.log(1e-5), 6, productive=True)
    assert ev.weight("wm_type") == pytest.approx(0.05)
    # The policy's cell head points at the cells whose clicks change something, and the clicks it liked
    # less did nothing: it earns weight.
    for _ in range(3):
        ev.observe("cell", np.log(0.01), 64, productive=False)
        ev.observe("cell", np.log(0.3), 64, productive=True)
    assert ev.weight("cell") == pytest.approx(0.95)
    ev.observe("type", np.log(0.5), 1, productive=True)  # with one choice there is nothing to learn
    assert ev.weight("type") == pytest.approx(0.5) and ev.evidence("type") == 0.0
    # The floor is not a trap: a distribution that predicts well again recovers.
    for _ in range(10):
        ev.observe("wm_type", np.log(0.01), 6, productive=False)
        ev.observe("wm_type", np.log(0.9), 6, productive=True)
    assert ev.weight("wm_type") == pytest.approx(0.95)


def test_prior_evidence_is_the_productive_actions_lead_over_the_mean_of_those_taken():
    ev = PriorEvidence(initial=0.5, bound=0.95, rate=0.25)
    # Every move changes the frame: whatever the distribution said of them, it told nothing apart.
    for p in (0.9, 0.05, 0.9, 1e-4, 0.3):
        ev.observe("type", np.log(p), 4, productive=True)
    assert ev.evidence("type") == pytest.approx(0.0, abs=1e-12)
    assert ev.weight("type") == pytest.approx(0.5)
    # Hand-worked: productive 0.6 and 0.2, unproductive 0.1 and 0.1, among 4 choices. r = log(4 p') with
    # p' = 0.95 p + 0.05 / 4, the distribution at its most weight.
    ev = PriorEvidence(initial=0.5, bound=0.95, rate=0.25)
    for p, productive in [(0.1, False), (0.6, True), (0.1, False), (0.2, True)]:
        ev.observe("cell", np.log(p), 4, productive)
    r = np.log(4 * (0.95 * np.array([0.1, 0.6, 0.1, 0.2]) + 0.05 / 4))
    expected = r[1] + r[3] - 2 * r.mean()  # = n_p n_u / n · (mean r productive − mean r unproductive)
    assert expected == pytest.approx(2 * 2 / 4 * ((r[1] + r[3]) / 2 - r[0]))
    assert ev.evidence("cell") == pytest.approx(expected)
    assert ev.log_odds["cell"] == pytest.approx(0.25 * expected)  # within the bound: no clipping
    # An action it ruled out counts as log(1 - bound), not -inf: one such action cannot outweigh the rest.
    ev.observe("cell", -np.inf, 4, productive=True)
    r = np.append(r, np.log(0.05))
    assert ev.evidence("cell") == pytest.approx(r[1] + r[3] + r[4] - 3 * r.mean())
