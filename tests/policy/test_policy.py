"""Policy heads on masked contexts, their feature cache, and the decision gates."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.world_model import rule_cache, rule_points

from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.evaluation.gates import DEFAULT_GATES, check_gates, load_gates
from aria_cli.policy.features import extract, load_or_extract, window_steps
from aria_cli.policy.heads import (
    CellPooling,
    PolicyBatch,
    PolicyConfig,
    PolicyHeads,
    policy_loss,
    restrict_types,
)
from aria_cli.policy.metrics import policy_metrics
from aria_cli.policy.metrics import score as selection_score
from aria_cli.vocab import CLICK, LOC_NULL, N_POINTS, Vocab
from aria_cli.world_model.backbones import TinyArch, build_tiny
from aria_cli.world_model.model import WorldModel

V0 = Vocab(0)


def tiny_wm(seed=0, context_steps=4):
    torch.manual_seed(seed)
    bb = build_tiny(TinyArch(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64))
    return WorldModel.from_backbone(bb, context_steps).eval()


@pytest.mark.parametrize("attention_heads", [0, 4])
def test_heads_give_8_type_logits_and_65_location_logits(attention_heads):
    heads = PolicyHeads(PolicyConfig(hidden_size=32, type_attention_heads=attention_heads))
    t, loc = heads(torch.randn(5, 32), torch.randn(5, 64, 32))
    assert t.shape == (5, 8) and loc.shape == (5, 65)


def test_type_head_pooling_is_multi_head_attention_over_the_cells():
    torch.manual_seed(0)
    pool = CellPooling(32, 4)
    summary, cells = torch.randn(3, 32), torch.randn(3, 64, 32)

    def split(x):  # (B, L, 32) -> (B, 4 heads, L, 8)
        return x.view(x.shape[0], x.shape[1], 4, 8).transpose(1, 2)

    q, k, v = split(pool.query(summary)[:, None]), split(pool.key(cells)), split(pool.value(cells))
    reference = F.scaled_dot_product_attention(q, k, v).reshape(3, 32)
    assert torch.allclose(pool(summary, cells), reference, atol=1e-5)
    # The type depends on the cells (where things are), not on the summary alone.
    heads = PolicyHeads(PolicyConfig(hidden_size=32, type_attention_heads=4)).eval()
    assert not torch.allclose(heads(summary, cells)[0], heads(summary, torch.randn(3, 64, 32))[0])


@pytest.mark.parametrize("attention_heads", [0, 4])
def test_heads_read_the_previous_step_as_the_change_beside_the_states(attention_heads):
    torch.manual_seed(0)
    heads = PolicyHeads(PolicyConfig(hidden_size=32, type_attention_heads=attention_heads, previous_frame=True)).eval()
    s, c, ps, pc = torch.randn(3, 32), torch.randn(3, 64, 32), torch.randn(3, 32), torch.randn(3, 64, 32)
    # The heads never build [x_t, x_t - x_{t-1}]; here it is built, and read by the same heads.
    pair_s, pair_c = torch.cat([s, s - ps], -1), torch.cat([c, c - pc], -1)
    t, loc = heads(s, c, ps, pc)
    assert torch.allclose(t, heads.type_head(pair_s, pair_c), atol=1e-5)
    assert torch.allclose(loc, heads.loc_head(pair_s, pair_c), atol=1e-5)
    # At a game's first step there is no previous step: the change is zero.
    t0, loc0 = heads(s, c)
    zero_s, zero_c = torch.cat([s, torch.zeros_like(s)], -1), torch.cat([c, torch.zeros_like(c)], -1)
    assert torch.allclose(t0, heads.type_head(zero_s, zero_c), atol=1e-5)
    assert torch.allclose(loc0, heads.loc_head(zero_s, zero_c), atol=1e-5)


def test_loss_counts_location_only_for_clicks():
    tl, ll = torch.zeros(2, 8), torch.zeros(2, 65)
    no_click = policy_loss(tl, ll, torch.tensor([1, 2]), torch.tensor([LOC_NULL, LOC_NULL]))
    clicks = policy_loss(tl, ll, torch.tensor([CLICK, CLICK]), torch.tensor([3, 4]))
    assert torch.isclose(no_click, torch.log(torch.tensor(8.0)))
    assert torch.isclose(clicks, torch.log(torch.tensor(8.0)) + torch.log(torch.tensor(65.0)))


def test_the_click_point_head_reads_the_clicked_cell_and_adds_its_loss_for_clicks_with_a_point():
    torch.manual_seed(0)
    heads = PolicyHeads(PolicyConfig(hidden_size=16, previous_frame=True, click_points=True)).eval()
    s, c, ps, pc = torch.randn(4, 16), torch.randn(4, 64, 16), torch.randn(4, 16), torch.randn(4, 64, 16)
    cell = torch.tensor([3, 3, 9, 60])
    logits = heads.point_logits(cell, s, c, ps, pc)
    assert logits.shape == (4, N_POINTS)
    other = c.clone()
    other[:, 10] += 1.0  # a cell none of them clicks: no change
    assert torch.allclose(heads.point_logits(cell, s, other, ps, pc), logits)
    other[0, 3] += 1.0  # the first one's clicked cell
    changed = ~torch.isclose(heads.point_logits(cell, s, other, ps, pc), logits).all(-1)
    assert changed.tolist() == [True, False, False, False]
    # Loss: the type and location terms, plus CE(point) over the clicks that have one, per step of the batch.
    types, locs, points = torch.tensor([CLICK, CLICK, CLICK, 1]), torch.tensor([3, 3, 9, LOC_NULL]), torch.tensor([5, -1, 63, -1])
    loss, _ = heads.compute_loss(PolicyBatch((s, c, ps, pc), types, locs, None, points))
    tl, ll = heads(s, c, ps, pc)
    want = policy_loss(tl, ll, types, locs) + F.cross_entropy(logits[[0, 2]], points[[0, 2]], reduction="sum") / 4
    assert torch.isclose(loss, want)
    assert PolicyHeads(PolicyConfig(hidden_size=16)).point_logits(cell, s, c) is None  # heads without one


def test_the_click_point_head_learns_a_point_that_the_clicked_cells_state_shows():
    """Training through compute_loss: each click's point is written in its cell's state (two one-hots,
    its row and its column); the other cells hold decoys. Learned, the head names it on new steps."""
    gen = torch.Generator().manual_seed(0)

    def batch(n):
        cells = torch.zeros(n, 64, 16)
        point = torch.randint(0, N_POINTS, (n,), generator=gen)
        cell = torch.randint(0, 64, (n,), generator=gen)
        decoys = torch.randint(0, 8, (n, 64, 2), generator=gen)
        cells.scatter_(2, decoys[..., :1], 1.0)
        cells.scatter_(2, 8 + decoys[..., 1:], 1.0)
        rows = torch.arange(n)
        cells[rows, cell] = 0.0
        cells[rows, cell, point // 8] = 1.0
        cells[rows, cell, 8 + point % 8] = 1.0
        return torch.randn(n, 16, generator=gen), cells, cell, point

    torch.manual_seed(0)
    heads = PolicyHeads(PolicyConfig(hidden_size=16, click_points=True))
    opt = torch.optim.AdamW(heads.parameters(), lr=3e-3)
    for _ in range(300):
        s, c, cell, point = batch(128)
        loss, _ = heads.compute_loss(PolicyBatch((s, c), torch.full((128,), CLICK), cell, None, point))
        opt.zero_grad()
        loss.backward()
        opt.step()
    heads.eval()
    s, c, cell, point = batch(512)
    with torch.no_grad():
        accuracy = (heads.point_logits(cell, s, c).argmax(-1) == point).float().mean().item()
    assert accuracy > 0.9  # chance: 1/64


def test_point_accuracy_counts_the_exact_pixel_of_clicks_with_a_point(tmp_path):
    cache = rule_cache(tmp_path)
    feats = extract(tiny_wm(), cache, [0])
    n = len(feats)
    truth = feats.points.copy()
    guess = truth.copy()
    clicks = np.flatnonzero(truth >= 0)
    guess[clicks[:2]] = (truth[clicks[:2]] + 1) % N_POINTS  # two known errors
    guess[truth < 0] = -1
    tl, ll = np.zeros((n, 8)), np.zeros((n, 65))
    m = policy_metrics(tl, ll, guess, feats, {"all": 1}, [cache.episodes[0].game] * n)
    assert m["all"]["point_acc"] == pytest.approx(1 - 2 / len(clicks))
    no_points = policy_metrics(tl, ll, np.full(n, -1), feats, {"all": 1}, ["g"] * n)["all"]
    assert no_points["point_acc"] is None
    # train-policy keeps the epoch that places clicks better, other things equal (the lead clicks there)
    better = policy_metrics(tl, ll, truth, feats, {"all": 1}, ["g"] * n)["all"]
    assert selection_score(better) - selection_score(m["all"]) == pytest.approx(2 / len(clicks))
    assert selection_score(no_points) == no_points["type_acc"] + no_points["loc_acc"]


def test_unavailable_types_are_never_chosen():
    logits = restrict_types(torch.tensor([0.0, 9, 0, 0, 0, 0, 0, 0]), [2, 6])
    assert int(logits.argmax()) in (2, 6) and torch.isinf(logits[1])


def test_masked_contexts_never_contain_real_action_tokens(tmp_path):
    cache = rule_cache(tmp_path)
    wm = tiny_wm()
    seen = []
    original = wm.hidden_states
    wm.hidden_states = lambda tokens=None, **kw: seen.append(tokens.clone()) or original(tokens, **kw)
    feats = extract(wm, cache, [0, 1])
    assert seen, "the world model was never run"
    for tokens in seen:
        assert not V0.is_action_token(tokens.numpy()).any()
        assert (tokens == V0.mask).any()
    n_actions = sum(cache.episodes[i].n_actions for i in (0, 1))
    assert len(feats) == n_actions
    assert feats.cells.shape[1:] == (64, wm.hidden_size)


def test_features_keep_the_true_labels_of_every_step(tmp_path):
    cache = rule_cache(tmp_path)
    feats = extract(tiny_wm(), cache, [0])
    tok = cache.episode_tokens(0)
    pos = window_steps(tok)
    assert np.array_equal(feats.types, tok[pos + 66] - V0.type0)
    assert np.array_equal(feats.locs, tok[pos + 67] - V0.loc0)
    types = tok[window_steps(tok) + 66] - V0.type0  # every step's click point, across the windows' overlap
    assert np.array_equal(feats.points, rule_points(types)) and (feats.points >= 0).sum() > 2
    assert feats.prev_types[0] == -1 and np.array_equal(feats.prev_types[1:], feats.types[:-1])
    assert feats.prev[0] == 0 and np.array_equal(feats.prev[1:], np.arange(len(feats) - 1))


def test_previous_steps_stay_within_an_episode_and_survive_a_split(tmp_path):
    cache = rule_cache(tmp_path)
    feats = extract(tiny_wm(), cache, [0, 1])
    first_of_second = int(np.flatnonzero(feats.episode == feats.episode[-1])[0])
    assert feats.prev[first_of_second] == first_of_second  # no step before an episode's first
    second = feats.take(np.flatnonzero(feats.episode == feats.episode[-1]))
    assert second.prev[0] == 0 and np.array_equal(second.prev[1:], np.arange(len(second) - 1))
    odd = feats.take(np.arange(1, len(feats), 2))  # predecessors left out: each step reads itself
    assert np.array_equal(odd.prev, np.arange(len(odd)))


def test_heads_read_the_change_from_the_previous_step():
    torch.manual_seed(0)
    heads = PolicyHeads(PolicyConfig(hidden_size=16, type_attention_heads=4, previous_frame=True)).eval()
    s, c = torch.randn(3, 16), torch.randn(3, 64, 16)
    same = heads(s, c, s, c)
    assert all(torch.equal(a, b) for a, b in zip(heads(s, c), same, strict=True))  # no previous step: no change
    moved = heads(s, c, torch.randn(3, 16), torch.randn(3, 64, 16))
    assert not torch.allclose(same[0], moved[0]) and not torch.allclose(same[1], moved[1])


def test_feature_cache_is_reused_until_the_world_model_changes(tmp_path):
    cache = rule_cache(tmp_path)
    wm = tiny_wm(seed=0)
    wm_dir = tmp_path / "wm"
    wm.save(wm_dir)
    folder = tmp_path / "features"
    first, reused = load_or_extract(wm, wm_dir, cache, folder)
    assert not reused
    again, reused = load_or_extract(wm, wm_dir, cache, folder)
    assert reused and np.array_equal(again.summary, first.summary)
    retrained = tiny_wm(seed=1)
    retrained.save(wm_dir)
    fresh, reused = load_or_extract(retrained, wm_dir, cache, folder)
    assert not reused and fresh.key != first.key


def test_cached_cell_states_are_memory_mapped_and_a_split_reads_what_extraction_computed(tmp_path):
    from aria_cli.policy.features import Rows
    from aria_cli.policy.metrics import step_inputs

    cache = rule_cache(tmp_path)
    wm = tiny_wm(seed=0)
    wm.save(tmp_path / "wm")
    in_memory = extract(wm, cache, list(range(len(cache.episodes))))
    for _ in range(2):  # extracted into the file, then reused from it
        feats, _ = load_or_extract(wm, tmp_path / "wm", cache, tmp_path / "features")
        assert isinstance(feats.cells, np.memmap) and not feats.cells.flags.writeable
        assert np.array_equal(np.asarray(feats.cells), in_memory.cells)
    rows = np.arange(1, len(feats), 2)
    split = feats.take(rows)
    assert isinstance(split.cells, Rows) and split.cells.shape == (len(rows), *in_memory.cells.shape[1:])
    inner = split.take(np.array([2, 0]))  # a split of a split still reads the right rows
    assert np.array_equal(inner.cells[np.arange(2)], in_memory.cells[rows[[2, 0]]])
    batch = step_inputs(split, np.arange(len(split)), "cpu")  # what training reads, batch by batch
    assert torch.equal(batch[1], torch.from_numpy(in_memory.cells[rows]))


@pytest.mark.parametrize(("attention_heads", "previous_frame", "click_points"),
                         [(0, False, False), (4, False, False), (4, True, False), (4, True, True)])
def test_policy_checkpoint_round_trips(tmp_path, attention_heads, previous_frame, click_points):
    heads = PolicyHeads(PolicyConfig(hidden_size=16, type_attention_heads=attention_heads,
                                     previous_frame=previous_frame, click_points=click_points)).eval()
    heads.save(tmp_path / "p")
    back = PolicyHeads.load(tmp_path / "p")
    s, c, ps, pc = torch.randn(3, 16), torch.randn(3, 64, 16), torch.randn(3, 16), torch.randn(3, 64, 16)
    assert all(torch.allclose(a, b) for a, b in zip(heads(s, c, ps, pc), back(s, c, ps, pc), strict=True))
    cell = torch.tensor([1, 2, 3])
    point, point_back = heads.point_logits(cell, s, c, ps, pc), back.point_logits(cell, s, c, ps, pc)
    assert (point is None) == (point_back is None) == (not click_points)
    assert point is None or torch.allclose(point, point_back)


def test_heads_saved_before_the_click_point_head_load_without_one(tmp_path):
    import json

    PolicyHeads(PolicyConfig(hidden_size=16, previous_frame=True)).save(tmp_path / "p")
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    del config["click_points"]  # what heads saved before it existed have
    (tmp_path / "p" / "config.json").write_text(json.dumps(config))
    assert PolicyHeads.load(tmp_path / "p").point_head is None


def test_missing_policy_names_the_command_to_run(tmp_path):
    with pytest.raises(CheckpointError, match="run `aria train-policy` first"):
        PolicyHeads.load(tmp_path / "policy")


def test_gates_default_to_the_design_thresholds_and_can_be_changed(tmp_path):
    assert load_gates(None) == DEFAULT_GATES
    f = tmp_path / "g.toml"
    f.write_text("[gates]\nframe_acc = 0.9\n")
    gates = load_gates(f)
    assert gates["frame_acc"] == 0.9 and gates["policy_type_acc"] == 0.5


def test_a_gates_file_with_an_unknown_metric_is_one_line(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text("[gates]\nframe_accuracy = 0.9\n")
    with pytest.raises(AriaError, match="unknown metric 'frame_accuracy'"):
        load_gates(f)


def test_location_gates_do_not_apply_to_games_without_clicks():
    result = check_gates({"frame_acc": 0.9, "action_type_acc": 0.4, "action_loc_acc": None}, DEFAULT_GATES)
    assert result["frame_acc"] is True and result["action_type_acc"] is False
    assert result["action_loc_acc"] is None


def test_train_policy_resumes_to_the_same_heads(pipeline, tmp_path):
    """Two epochs, then --resume to four, equals four in one go (per-epoch order from the seed)."""
    import shutil

    from safetensors.torch import load_file

    from aria_cli.policy.train import PolicyTrainConfig, train_policy

    runs = {}
    for name, plan in {"straight": [(4, False)], "resumed": [(2, False), (4, True)]}.items():
        ck = tmp_path / name
        shutil.copytree(pipeline.checkpoints, ck, ignore=shutil.ignore_patterns("policy"))
        for epochs, resume in plan:
            result = train_policy(PolicyTrainConfig(data=pipeline.data, checkpoints=ck, epochs=epochs,
                                                    device="cpu", resume=resume))
        runs[name] = (result.metrics["history"], load_file(ck / "policy" / "last" / "model.safetensors"))
    (h1, w1), (h2, w2) = runs["straight"], runs["resumed"]
    assert [e["epoch"] for e in h2] == [1, 2, 3, 4]
    assert h1 == h2
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)


def test_train_policy_refuses_to_resume_other_heads(pipeline, tmp_path):
    import shutil

    from aria_cli.policy.train import PolicyTrainConfig, train_policy

    ck = tmp_path / "ck"
    shutil.copytree(pipeline.checkpoints, ck, ignore=shutil.ignore_patterns("policy"))
    metrics = train_policy(PolicyTrainConfig(data=pipeline.data, checkpoints=ck, epochs=1, device="cpu")).metrics
    assert 0 <= metrics["games"]["qtgl"]["point_acc"] <= 1 and metrics["games"]["qmaz"]["point_acc"] is None
    with pytest.raises(CheckpointError, match="--type-attention-heads"):
        train_policy(PolicyTrainConfig(data=pipeline.data, checkpoints=ck, epochs=2, device="cpu", resume=True,
                                       type_attention_heads=0))
    with pytest.raises(CheckpointError, match="--click-points"):
        train_policy(PolicyTrainConfig(data=pipeline.data, checkpoints=ck, epochs=2, device="cpu", resume=True,
                                       click_points=False))
