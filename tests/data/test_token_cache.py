"""`aria tokenize`: recordings → token trajectories, cached, rebuilt by itself, never stale."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.recordings import write_recording
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.common.errors import AriaError, RecordingError
from aria_cli.data import token_cache
from aria_cli.data.recordings import read_recording
from aria_cli.data.splits import assign_split
from aria_cli.data.token_cache import build_token_cache
from aria_cli.tokenizer import model as vqvae
from aria_cli.vocab import FRAME_TOKENS, Vocab, click_point, point_pixel

runner = CliRunner()


def save_tokenizer(checkpoints: Path, seed: int = 0) -> None:
    torch.manual_seed(seed)
    model = vqvae.VQVAE(vqvae.VQVAEConfig(codebook_size=32, code_dim=8, channels=(8, 8, 16), context_channels=8, context_blocks=1))
    vqvae.save_model(model, vqvae.vqvae_dir(checkpoints))


@pytest.fixture
def ck(tmp_path) -> Path:
    save_tokenizer(tmp_path / "ck")
    return tmp_path / "ck"


# --------------------------------------------------------------------------- contents
def test_each_recording_becomes_one_episode_in_the_token_layout(recording_dir, ck):
    cache = build_token_cache(recording_dir, ck)
    v = Vocab(base=0)
    assert len(cache.episodes) == 6 and cache.tokens.dtype == np.int32
    e = cache.episodes[0]
    rec = read_recording(recording_dir / e.file)
    tokens = cache.episode_tokens(0)
    assert tokens[0] == v.game_start and len(tokens) == e.end - e.start
    assert (tokens[e.frame_offsets] == v.frame).all() and e.n_frames == len(rec.steps) == e.n_actions + 1
    codes = vqvae.load_tokenizer(ck).encode(np.stack([s.frame for s in rec.steps]))
    assert np.array_equal(tokens[e.frame_offsets[:, None] + 1 + np.arange(64)], codes)
    assert tokens[e.frame_offsets[0] + FRAME_TOKENS] == v.act


def test_each_click_keeps_its_pixel_inside_the_cell_beside_the_tokens(recording_dir, ck):
    cache = build_token_cache(recording_dir, ck)
    again = build_token_cache(recording_dir, ck)  # read back from the files
    assert again.reused
    for e, back in zip(cache.episodes, again.episodes, strict=True):
        rec = read_recording(recording_dir / e.file)
        actions = rec.steps[1:]  # the step after each frame carries the action taken from it
        want = [click_point(s.x, s.y) if s.x is not None else -1 for s in actions]
        assert e.click_points.tolist() == back.click_points.tolist() == want
        assert any(p >= 0 for p in want) and len(want) == e.n_actions
        locs = cache.episode_tokens(cache.episodes.index(e))[np.asarray(e.frame_offsets[:-1]) + FRAME_TOKENS + 2]
        for s, loc, p in zip(actions, locs - Vocab().loc0, want, strict=True):
            if p >= 0:  # the point and the LOC token together give the pixel back
                assert point_pixel(int(loc), p) == (s.x, s.y)


def test_episode_index_describes_each_recording(recording_dir, ck):
    cache = build_token_cache(recording_dir, ck)
    split = assign_split((e.file, e.game) for e in cache.episodes)
    for e in cache.episodes:
        assert e.file.startswith(e.game + "/") and e.split == split[e.file]
        assert e.levels_completed == 3  # write_recording: a level every 7 of 24 steps
        assert set(e.action_types) <= {1, 2, 3, 4, 6} and 6 in e.action_types
        assert all(0 <= c < 64 for c in e.click_cells)
    assert cache.games() == ["tsta", "tstb"]
    assert sorted(cache.split("train") + cache.split("val")) == list(range(6))


# --------------------------------------------------------------------------- never stale
def test_unchanged_inputs_reuse_the_cache_without_encoding(recording_dir, ck):
    first = build_token_cache(recording_dir, ck)
    assert len(first.encoded_files) == 6
    stamp = (ck / "world_model" / "cache" / "index.json").stat().st_mtime_ns
    again = build_token_cache(recording_dir, ck)
    assert again.reused and again.encoded_files == []
    assert again.fingerprint == first.fingerprint and np.array_equal(again.tokens, first.tokens)
    assert (ck / "world_model" / "cache" / "index.json").stat().st_mtime_ns == stamp


def test_a_changed_file_is_the_only_one_encoded_again(recording_dir, ck):
    first = build_token_cache(recording_dir, ck)
    write_recording(recording_dir / "tsta" / "ep1.jsonl", n_steps=30, game_id="tsta-0001", seed=99)
    again = build_token_cache(recording_dir, ck)
    assert not again.reused and again.encoded_files == ["tsta/ep1.jsonl"]
    assert again.fingerprint != first.fingerprint
    assert again.episodes[1].n_actions == 30


def test_content_change_with_the_same_size_and_time_is_noticed(recording_dir, ck):
    build_token_cache(recording_dir, ck)
    path = recording_dir / "tstb" / "ep2.jsonl"
    st = path.stat()
    raw = path.read_bytes()
    i = raw.index(b'"ACTION1"') if b'"ACTION1"' in raw else raw.index(b'"ACTION2"')
    swapped = raw[:i] + (b'"ACTION3"' if raw[i + 8 : i + 9] != b"3" else b'"ACTION4"') + raw[i + 9 :]
    assert len(swapped) == len(raw) and swapped != raw
    path.write_bytes(swapped)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = build_token_cache(recording_dir, ck)
    assert again.encoded_files == ["tstb/ep2.jsonl"]


def test_a_new_tokenizer_encodes_everything_again(recording_dir, ck):
    first = build_token_cache(recording_dir, ck)
    save_tokenizer(ck, seed=1)
    again = build_token_cache(recording_dir, ck)
    assert len(again.encoded_files) == 6 and again.fingerprint != first.fingerprint


def test_a_new_vocabulary_version_rebuilds(recording_dir, ck, monkeypatch):
    first = build_token_cache(recording_dir, ck)
    monkeypatch.setattr(token_cache, "VOCAB_VERSION", 999)
    again = build_token_cache(recording_dir, ck)
    assert again.fingerprint != first.fingerprint and len(again.encoded_files) == 6


def test_added_and_removed_files_rebuild_without_encoding_the_others(recording_dir, ck):
    build_token_cache(recording_dir, ck)
    (recording_dir / "tsta" / "ep0.jsonl").unlink()
    write_recording(recording_dir / "tstc" / "ep0.jsonl", n_steps=10, game_id="tstc-0003")
    again = build_token_cache(recording_dir, ck)
    assert again.encoded_files == ["tstc/ep0.jsonl"]
    assert sorted(e.file for e in again.episodes) == sorted(
        ["tsta/ep1.jsonl", "tsta/ep2.jsonl", "tstb/ep0.jsonl", "tstb/ep1.jsonl", "tstb/ep2.jsonl", "tstc/ep0.jsonl"]
    )


def test_a_damaged_cache_is_rebuilt_from_the_stored_entries(recording_dir, ck):
    first = build_token_cache(recording_dir, ck)
    (ck / "world_model" / "cache" / "index.json").write_text("{ half written")
    again = build_token_cache(recording_dir, ck)
    assert not again.reused and again.encoded_files == []
    assert np.array_equal(again.tokens, first.tokens)


def test_the_cache_is_compact_arrays_and_a_json_index(recording_dir, ck):
    cache = build_token_cache(recording_dir, ck)
    index = json.loads((cache.path / "index.json").read_text())
    assert index["fingerprint"] == cache.fingerprint and len(index["episodes"]) == 6
    assert np.array_equal(np.load(cache.path / index["tokens"]), cache.tokens)
    with np.load(cache.path / index["arrays"], allow_pickle=False) as z:
        assert np.array_equal(z["frame_offsets"], np.concatenate([e.frame_offsets for e in cache.episodes]))
    assert sorted(f.name for f in cache.path.glob("cache-*")) == sorted([index["arrays"], index["tokens"]])


def _in_memory_tokens(cache) -> np.ndarray:
    """The tokens straight from each file's stored entry, concatenated in memory."""
    entries = cache.path / "entries"
    return np.concatenate([np.load(next(entries.glob(f"*/{e.content_hash}.npz")))["tokens"] for e in cache.episodes])


