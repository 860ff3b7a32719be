"""The decoder memory: training cells recalled by their codes' neighbourhood (aria_cli.tokenizer.memory)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aria_cli.common.errors import CheckpointError
from aria_cli.tokenizer import model as vqvae
from aria_cli.tokenizer.cells import cells_to_frames, frames_to_cells
from aria_cli.tokenizer.data import collect_frames
from aria_cli.tokenizer.memory import MEMORY_FILE, RADII, DecoderMemory, load_memory, neighbourhood_hashes
from aria_cli.tokenizer.train import TokenizerTrainConfig, train_vqvae
from aria_cli.training.checkpoints import METRICS_FILE

TINY = dict(codebook_size=32, code_dim=8, channels=(8, 8, 16), context_channels=8, context_blocks=1)


def contents(n: int) -> np.ndarray:
    """n distinct 8x8 cells: content i is filled with colour i % 16 and has its id written in its first row."""
    cells = np.zeros((n, 8, 8), np.uint8)
    for i in range(n):
        cells[i] = i % 16
        cells[i, 0, :4] = [(i >> s) & 15 for s in (0, 4, 8, 12)]
    return cells


def frame_codes(**cells: int) -> np.ndarray:
    """A frame's 64 codes: 0 everywhere but the given cells (c26=1 → cell 26 has code 1)."""
    codes = np.zeros(64, np.int64)
    for name, code in cells.items():
        codes[int(name[1:])] = code
    return codes


def test_a_code_that_stands_for_two_cells_is_told_apart_by_its_neighbours_and_new_surroundings_keep_the_network():
    # Code 7 at cell 27 stands for content 3 beside a code-1 cell and for content 4 beside a code-2 cell.
    codes = np.stack([frame_codes(c26=1, c27=7), frame_codes(c26=2, c27=7)])
    ids = np.zeros((2, 64), np.int64)
    ids[0, 26], ids[0, 27], ids[1, 26], ids[1, 27] = 1, 3, 2, 4
    cells = contents(5)
    memory = DecoderMemory.build(codes, ids, np.array([1, 1]), cells, "m")
    network = np.full((3, 64, 64), 15, np.uint8)  # what a poor decoder gives: every pixel wrong
    queries = np.stack([frame_codes(c26=1, c27=7), frame_codes(c26=2, c27=7), frame_codes(c26=5, c27=7)])
    out = frames_to_cells(memory.recall(queries, network)).reshape(3, 64, 8, 8)
    np.testing.assert_array_equal(out[0, 27], cells[3])
    np.testing.assert_array_equal(out[1, 27], cells[4])
    np.testing.assert_array_equal(out[0, 26], cells[1])
    # Code 5 was never seen: no window holding it was either, so cells 26 and 27 keep the network's pixels,
    # while the background far from them is recalled.
    assert (out[2, 26] == 15).all() and (out[2, 27] == 15).all()
    np.testing.assert_array_equal(out[2, 0], cells[0])


def test_one_neighbourhood_with_several_contents_recalls_the_most_frequent():
    codes = np.stack([frame_codes(c27=7), frame_codes(c27=7)])
    ids = np.zeros((2, 64), np.int64)
    ids[0, 27], ids[1, 27] = 1, 2
    for counts, expected in (([3, 1], 1), ([1, 3], 2)):
        memory = DecoderMemory.build(codes, ids, np.array(counts), contents(3), "m")
        out = frames_to_cells(memory.recall(codes[:1], np.zeros((1, 64, 64), np.uint8)))
        np.testing.assert_array_equal(out[27], contents(3)[expected])


def _recall_by_hand(train_codes, train_ids, counts, queries, network):
    """The memory's rule written plainly: per radius a dict window → weight per content, widest window first."""
    def window(codes, cell, r):
        g = np.pad(codes.reshape(8, 8) + 1, r)
        y, x = divmod(cell, 8)
        return tuple(g[y : y + 2 * r + 1, x : x + 2 * r + 1].ravel())

    tables = {}
    for r in RADII:
        seen: dict[tuple, dict[int, float]] = {}
        for f in range(len(train_codes)):
            for c in range(64):
                w = seen.setdefault(window(train_codes[f], c, r), {})
                w[train_ids[f, c]] = w.get(train_ids[f, c], 0) + counts[f]
        tables[r] = {k: min(v, key=lambda i: (-v[i], i)) for k, v in seen.items()}
    out = frames_to_cells(network.copy()).reshape(len(queries), 64, 8, 8)
    for f in range(len(queries)):
        for c in range(64):
            for r in sorted(RADII, reverse=True):
                hit = tables[r].get(window(queries[f], c, r))
                if hit is not None:
                    out[f, c] = contents(int(train_ids.max()) + 1)[hit]
                    break
    return cells_to_frames(out.reshape(-1, 8, 8))


