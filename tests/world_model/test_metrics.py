"""World-model metrics on hand-made windows and hand-made predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aria_cli.vocab import CLICK, LOC_NULL, N_CELLS, Vocab, episode_tokens
from aria_cli.world_model.metrics import ALL, WMMetrics, metrics_table

V = Vocab(0)


def window(clicks: bool = True):
    """4 frames: frame 1 changes cell 0, frame 2 repeats frame 1, frame 3 changes cells 0 and 1.
    Actions: ACTION1, a click on cell 5 (or ACTION2) that completes a level, ACTION3."""
    codes = np.ones((4, N_CELLS), dtype=np.int64)
    codes[1:, 0] = 7
    codes[3, 0] = 8
    codes[3, 1] = 9
    types = np.array([1, CLICK if clicks else 2, 3])
    locs = np.array([LOC_NULL, 5 if clicks else LOC_NULL, LOC_NULL])
    tokens, offsets = episode_tokens(V, codes, types, locs, np.array([False, True, False]))
    return torch.from_numpy(tokens).long(), offsets


def logits_for(predicted: torch.Tensor) -> torch.Tensor:
    """Logits (1, T, 590) whose argmax at position j is predicted[j] (the prediction of token j+1)."""
    lg = torch.zeros(1, len(predicted), Vocab().n_special)
    lg[0, torch.arange(len(predicted)), predicted] = 20.0
    return lg


def perfect(tokens: torch.Tensor) -> torch.Tensor:
    return torch.cat([tokens[1:], tokens[:1]])


def copying(tokens: torch.Tensor, offsets) -> torch.Tensor:
    """Perfect everywhere, except that every code of frame t > 0 is predicted as frame t-1's code."""
    pred = perfect(tokens)
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        pred[b : b + N_CELLS] = tokens[a + 1 : a + 1 + N_CELLS]  # position b+k predicts code k of frame t
    return pred


def score(tokens, pred, games=("g",)) -> dict:
    m = WMMetrics()
    m.update(tokens[None], logits_for(pred), torch.ones(1, len(tokens), dtype=torch.bool), list(games))
    return m.result()["games"][games[0]]


def test_perfect_predictions_score_one_on_every_metric():
    tokens, _ = window()
    r = score(tokens, perfect(tokens))
    for key in ("frame_acc", "changed_acc", "action_type_acc", "action_loc_acc", "level_precision", "level_recall"):
        assert r[key] == 1.0, key
    assert r["perplexity"] == pytest.approx(1.0, abs=1e-3)


def test_only_frames_after_the_first_in_a_window_are_scored():
    tokens, _ = window()
    r = score(tokens, perfect(tokens))
    assert r["frames"] == 3


def test_copying_the_previous_frame_is_exactly_the_copy_baseline():
    tokens, offsets = window()
    r = score(tokens, copying(tokens, offsets))
    assert r["copy_frame_acc"] == pytest.approx((3 * 64 - 3) / (3 * 64))  # 3 changed cells in 3 frames
    assert r["frame_acc"] == r["copy_frame_acc"]
    assert r["changed_acc"] == 0.0
    assert r["changed_cells"] == 3


def test_location_accuracy_counts_clicks_only():
    tokens, _ = window()
    pred = perfect(tokens)
    null_locs = (tokens[1:] == V.act_loc(LOC_NULL)).nonzero().flatten()
    pred[null_locs] = V.act_loc(0)  # wrong on every non-click location: does not count
    r = score(tokens, pred)
    assert r["clicks"] == 1 and r["action_loc_acc"] == 1.0


def test_location_accuracy_is_none_for_a_game_without_clicks():
    tokens, _ = window(clicks=False)
    r = score(tokens, perfect(tokens))
    assert r["clicks"] == 0 and r["action_loc_acc"] is None


def test_predictions_are_read_within_the_role_of_the_position():
    tokens, _ = window()
    pred = perfect(tokens)
    lg = logits_for(pred)
    types = (tokens[1:] >= V.type0) & (tokens[1:] < V.loc0)
    lg[0, types.nonzero().flatten(), V.code(3)] = 50.0  # a code outscores the type, but a type is due there
    m = WMMetrics()
    m.update(tokens[None], lg, torch.ones(1, len(tokens), dtype=torch.bool), ["g"])
    assert m.result()["games"]["g"]["action_type_acc"] == 1.0


