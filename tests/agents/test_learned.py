"""The learned agent: KV-cached contexts, and playing bundled games through the real toolkit."""

import numpy as np
import pytest
import torch

from aria_cli.agents.base import GameInfo
from aria_cli.agents.learned import (
    FULL,
    MASKED,
    LearnedModels,
    ModelContexts,
    PolicyAgent,
    PriorEvidence,
    UniformShares,
    WorldModelAgent,
    _mix_uniform,
)
from aria_cli.data.recordings import read_recording
from aria_cli.games.adapter import GameSession
from aria_cli.play.compare import play_one
from aria_cli.vocab import CLICK, LOC_NULL, Vocab, cell_to_pixel

V0 = Vocab(0)


@pytest.fixture(scope="module")
def models(pipeline):
    return LearnedModels.load(pipeline.checkpoints, device="cpu")


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


def test_kv_cached_steps_give_the_same_logits_as_a_full_forward_pass(models):
    ctx = ModelContexts(models)
    rng = np.random.default_rng(0)
    with GameSession("qtgl", seed=3) as s:
        obs = s.reset()
        for step in range(2 * models.wm.config.context_steps + 1):  # long enough to slide twice
            ctx.begin_frame(obs.frame, obs.available_actions)
            for row in (FULL, MASKED):
                full = models.wm.logits(torch.as_tensor(ctx.context.tokens(row))[None])[0, -1]
                assert torch.allclose(ctx.context.state.logits[row], full, atol=1e-4), f"step {step}, row {row}"
            cell = int(rng.integers(64))
            obs = s.step(CLICK, (cell % 8) * 8 + 4, (cell // 8) * 8 + 4)
            ctx.end_action(CLICK, cell, level_up=False)
            assert len(ctx.context.steps) < models.wm.config.context_steps


def test_the_policy_context_never_holds_an_action_token(models):
    ctx = ModelContexts(models)
    feed_moves(ctx, "qmaz", 1, (1, 2, 3, 4, 1))
    masked = ctx.context.tokens(MASKED)
    steps = len(ctx.context.steps)  # what is left after the context slid
    assert steps >= 1
    assert not V0.is_action_token(masked).any() and (masked == V0.mask).sum() == 3 * steps
    assert V0.is_type(ctx.context.tokens(FULL)).sum() == steps


def test_the_policy_in_play_reads_the_states_it_was_trained_on(models):
    # train-policy reads the masked [ACT] slot and the 64 code positions of the frame and of the frame
    # before it (policy_features); the agent must hand its heads the same positions of its KV-cached
    # context, not a shifted slice or another step's.
    ctx = ModelContexts(models)
    obs = feed_moves(ctx, "qtgl", 4, [(CLICK, cell) for cell in (9, 18, 27)])
    ctx.begin_frame(obs.frame, obs.available_actions)
    tokens = ctx.context.tokens(MASKED)
    assert models.heads.config.previous_frame  # train-policy's default: the heads also read step t-1
    with torch.no_grad():
        hidden = models.wm.hidden_states(torch.as_tensor(tokens)[None])[0]
        prev, pos = (int(p) for p in np.flatnonzero(tokens == V0.frame)[-2:])
        type_logits, loc_logits = models.heads(hidden[None, pos + 65], hidden[None, pos + 1 : pos + 65],
                                               hidden[None, prev + 65], hidden[None, prev + 1 : prev + 65])
    cells = loc_logits[0, :64].numpy()
    np.testing.assert_allclose(ctx.cell_logp, cells - np.logaddexp.reduce(cells), atol=1e-4)
    allowed = [a for a in obs.available_actions if a < len(ctx.type_logp)]
    t = type_logits[0].numpy()[allowed]
    np.testing.assert_allclose(ctx.type_logp[allowed], t - np.logaddexp.reduce(t), atol=1e-4)


def test_policy_scores_cover_only_available_actions(models):
    ctx = ModelContexts(models)
    with GameSession("qtgl", seed=0) as s:
        obs = s.reset()
    ctx.begin_frame(obs.frame, obs.available_actions)
    p = np.exp(ctx.type_logp)
    assert np.isclose(p.sum(), 1.0) and set(np.flatnonzero(p > 0)) <= {0, *obs.available_actions}


@pytest.mark.parametrize("agent_cls", [WorldModelAgent, PolicyAgent])
def test_the_agent_plays_a_click_game_for_hundreds_of_actions_and_is_recorded(models, tmp_path, agent_cls):
    with GameSession("qtgl", seed=5, record_dir=tmp_path) as s:
        watched = Watched(s)
        run = play_one(watched, agent_cls(models, seed=0), "qtgl", 5, max_actions=120)
    assert run.error is None and (run.actions == 120 or run.won)
    for obs, action, x, y in watched.log:
        assert action == 0 or action in obs.available_actions
        assert (x is not None) == (y is not None) == (action == CLICK)
    rec = read_recording(s.recording_path)
    assert len(rec.steps) == run.actions + 2  # the toolkit's initial frame, play_one's RESET, then each action


def test_the_agent_resets_on_game_over(models):
    with GameSession("qmaz", seed=2) as s:
        watched = Watched(s)
        agent = PolicyAgent(models, seed=0)
        run = play_one(watched, agent, "qmaz", 2, max_actions=160)
    game_overs = [i for i, (obs, *_rest) in enumerate(watched.log) if obs.state == "GAME_OVER"]
    assert run.error is None
    assert game_overs, "the step budget never ran out; the test needs a GAME_OVER to check"
    assert all(watched.log[i][1] == 0 for i in game_overs)


def test_missing_checkpoints_name_what_to_run(tmp_path):
    from aria_cli.common.errors import CheckpointError

    with pytest.raises(CheckpointError, match="aria train-vqvae"):
        LearnedModels.load(tmp_path)


def test_agent_reset_forgets_the_previous_game(models):
    agent = PolicyAgent(models, seed=0)
    with GameSession("qtgl", seed=0) as s:
        obs = s.reset()
        d = agent.act(obs)
        agent.observe(s.step(d.action, d.x, d.y))
    assert agent.ctx.context.steps
    agent.reset(GameInfo(game="qtgl"))
    assert not agent.ctx.context.steps and agent.ctx.context.state is None


def test_the_world_model_is_scored_online_on_the_cells_that_change(models):
    # The learned agent trusts its prior as far as the world model foresees this game's frames: count,
    # against a full forward pass over the same context, the changed cells whose new code it predicted.
    ctx = ModelContexts(models)
    assert ctx.change_accuracy() == 0.25  # no evidence yet
    expected_changed = expected_right = 0
    previous = None
    with GameSession("qmaz", seed=1) as s:
        obs = s.reset()
        for a in (4, 4, 2, 2, 3, 1, 4):
            ctx.begin_frame(obs.frame, obs.available_actions)
            codes = models.tokenizer.encode(obs.frame[None])[0]
            tokens = ctx.context.tokens(FULL)
            if previous is not None:
                with torch.no_grad():
                    logits = models.wm.logits(torch.as_tensor(tokens)[None])[0]
                predicted = logits[len(tokens) - 66 : len(tokens) - 2, V0.code0 : V0.code0 + 512].argmax(-1).numpy()
                changed = codes != previous
                expected_changed += int(changed.sum())
                expected_right += int((predicted[changed] == codes[changed]).sum())
            previous = codes
            obs = s.step(a)
            ctx.end_action(a, LOC_NULL, level_up=False)
    assert expected_changed > 0, "the moves changed nothing; the test needs changed cells"
    assert (ctx.changed_cells, ctx.changed_right) == (expected_changed, expected_right)
    agent = WorldModelAgent(models, seed=0)
    agent.ctx.changed_cells, agent.ctx.changed_right = 1000, 0  # a game the model cannot foresee at all
    assert agent.trust() == agent.config.min_trust
    agent.ctx.changed_cells, agent.ctx.changed_right = 1000, 600
    assert agent.trust() == 1.0


def test_the_world_model_agent_also_weighs_the_world_models_guess_of_the_next_action_type(models):
    # The world model's context shows the actions taken so far (the policy's does not): its prediction
    # at the [ACT] slot is a distribution over the next action type, read off the cached logits.
    ctx = ModelContexts(models)
    obs = feed_moves(ctx, "qmaz", 1, (4, 4, 2))
    ctx.begin_frame(obs.frame, obs.available_actions)
    allowed = list(obs.available_actions)
    with torch.no_grad():
        logits = models.wm.logits(torch.as_tensor(ctx.context.tokens(FULL))[None])[0, -1]
    t = logits[V0.type0 : V0.type0 + len(ctx.wm_type_logp)].numpy()[allowed]
    np.testing.assert_allclose(ctx.wm_type_logp[allowed], t - np.logaddexp.reduce(t), atol=1e-4)
    cands = [(a, LOC_NULL) for a in allowed]
    plain = ctx.prior(cands, level_weight=0.0, top_k=4)
    both = ctx.prior(cands, level_weight=0.0, top_k=4, wm_type_weight=1.0)
    np.testing.assert_allclose(both - plain, ctx.wm_type_logp[allowed], atol=1e-6)


def test_the_world_model_agent_also_weighs_the_world_models_guess_of_the_click_cell(models):
    # After a CLICK type token the world model points into the frame (its location pointer): the agent
    # reads that distribution from a look-ahead token it then takes back, the same as a full forward gives.
    ctx = ModelContexts(models)
    obs = feed_moves(ctx, "qtgl", 2, [(CLICK, 27), (CLICK, 36)])
    ctx.begin_frame(obs.frame, obs.available_actions)
    length = ctx.context.state.length
    tokens = [*ctx.context.tokens(FULL), V0.type0 + CLICK]
    with torch.no_grad():
        cells = models.wm.logits(torch.as_tensor(tokens)[None])[0, -1, V0.loc0 : V0.loc0 + 64].numpy()
    np.testing.assert_allclose(ctx.wm_cell_logp, cells - np.logaddexp.reduce(cells), atol=1e-4)
    assert ctx.context.state.length == length  # asked on a branch: the context itself is untouched
    cands = [(CLICK, c) for c in range(64)]
    plain = ctx.prior(cands, level_weight=0.0, top_k=4)
    both = ctx.prior(cands, level_weight=0.0, top_k=4, wm_cell_weight=1.0)
    np.testing.assert_allclose(both - plain, ctx.wm_cell_logp, atol=1e-6)


def test_a_prior_mixed_with_the_uniform_keeps_its_order_and_bounds_its_penalty():
    logp = np.log(np.array([0.97, 0.02, 0.01, 1e-9]))
    logp = np.append(logp - np.logaddexp.reduce(logp), -np.inf)  # the last type is not available
    mixed = _mix_uniform(logp, 0.2)
    assert np.isclose(np.logaddexp.reduce(mixed[:4]), 0.0) and mixed[4] == -np.inf
    assert list(np.argsort(-mixed[:4])) == list(np.argsort(-logp[:4]))
    assert mixed[:4].min() >= np.log(0.2 / 4) - 1e-12  # no available action falls below share / n
    assert _mix_uniform(logp, 0.0) is logp


def test_prior_evidence_moves_each_distribution_by_how_it_predicts_productive_actions():
    ev = PriorEvidence(initial=0.5, bound=0.95, rate=1.0)  # the plain posterior of the mixture
    assert ev.shares() == UniformShares(0.5, 0.5, 0.5, 0.5)
    # Held-out qmix: the world model puts 1e-5 on the colour key, which changes the board.
    ev.observe("wm_type", np.log(1e-5), 6)
    assert ev.weight("wm_type") == pytest.approx(0.05)
    # The policy's cell head points at the cells whose clicks change something: it earns weight.
    for _ in range(3):
        ev.observe("cell", np.log(0.3), 64)
    assert ev.weight("cell") == pytest.approx(0.95)
    ev.observe("type", -np.inf, 6)  # an action it ruled out did something: no weight left
    assert ev.weight("type") == pytest.approx(0.05)
    ev.observe("type", np.log(0.5), 1)  # with one choice there is nothing to learn
    assert ev.weight("type") == pytest.approx(0.05)
    # The floor is not a trap: a distribution that predicts well again recovers.
    for _ in range(10):
        ev.observe("wm_type", np.log(0.9), 6)
    assert ev.weight("wm_type") == pytest.approx(0.95)
    tempered = PriorEvidence(initial=0.5, bound=0.95, rate=0.25)  # the same evidence, a quarter as strong
    tempered.observe("wm_type", np.log(1e-5), 6)
    assert tempered.log_odds["wm_type"] == pytest.approx(0.25 * np.log(6e-5))


def test_the_world_model_agent_learns_its_prior_weights_from_productive_actions_only(models):
    agent = WorldModelAgent(models, seed=0)
    agent.reset(GameInfo(game="qmaz", seed=1))
    start = dict(agent.evidence.log_odds)
    productive = 0
    with GameSession("qmaz", seed=1) as s:
        obs = s.reset()
        for _ in range(40):
            d = agent.act(obs)
            before = dict(agent.evidence.log_odds)
            chosen = list(agent._chosen)
            obs = s.step(d.action, d.x, d.y)
            agent.observe(obs)
            if agent.explorer.last_changed:
                productive += 1
                expected = dict(before)
                for name, logp, n in chosen:
                    lo = before[name] + agent.evidence.rate * (logp + np.log(n))
                    expected[name] = float(np.clip(lo, -agent.evidence.bound, agent.evidence.bound))
                assert agent.evidence.log_odds == pytest.approx(expected)
            else:
                assert agent.evidence.log_odds == before
    assert productive > 0
    assert agent.evidence.log_odds["cell"] == start["cell"]  # qmaz has no clicks
    assert agent.evidence.log_odds["type"] != start["type"]


@pytest.mark.parametrize("cls", [PolicyAgent, WorldModelAgent])
def test_agents_step_on_one_torch_thread_and_leave_the_process_setting_alone(pipeline, cls):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        models = LearnedModels.load(pipeline.checkpoints, device="cpu")
        assert torch.get_num_threads() == 2  # loading changes nothing process-wide
        seen = []
        encode = models.tokenizer.encode
        models.tokenizer.encode = lambda frames: seen.append(torch.get_num_threads()) or encode(frames)
        with GameSession("qmaz", seed=0) as s:
            run = play_one(s, cls(models, seed=0), "qmaz", 0, 5)
        assert run.actions == 5 and seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
