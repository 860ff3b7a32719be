"""The tokenizer's reconstruction metrics on frames with known errors (expected numbers worked out by hand)."""

import numpy as np
import pytest

from aria_cli.tokenizer import scores
from aria_cli.tokenizer.scores import (
    background_colours,
    cell_pixel_acc,
    cells_new_share,
    reconstruction_scores,
)


def _frames() -> tuple[np.ndarray, np.ndarray]:
    """Two 4x4 frames and their reconstructions.

    Frame 0: background 0, a 2x2 sprite of colour 3 (4 non-background pixels); the decoder gets one
    sprite pixel and one background pixel wrong. Frame 1: background 7, one pixel of colour 2; decoded
    exactly.
    """
    true = np.zeros((2, 4, 4), np.uint8)
    true[0, 1:3, 1:3] = 3
    true[1] = 7
    true[1, 0, 0] = 2
    decoded = true.copy()
    decoded[0, 1, 1] = 0  # a sprite pixel lost to the background
    decoded[0, 3, 3] = 5  # a background pixel painted
    return true, decoded


def test_background_is_each_frames_most_common_colour():
    true, _ = _frames()
    assert background_colours(true).tolist() == [0, 7]


def test_scores_on_frames_with_known_errors():
    true, decoded = _frames()
    s = reconstruction_scores(decoded, true)
    assert s.pixel_acc == pytest.approx(1 - 2 / 32)  # 2 wrong of 2 x 16 pixels
    assert s.frame_exact == pytest.approx(1 / 2)
    assert s.foreground_acc == pytest.approx(1 - 1 / 5)  # 4 + 1 non-background pixels, 1 wrong
    assert s.wrong_per_frame.tolist() == [2, 0]


def test_frame_counts_weight_every_score():
    true, decoded = _frames()
    s = reconstruction_scores(decoded, true, counts=np.array([3, 1]))
    assert s.pixel_acc == pytest.approx(1 - 6 / 64)
    assert s.frame_exact == pytest.approx(1 / 4)
    assert s.foreground_acc == pytest.approx(1 - 3 / 13)  # 3 x 4 + 1 non-background pixels, 3 wrong


def test_scores_in_chunks_add_up_to_the_scores_of_the_whole_set(monkeypatch):
    """Big sets are scored a chunk of frames at a time (bounded memory): the chunks' sums are the set's."""
    true, decoded = _frames()
    true, decoded, counts = np.tile(true, (5, 1, 1)), np.tile(decoded, (5, 1, 1)), np.arange(1, 11)
    whole = reconstruction_scores(decoded, true, counts)
    monkeypatch.setattr(scores, "CHUNK", 3)  # 10 frames in chunks of 3, 3, 3 and 1
    chunked = reconstruction_scores(decoded, true, counts)
    assert (chunked.pixel_acc, chunked.frame_exact, chunked.foreground_acc) == (whole.pixel_acc, whole.frame_exact, whole.foreground_acc)
    assert chunked.wrong_per_frame.tolist() == [2, 0] * 5
    assert background_colours(true).tolist() == [0, 7] * 5
    assert whole.frame_exact == pytest.approx((2 + 4 + 6 + 8 + 10) / 55)  # the second frame of each pair is exact


def test_a_plain_frame_has_no_non_background_pixels_to_score():
    plain = np.full((1, 4, 4), 2, np.uint8)
    assert reconstruction_scores(plain, plain).foreground_acc is None


def test_cells_new_to_training_count_their_occurrences():
    # val cells with ids 1 (seen, 6 occurrences) and 9 (new, 2 occurrences)
    assert cells_new_share(np.array([0, 1, 2]), np.array([1, 9]), np.array([6, 2])) == pytest.approx(2 / 8)


def test_cell_accuracy_counts_only_the_chosen_cells():
    # Two 16x16 frames (4 cells each, token order: top-left, top-right, bottom-left, bottom-right).
    true = np.zeros((2, 16, 16), np.uint8)
    decoded = true.copy()
    decoded[0, 0:2, 0:2] = 1  # 4 wrong pixels in frame 0's cell 0
    decoded[0, 12, 12] = 1  # 1 in its cell 3
    decoded[1, 0, 8] = 1  # 1 in frame 1's cell 1
    every = np.ones((2, 4), bool)
    assert cell_pixel_acc(decoded, true, np.array([1, 1]), every) == pytest.approx(1 - 6 / 512)
    cells = np.array([[False, True, True, True], [True, False, True, True]])  # leave out the cells 4 and 1 are in
    assert cell_pixel_acc(decoded, true, np.array([1, 1]), cells) == pytest.approx(1 - 1 / 384)
    assert cell_pixel_acc(decoded, true, np.array([3, 1]), cells) == pytest.approx(1 - 3 / (64 * 12))
    assert cell_pixel_acc(decoded, true, np.array([1, 1]), np.zeros((2, 4), bool)) is None


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="same"):
        reconstruction_scores(np.zeros((1, 4, 4)), np.zeros((2, 4, 4)))


def test_foreground_weight_weighs_the_pixels_unlike_their_frames_background():
    import torch

    from aria_cli.tokenizer.model import pixel_weights as _pixel_weights

    true, _ = _frames()
    w = _pixel_weights(torch.from_numpy(true), 4.0).reshape(true.shape).numpy()
    assert w[0, 1:3, 1:3].tolist() == [[4.0, 4.0], [4.0, 4.0]] and w[0].sum() == 12 + 4 * 4
    assert w[1, 0, 0] == 4.0 and w[1].sum() == 15 + 4
    assert _pixel_weights(torch.from_numpy(true), 1.0) is None  # off: plain mean, as before


def test_code_ambiguity_counts_the_cells_no_decoder_can_tell_apart():
    from aria_cli.tokenizer.scores import code_ambiguity

    a = np.array([[0, 1], [2, 3]])
    # Frame B has A's codes but another content at the last cell: from these codes its content can
    # only be guessed, and the more common frame A's wins.
    codes = np.stack([a, a])
    cells = np.array([[10, 11, 12, 13], [10, 11, 12, 14]])
    counts = np.array([3, 1])
    amb = code_ambiguity(codes, cells, counts, radius=1)
    assert amb.cells == 1 / 16 and amb.frames_exact_ceiling == 3 / 4
    # Another code at the first cell sets B's neighbourhood apart, but only for a decoder that reaches it.
    b = np.array([[5, 1], [2, 3]])
    codes = np.stack([a, b])
    assert code_ambiguity(codes, cells, counts, radius=1).cells == 0.0
    assert code_ambiguity(codes, cells, counts, radius=0).cells == 1 / 16
    # Equal counts: one of the two contents is still wrong.
    tie = code_ambiguity(np.stack([a, a]), cells, np.array([1, 1]), radius=1)
    assert tie.cells == 1 / 8 and tie.frames_exact_ceiling == 1 / 2
