"""The token layout matches docs/DESIGN.md §3 exactly."""

import numpy as np
import pytest

from aria_cli.vocab import (
    LOC_NULL,
    N_SPECIAL,
    STEP_TOKENS,
    Vocab,
    cell_to_pixel,
    episode_tokens,
    mask_actions,
    pixel_to_cell,
)


def test_ids_at_smollm2_base_match_the_design_table():
    v = Vocab(base=49152)
    assert (v.code(0), v.code(511)) == (49152, 49663)
    assert (v.act_type(0), v.act_type(7)) == (49664, 49671)
    assert (v.act_loc(0), v.act_loc(63), v.act_loc(LOC_NULL)) == (49672, 49735, 49736)
    assert (v.frame, v.act, v.level_complete, v.game_start, v.mask) == (49737, 49738, 49739, 49740, 49741)
    assert v.size == 49742


def test_tiny_base_starts_at_zero_and_has_590_tokens():
    v = Vocab(base=0)
    assert v.code(0) == 0 and v.mask == 589 and v.size == N_SPECIAL == 590


@pytest.mark.parametrize("x,y,cell", [(0, 0, 0), (7, 7, 0), (8, 0, 1), (63, 63, 63), (4, 60, 56), (33, 17, 20)])
def test_pixel_to_cell(x, y, cell):
    assert pixel_to_cell(x, y) == cell


def test_cell_to_pixel_is_the_cell_centre_and_round_trips():
    assert cell_to_pixel(0) == (4, 4)
    assert cell_to_pixel(63) == (60, 60)
    for c in range(64):
        assert pixel_to_cell(*cell_to_pixel(c)) == c


def _episode(n_actions, level_at=()):
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 512, size=(n_actions + 1, 64))
    types = rng.integers(0, 8, size=n_actions)
    locs = np.where(types == 6, rng.integers(0, 64, size=n_actions), LOC_NULL)
    level = np.zeros(n_actions, dtype=bool)
    level[list(level_at)] = True
    return codes, types, locs, level


def test_an_episode_is_game_start_then_69_tokens_per_step_then_the_final_frame():
    v = Vocab(base=49152)
    codes, types, locs, level = _episode(5)
    tokens, offsets = episode_tokens(v, codes, types, locs, level)
    assert tokens[0] == v.game_start
    assert len(tokens) == 1 + 5 * STEP_TOKENS + 65
    assert np.all(np.diff(offsets) == STEP_TOKENS)
    step = tokens[offsets[2] : offsets[3]]
    assert step[0] == v.frame and list(step[1:65]) == list(v.base + codes[2])
    assert list(step[65:]) == [v.act, v.act_type(types[2]), v.act_loc(locs[2])]


def test_level_complete_follows_the_action_that_completed_the_level():
    v = Vocab(base=0)
    codes, types, locs, level = _episode(4, level_at=[1])
    tokens, offsets = episode_tokens(v, codes, types, locs, level)
    step1 = tokens[offsets[1] : offsets[2]]
    assert len(step1) == STEP_TOKENS + 1
    assert v.names(step1[-4:]) == ["ACT", f"ACT_TYPE_{types[1]}", v.name(v.act_loc(locs[1])), "LEVEL_COMPLETE"]
    assert (tokens == v.level_complete).sum() == 1


def test_names_decode_every_kind_of_token():
    v = Vocab(base=49152)
    assert v.names([49152, 49663, 49670, 49736, 49737, 49739, 49741, 5]) == [
        "VQ_0", "VQ_511", "ACT_TYPE_6", "ACT_LOC_NULL", "FRAME", "LEVEL_COMPLETE", "MASK", "<backbone:5>",
    ]


def test_masked_context_contains_no_action_tokens():
    v = Vocab(base=49152)
    codes, types, locs, level = _episode(6, level_at=[2])
    tokens, _ = episode_tokens(v, codes, types, locs, level)
    masked = mask_actions(v, tokens)
    assert not v.is_action_token(masked).any()
    assert (masked == v.mask).sum() == 6 * 3
    keep = ~v.is_action_token(tokens)
    assert np.array_equal(masked[keep], tokens[keep])


def test_episode_tokens_rejects_misaligned_actions():
    codes, types, locs, level = _episode(3)
    with pytest.raises(ValueError):
        episode_tokens(Vocab(), codes[:-1], types, locs, level)