def test_the_tokens_are_memory_mapped_read_only_and_equal_to_the_encoded_ones(recording_dir, ck):
    built = build_token_cache(recording_dir, ck)
    reloaded = build_token_cache(recording_dir, ck)
    assert reloaded.reused and not built.reused
    for cache in (built, reloaded):  # freshly built or reused: both read the file, not a copy in memory
        assert isinstance(cache.tokens, np.memmap) and not cache.tokens.flags.writeable
        assert cache.tokens.dtype == np.int32 and np.array_equal(cache.tokens, _in_memory_tokens(cache))
    assert len(reloaded.tokens) == reloaded.n_tokens == reloaded.episodes[-1].end


def test_a_crash_between_the_arrays_and_the_index_leaves_the_previous_cache(recording_dir, ck, monkeypatch):
    first = build_token_cache(recording_dir, ck)
    path = recording_dir / "tsta" / "ep1.jsonl"
    original = path.read_bytes()
    write_recording(path, n_steps=30, game_id="tsta-0001", seed=99)

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt  # killed after the new arrays were written, before the index commits them

    with monkeypatch.context() as m:
        m.setattr(token_cache.atomic, "write_json", crash)
        with pytest.raises(KeyboardInterrupt):
            build_token_cache(recording_dir, ck)
    assert len(list(first.path.glob("cache-*.tokens.npy"))) == 2  # the new tokens are there, not committed
    path.write_bytes(original)
    again = build_token_cache(recording_dir, ck)
    assert again.reused and again.encoded_files == []  # the previous cache, whole
    assert np.array_equal(again.tokens, first.tokens) and np.array_equal(again.tokens, _in_memory_tokens(again))
    write_recording(path, n_steps=30, game_id="tsta-0001", seed=99)
    rebuilt = build_token_cache(recording_dir, ck)  # its commit removes the orphans
    assert rebuilt.encoded_files == [] and len(list(first.path.glob("cache-*"))) == 2