def test_level_completion_is_predicted_when_it_beats_the_next_frame():
    tokens, _ = window()
    decisions = (tokens[:-1] >= V.loc0) & (tokens[:-1] < V.frame)  # positions right after each ACT_LOC
    lg = torch.zeros(1, len(tokens), Vocab().n_special)
    lg[0, decisions.nonzero().flatten(), V.code(0)] = 10.0  # the overall argmax is neither option
    lg[0, decisions.nonzero().flatten(), V.level_complete] = 2.0
    lg[0, decisions.nonzero().flatten(), V.frame] = 1.0  # P(LEVEL_COMPLETE) > P(FRAME) after every action
    m = WMMetrics()
    m.update(tokens[None], lg, torch.ones(1, len(tokens), dtype=torch.bool), ["g"])
    r = m.result()["games"]["g"]
    assert r["levels"] == 1
    assert r["level_recall"] == 1.0
    assert r["level_precision"] == pytest.approx(1 / 3)  # predicted after all 3 actions, 1 was right


def test_perplexity_is_the_exponent_of_the_mean_nll_over_trained_targets():
    tokens, _ = window()
    lg = torch.zeros(1, len(tokens), Vocab().n_special)  # uniform: every target has probability 1/590
    m = WMMetrics()
    m.update(tokens[None], lg, torch.ones(1, len(tokens), dtype=torch.bool), ["g"])
    assert m.result()["games"]["g"]["perplexity"] == pytest.approx(Vocab().n_special, rel=1e-4)


def test_padding_is_ignored():
    tokens, _ = window()
    pred = perfect(tokens)
    padded = torch.cat([tokens, torch.zeros(30, dtype=torch.long)])
    lg = torch.cat([logits_for(pred), torch.zeros(1, 30, Vocab().n_special)], dim=1)
    valid = torch.zeros(1, len(padded), dtype=torch.bool)
    valid[0, : len(tokens)] = True
    m = WMMetrics()
    m.update(padded[None], lg, valid, ["g"])
    assert m.result()["games"]["g"] == score(tokens, pred)


def test_metrics_are_kept_per_game_and_merge_across_processes():
    tokens, offsets = window()
    a, b = WMMetrics(), WMMetrics()
    ones = torch.ones(1, len(tokens), dtype=torch.bool)
    a.update(tokens[None], logits_for(perfect(tokens)), ones, ["g1"])
    b.update(tokens[None], logits_for(copying(tokens, offsets)), ones, ["g2"])
    merged = WMMetrics.from_states([a.state(), b.state()]).result()
    assert set(merged["games"]) == {"g1", "g2"}
    assert merged["games"]["g1"]["frame_acc"] == 1.0
    assert merged[ALL]["frame_acc"] == pytest.approx((1.0 + merged["games"]["g2"]["frame_acc"]) / 2)
    assert merged[ALL]["windows"] == 2


def test_the_table_has_a_row_per_game_and_one_for_all():
    tokens, _ = window()
    m = WMMetrics()
    ones = torch.ones(1, len(tokens), dtype=torch.bool)
    for g in ("g1", "g2"):
        m.update(tokens[None], logits_for(perfect(tokens)), ones, [g])
    assert metrics_table(m.result()).row_count == 3
    assert math.isfinite(m.result()[ALL]["loss"])


def test_context_only_positions_are_not_scored():
    """With the first step marked as context (`scored` False before the second [FRAME]), only what is
    predicted after it counts: the two later actions and level decisions, and the three frames after the
    first (frame 1 is predicted from frame 0 and the first action, both in view)."""
    tokens, offsets = window()
    pred = perfect(tokens)
    pred[: offsets[1]] = V.code(0)  # every prediction inside the first step is wrong
    ones = torch.ones(1, len(tokens), dtype=torch.bool)
    scored = ones.clone()
    scored[0, : offsets[1]] = False
    m = WMMetrics()
    m.update(tokens[None], logits_for(pred), ones, ["g"], scored)
    r = m.result()["games"]["g"]
    assert r["actions"] == 2 and r["frames"] == 3 and r["clicks"] == 1 and r["levels"] == 1
    assert r["action_type_acc"] == r["frame_acc"] == r["level_recall"] == 1.0
    assert r["perplexity"] == pytest.approx(1.0, abs=1e-3)
    assert score(tokens, pred)["action_type_acc"] == pytest.approx(2 / 3)  # all scored: the first step's type is wrong
