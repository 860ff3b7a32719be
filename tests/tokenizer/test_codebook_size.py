"""`train-vqvae --codebook-size` above 512: the token layout follows the codebook, checkpoints and
caches carry it, and a world model refuses a tokenizer of another layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.common.errors import CheckpointError
from aria_cli.data.token_cache import build_token_cache
from aria_cli.stack import check_stack
from aria_cli.tokenizer import model as vqvae
from aria_cli.tokenizer.train import TokenizerTrainConfig, train_vqvae
from aria_cli.vocab import LOC_NULL, Vocab, episode_tokens
from aria_cli.world_model.backbones import TinyArch
from aria_cli.world_model.model import WorldModel

TINY = dict(code_dim=8, channels=(8, 8, 16), context_channels=8, context_blocks=1, epochs=1, batch_size=8,
            lr=1e-2, min_steps_per_epoch=4, max_steps_per_epoch=4)  # fmt: skip
SMALL_WM = TinyArch(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, copy_heads=0)
runner = CliRunner()


def _train(recording_dir, checkpoints, codebook_size):
    train_vqvae(recording_dir, checkpoints, TokenizerTrainConfig(codebook_size=codebook_size, **TINY), device="cpu", quiet=True)
    return vqvae.load_tokenizer(checkpoints)


def test_the_default_layout_keeps_the_original_ids():
    for size in (2, 32, 512):  # up to 512 codes the layout has the seed's 512 code slots
        v = vqvae.VQVAEConfig(codebook_size=size).vocab(49152)
        assert (v.type0, v.frame, v.mask, v.size) == (49664, 49737, 49741, 49742)


def test_a_1024_code_tokenizer_round_trips_with_ids_after_its_codes(tmp_path, recording_dir):
    tok = _train(recording_dir, tmp_path / "ck", 1024)
    assert tok.config.codebook_size == 1024 and tok.codebook.shape[0] == 1024
    again = vqvae.load_tokenizer(tmp_path / "ck")  # saved and loaded: same codes, same pictures
    frames = np.random.default_rng(0).integers(0, 16, size=(3, 64, 64)).astype(np.uint8)
    codes = tok.encode(frames)
    assert np.array_equal(again.encode(frames), codes) and codes.max() < 1024
    assert np.array_equal(again.decode(codes), tok.decode(codes))
    v = again.vocab
    assert (v.n_codes, v.type0, v.loc0, v.frame, v.mask, v.n_special) == (1024, 1024, 1032, 1097, 1101, 1102)
    assert vqvae.tokenizer_vocab(tmp_path / "ck") == v
    tokens, offsets = episode_tokens(v, codes, np.array([1, 6]), np.array([LOC_NULL, 5]), np.array([False, False]))
    assert tokens[0] == v.game_start and tokens[offsets[0]] == v.frame
    assert np.array_equal(tokens[offsets[1] + 1 : offsets[1] + 65], codes[1])
    assert v.names(tokens[offsets[1] - 2 : offsets[1]]) == ["ACT_TYPE_1", "ACT_LOC_NULL"]


def test_the_token_cache_and_world_model_follow_the_tokenizers_layout(tmp_path, recording_dir):
    ck = tmp_path / "ck"
    _train(recording_dir, ck, 1024)
    cache = build_token_cache(recording_dir, ck)
    assert cache.n_codes == 1024 and cache.tokens.max() < cache.vocab.n_special
    assert build_token_cache(recording_dir, ck).reused and build_token_cache(recording_dir, ck).n_codes == 1024
    wm = WorldModel.create(arch=SMALL_WM, context_steps=2, n_codes=cache.n_codes)
    wm.save(tmp_path / "wm")
    loaded = WorldModel.load(tmp_path / "wm")
    assert loaded.config.n_codes == 1024 and loaded.vocab == Vocab(0, 1024)
    tokens = np.asarray(cache.episode_tokens(0)[: 1 + 69 + 65], dtype=np.int64)
    out = loaded(torch.as_tensor(tokens)[None])
    assert out.logits.shape[-1] == 1102 and torch.isfinite(out.loss)


def test_a_world_model_refuses_a_tokenizer_of_another_layout(tmp_path, recording_dir):
    ck = tmp_path / "ck"
    WorldModel.create(arch=SMALL_WM, context_steps=2).save(ck / "world_model" / "best")  # the 512-slot layout
    _train(recording_dir, ck, 1024)
    with pytest.raises(CheckpointError, match=r"512 code slots.*1024.*aria train-wm"):
        check_stack(ck, policy=False)
    with pytest.raises(CheckpointError, match="1024"):  # --force cannot help: the codes do not fit the model
        check_stack(ck, force=True)
    result = runner.invoke(app, ["train-policy", "--data", str(recording_dir), "--checkpoints", str(ck), "--device", "cpu"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "aria train-wm" in lines[0] and "world_model" in lines[0], result.output


def test_codebook_size_above_4096_is_refused_as_an_option(tmp_path, recording_dir):
    result = runner.invoke(app, ["train-vqvae", "--data", str(recording_dir), "--checkpoints", str(tmp_path),
                                 "--codebook-size", "4097"])  # fmt: skip
    assert result.exit_code != 0 and "--codebook-size" in result.output
    with pytest.raises(ValueError, match="4096"):
        vqvae.VQVAEConfig(codebook_size=4097)
