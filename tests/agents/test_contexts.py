"""The models at play: KV-cached contexts give what a full forward pass gives, on real bundled games."""

import numpy as np
import pytest
import torch
from helpers.agents import feed_moves

from aria_cli.agents.contexts import FULL, MASKED, LearnedModels, ModelContexts
from aria_cli.agents.learned import WorldModelAgent
from aria_cli.common.errors import CheckpointError
from aria_cli.games.session import GameSession
from aria_cli.vocab import CLICK, LOC_NULL, Vocab

V0 = Vocab(0)


def test_kv_cached_steps_give_the_same_logits_as_a_full_forward_pass(learned_models):
    ctx = ModelContexts(learned_models)
    rng = np.random.default_rng(0)
    with GameSession("qtgl", seed=3) as s:
        obs = s.reset()
        for step in range(2 * learned_models.wm.config.context_steps + 1):  # long enough to slide twice
            ctx.begin_frame(obs.frame, obs.available_actions)
            for row in (FULL, MASKED):
                full = learned_models.wm.logits(torch.as_tensor(ctx.context.tokens(row))[None])[0, -1]
                assert torch.allclose(ctx.context.state.logits[row], full, atol=1e-4), f"step {step}, row {row}"
            cell = int(rng.integers(64))
            obs = s.step(CLICK, (cell % 8) * 8 + 4, (cell // 8) * 8 + 4)
            ctx.end_action(CLICK, cell, level_up=False)
            assert len(ctx.context.steps) < learned_models.wm.config.context_steps


def test_the_policy_context_never_holds_an_action_token(learned_models):
    ctx = ModelContexts(learned_models)
    feed_moves(ctx, "qmaz", 1, (1, 2, 3, 4, 1))
    masked = ctx.context.tokens(MASKED)
    steps = len(ctx.context.steps)  # what is left after the context slid
    assert steps >= 1
    assert not V0.is_action_token(masked).any() and (masked == V0.mask).sum() == 3 * steps
    assert V0.is_type(ctx.context.tokens(FULL)).sum() == steps


def test_the_policy_in_play_reads_the_states_it_was_trained_on(learned_models):
    # train-policy reads the masked [ACT] slot and the 64 code positions of the frame and of the frame
    # before it (policy_features); the agent must hand its heads the same positions of its KV-cached
    # context, not a shifted slice or another step's.
    ctx = ModelContexts(learned_models)
    obs = feed_moves(ctx, "qtgl", 4, [(CLICK, cell) for cell in (9, 18, 27)])
    ctx.begin_frame(obs.frame, obs.available_actions)
    tokens = ctx.context.tokens(MASKED)
    assert learned_models.heads.config.previous_frame  # train-policy's default: the heads also read step t-1
    with torch.no_grad():
        hidden = learned_models.wm.hidden_states(torch.as_tensor(tokens)[None])[0]
        prev, pos = (int(p) for p in np.flatnonzero(tokens == V0.frame)[-2:])
        type_logits, loc_logits = learned_models.heads(hidden[None, pos + 65], hidden[None, pos + 1 : pos + 65],
                                               hidden[None, prev + 65], hidden[None, prev + 1 : prev + 65])
    cells = loc_logits[0, :64].numpy()
    np.testing.assert_allclose(ctx.cell_logp, cells - np.logaddexp.reduce(cells), atol=1e-4)
    allowed = [a for a in obs.available_actions if a < len(ctx.type_logp)]
    t = type_logits[0].numpy()[allowed]
    np.testing.assert_allclose(ctx.type_logp[allowed], t - np.logaddexp.reduce(t), atol=1e-4)


def test_policy_scores_cover_only_available_actions(learned_models):
    ctx = ModelContexts(learned_models)
    with GameSession("qtgl", seed=0) as s:
        obs = s.reset()
    ctx.begin_frame(obs.frame, obs.available_actions)
    p = np.exp(ctx.type_logp)
    assert np.isclose(p.sum(), 1.0) and set(np.flatnonzero(p > 0)) <= {0, *obs.available_actions}


def test_the_world_model_is_scored_online_on_the_cells_that_change(learned_models):
    # The learned agent trusts its prior as far as the world model foresees this game's frames: count,
    # against a full forward pass over the same context, the changed cells whose new code it predicted.
    ctx = ModelContexts(learned_models)
    assert ctx.change_accuracy() == 0.25  # no evidence yet
    expected_changed = expected_right = 0
    previous = None
    with GameSession("qmaz", seed=1) as s:
        obs = s.reset()
        for a in (4, 4, 2, 2, 3, 1, 4):
            ctx.begin_frame(obs.frame, obs.available_actions)
            codes = learned_models.tokenizer.encode(obs.frame[None])[0]
            tokens = ctx.context.tokens(FULL)
            if previous is not None:
                with torch.no_grad():
                    logits = learned_models.wm.logits(torch.as_tensor(tokens)[None])[0]
                predicted = logits[len(tokens) - 66 : len(tokens) - 2, V0.code0 : V0.code0 + 512].argmax(-1).numpy()
                changed = codes != previous
                expected_changed += int(changed.sum())
                expected_right += int((predicted[changed] == codes[changed]).sum())
            previous = codes
            obs = s.step(a)
            ctx.end_action(a, LOC_NULL, level_up=False)
    assert expected_changed > 0, "the moves changed nothing; the test needs changed cells"
    assert (ctx.changed_cells, ctx.changed_right) == (expected_changed, expected_right)
    agent = WorldModelAgent(learned_models, seed=0)
    agent.ctx.changed_cells, agent.ctx.changed_right = 1000, 0  # a game the model cannot foresee at all
    assert agent.trust() == agent.config.min_trust
    agent.ctx.changed_cells, agent.ctx.changed_right = 1000, 600
    assert agent.trust() == 1.0


def test_missing_checkpoints_name_what_to_run(tmp_path):
    with pytest.raises(CheckpointError, match="aria train-vqvae"):
        LearnedModels.load(tmp_path)


def test_outcome_logp_teacher_forces_each_rows_own_successor_frame(learned_models):
    # P(new state) rests on log P(next frame = a given frame | context, action): checked against a full
    # forward pass over the context with the action and that frame appended, for the current frame (the
    # default, "nothing changes") and for the frames left behind (recent_frames).
    ctx = ModelContexts(learned_models, recent=2)
    obs = feed_moves(ctx, "qmaz", 1, (4, 4, 2, 4))
    ctx.begin_frame(obs.frame, obs.available_actions)
    recent = ctx.recent_frames()
    current = learned_models.tokenizer.encode(obs.frame[None])[0]
    assert 1 <= len(recent) <= 2 and not any(np.array_equal(r, current) for r in recent)
    assert len({r.tobytes() for r in recent}) == len(recent)  # distinct
    actions = [(1, LOC_NULL), (2, LOC_NULL), *[(2, LOC_NULL)] * len(recent)]
    targets = [None, None, *recent]
    level, logp = ctx.outcome_logp(actions, targets)
    _, stay = ctx.outcome_logp(actions[:2])
    np.testing.assert_allclose(stay, logp[:2], atol=1e-4)
    ignore = np.zeros(64, dtype=bool)
    ignore[[0, 1, 2, 40]] = True  # cells that do not count (the explorer's volatile ones)
    _, partial = ctx.outcome_logp(actions, targets, ignore)
    for (t, loc), target, lp, lv, part in zip(actions, [current, current, *recent], logp, level, partial, strict=True):
        seq = [*ctx.context.tokens(FULL), V0.type0 + t, V0.loc0 + loc, V0.frame, *(V0.code0 + target).tolist()]
        with torch.no_grad():
            out = torch.log_softmax(learned_models.wm.logits(torch.as_tensor(seq)[None])[0].float(), -1)
        n = len(ctx.context.tokens(FULL))
        two = out[n + 1, [V0.level_complete, V0.frame]]
        no_level = float(two[1] - torch.logsumexp(two, 0))
        codes = torch.log_softmax(out[n + 2 : n + 66, V0.code0 : V0.code0 + 512], -1)
        per_cell = codes.gather(-1, torch.as_tensor(target)[:, None])[:, 0]
        assert lp == pytest.approx(no_level + float(per_cell.sum()), abs=1e-3)
        assert part == pytest.approx(no_level + float(per_cell[~torch.as_tensor(ignore)].sum()), abs=1e-3)
        assert lv == pytest.approx(float(two[0] - torch.logsumexp(two, 0)), abs=1e-4)
    assert np.exp(logp[1:]).sum() <= 1.0 + 1e-6  # distinct frames after one action: disjoint outcomes


def test_recent_frames_are_distinct_outside_the_ignored_cells_and_never_the_current_one(learned_models):
    ctx = ModelContexts(learned_models, recent=2)
    a, b, c = (np.full(64, k, dtype=np.int64) for k in (1, 2, 3))
    b_timer = b.copy()
    b_timer[0] = 9  # b again, but for a timer cell
    for previous, codes in ((a, b), (b, c), (c, b_timer), (b_timer, a)):
        ctx._codes = codes
        ctx._remember(previous, codes)
    assert [f[1] for f in ctx.recent_frames()] == [2, 3]  # b_timer, then c (a is the current frame)
    ignore = np.zeros(64, dtype=bool)
    ignore[0] = True
    assert [f[1] for f in ctx.recent_frames(ignore)] == [2, 3]
    assert [int(f[0]) for f in ctx.recent_frames(ignore)] == [9, 3]  # the latest of b's two versions
    ctx._codes = b  # the current frame is b: neither version of it is "recent"
    assert [f[1] for f in ctx.recent_frames(ignore)] == [3]