def test_the_stored_tables_recall_what_every_window_of_training_held():
    # Few codes, so windows repeat and disagree; entries the next smaller window recalls alike are left out of
    # the file, which must not change a single recalled cell.
    rng = np.random.default_rng(0)
    train_codes = rng.integers(0, 3, (12, 64))
    train_ids = (train_codes + 3 * np.roll(train_codes, 1, axis=1) + rng.integers(0, 2, (12, 64))) % 20
    counts = rng.integers(1, 4, 12)
    queries = np.concatenate([train_codes[:4], rng.integers(0, 3, (4, 64))])
    queries[5, 9] = 4  # a code training never had
    network = rng.integers(0, 16, (8, 64, 64)).astype(np.uint8)
    memory = DecoderMemory.build(train_codes, train_ids, counts, contents(20), "m")
    assert memory.entries < sum(len(np.unique(neighbourhood_hashes(train_codes, r))) for r in RADII)  # some left out
    np.testing.assert_array_equal(memory.recall(queries, network),
                                  _recall_by_hand(train_codes, train_ids, counts, queries, network))  # fmt: skip


def _saved_tiny_model(d, seed=0):
    torch.manual_seed(seed)
    vqvae.save_model(vqvae.VQVAE(vqvae.VQVAEConfig(**TINY)), d)
    return vqvae.load_model(d)[1]


def test_a_saved_memory_is_loaded_with_its_model_and_decoding_uses_it(tmp_path):
    d = tmp_path / "ck" / "vqvae"
    fingerprint = _saved_tiny_model(d)
    frames = np.full((1, 64, 64), 2, np.uint8)
    frames[0, 8:16, 8:16] = 7
    tok = vqvae.load_tokenizer(tmp_path / "ck")
    codes = tok.encode(frames)
    assert tok.model.memory is None and not (tok.decode(codes) == frames).all()  # an untrained decoder
    ids = np.zeros((1, 64), np.int64)
    ids[0, 9] = 1  # cell 9 is pixels [8:16, 8:16]
    cells = np.stack([np.full((8, 8), 2, np.uint8), np.full((8, 8), 7, np.uint8)])
    DecoderMemory.build(codes, ids, np.array([1]), cells, fingerprint).save(d / MEMORY_FILE)
    tok = vqvae.load_tokenizer(tmp_path / "ck")
    assert tok.model.memory is not None and tok.fingerprint == fingerprint  # the memory leaves the fingerprint alone
    np.testing.assert_array_equal(tok.decode(codes), frames)


def test_a_memory_of_another_model_or_a_damaged_one_is_refused_in_one_line(tmp_path):
    d = tmp_path / "vqvae"
    _saved_tiny_model(d)
    DecoderMemory.build(np.zeros((1, 64), np.int64), np.zeros((1, 64), np.int64), np.array([1]), contents(1),
                        "another model").save(d / MEMORY_FILE)  # fmt: skip
    with pytest.raises(CheckpointError, match="memory.safetensors: built for another tokenizer model") as e:
        vqvae.load_model(d)
    assert "\n" not in str(e.value)
    (d / MEMORY_FILE).write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="memory.safetensors: not a decoder memory"):
        vqvae.load_model(d)
    assert load_memory(tmp_path / "absent.safetensors", "x") is None


def test_training_builds_the_memory_reports_the_decoder_alone_and_a_new_run_drops_the_old_memory(tmp_path, recording_dir):
    cfg = TokenizerTrainConfig(**TINY, epochs=2, batch_size=8, min_steps_per_epoch=8, max_steps_per_epoch=8)
    ck = tmp_path / "ck"
    metrics = train_vqvae(recording_dir, ck, cfg, quiet=True).metrics
    d = vqvae.vqvae_dir(ck)
    assert (d / MEMORY_FILE).is_file() and metrics["decoder_memory_entries"] > 0
    assert json.loads((d / METRICS_FILE).read_text())["val_frame_exact_network"] == metrics["val_frame_exact_network"]
    # Every training cell whose widest window held that content alone decodes exactly, whatever the network learned.
    tok = vqvae.load_tokenizer(ck)
    train = collect_frames(recording_dir).train.frames
    codes = tok.encode(train)
    windows = neighbourhood_hashes(codes, max(RADII)).tolist()
    ids = np.unique(frames_to_cells(train).reshape(len(windows), 64), axis=0, return_inverse=True)[1].ravel().tolist()
    held: dict[int, set] = {}
    for w, i in zip(windows, ids, strict=True):
        held.setdefault(w, set()).add(i)
    sure = np.array([len(held[w]) == 1 for w in windows])
    right = (frames_to_cells(tok.decode(codes)) == frames_to_cells(train)).all(axis=(1, 2))
    assert sure.mean() > 0.5 and right[sure].all()
    assert metrics["train_frame_exact_network"] <= metrics["train_frame_exact_ceiling"]
    train_vqvae(recording_dir, ck, TokenizerTrainConfig(**{**cfg.__dict__, "decoder_memory": False}), quiet=True)
    assert not (d / MEMORY_FILE).exists() and vqvae.load_tokenizer(ck).model.memory is None