def test_a_cache_whose_tokens_file_is_cut_short_is_rebuilt(recording_dir, ck):
    first = build_token_cache(recording_dir, ck)
    tokens_file = next(first.path.glob("cache-*.tokens.npy"))
    del first
    raw = tokens_file.read_bytes()
    tokens_file.write_bytes(raw[: len(raw) // 2])
    again = build_token_cache(recording_dir, ck)
    assert not again.reused and again.encoded_files == []
    assert np.array_equal(again.tokens, _in_memory_tokens(again))


# --------------------------------------------------------------------------- bad input
def test_no_tokenizer_says_to_run_train_vqvae(recording_dir, tmp_path):
    with pytest.raises(AriaError, match="aria train-vqvae"):
        build_token_cache(recording_dir, tmp_path / "none")


def test_a_bad_line_is_reported_as_the_reader_reports_it(recording_dir, ck):
    path = recording_dir / "tsta" / "ep2.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + ["{not json"] + lines[3:]) + "\n")
    with pytest.raises(RecordingError, match="ep2.jsonl:4"):
        build_token_cache(recording_dir, ck)
    cache = build_token_cache(recording_dir, ck, skip_bad=True)
    assert next(e for e in cache.episodes if e.file == "tsta/ep2.jsonl").bad_lines == 1
    with pytest.raises(RecordingError, match="ep2.jsonl:4"):  # a cache built with --skip-bad does not hide it
        build_token_cache(recording_dir, ck)


# --------------------------------------------------------------------------- command line
def test_tokenize_prints_a_per_game_table(recording_dir, ck):
    args = ["tokenize", "--data", str(recording_dir), "--checkpoints", str(ck), "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for text in ("tsta", "tstb", "click cells", "of 64", "rebuilt, 6 of 6 files encoded"):
        assert text in result.output
    cache = build_token_cache(recording_dir, ck)
    size = sum(f.stat().st_size for f in [cache.path / "index.json", *cache.path.glob("cache-*")])
    built = re.search(r"encoded 150 frames of 6 files in ([\d.]+) s \(([\d,]+) frames/s\); ([\d,]+) tokens, ([\d.]+) MB", result.output)
    assert built, result.output  # 6 recordings of 25 frames
    assert int(built[3].replace(",", "")) == cache.n_tokens and float(built[4]) == round(size / 1e6, 1)
    seconds, rate = float(built[1]), int(built[2].replace(",", ""))
    assert 150 / (seconds + 0.05) <= rate + 1 and (seconds < 0.05 or rate <= 150 / (seconds - 0.05) + 1)
    again = runner.invoke(app, args).output
    assert "up to date, reused" in again and f"reused the token cache ({cache.n_tokens:,} tokens" in again


def test_tokenize_without_tokenizer_is_one_line(recording_dir, tmp_path):
    result = runner.invoke(app, ["tokenize", "--data", str(recording_dir), "--checkpoints", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "aria train-vqvae" in result.output
