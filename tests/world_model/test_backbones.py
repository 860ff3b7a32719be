"""Backbones: the tiny preset, and the pretrained (SmolLM2) path exercised on tiny Llamas saved to disk."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.world_model import save_tiny_llama
from transformers import GPT2Config, GPT2LMHeadModel

from aria_cli.common.errors import AriaError
from aria_cli.vocab import DEFAULT_CODES, N_CELLS, Vocab
from aria_cli.world_model.backbones import (
    LoraSettings,
    TinyArch,
    build_pretrained,
    build_tiny,
    default_backbone,
    init_new_tokens,
)
from aria_cli.world_model.model import WorldModel

SMALL = TinyArch(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def trainable_names(model) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def test_tiny_is_the_cpu_default_and_smollm2_the_gpu_default():
    assert default_backbone("cpu") == "tiny"
    assert default_backbone("cuda") == "smollm2-360m"


def test_tiny_backbone_has_only_arias_vocabulary_and_trains_every_weight():
    bb = build_tiny(SMALL)
    assert bb.base == 0
    assert bb.model.get_input_embeddings().num_embeddings == Vocab().n_special
    assert all(p.requires_grad for p in bb.model.parameters())


def test_pretrained_backbone_gets_arias_tokens_after_its_own_vocabulary(tmp_path):
    bb = build_pretrained(str(save_tiny_llama(tmp_path / "llama", vocab_size=300)), LoraSettings(rank=4, alpha=8))
    assert bb.base == 300
    assert bb.vocab.code(0) == 300 and bb.vocab.mask == 300 + 589
    assert bb.model.get_input_embeddings().weight.shape[0] == 300 + Vocab().n_special


@pytest.mark.parametrize("tie", [True, False])
def test_pretrained_backbone_trains_only_lora_and_the_new_token_rows(tmp_path, tie):
    bb = build_pretrained(str(save_tiny_llama(tmp_path / "llama", tie=tie)), LoraSettings(rank=4, alpha=8))
    names = trainable_names(bb.model)
    assert names and all("lora_" in n or "trainable_tokens_delta" in n for n in names)
    assert sum("q_proj.lora_A" in n for n in names) == 2  # one per layer
    deltas = [n for n in names if "trainable_tokens_delta" in n]
    assert len(deltas) == (1 if tie else 2)  # an untied output head gets its own new rows


@pytest.mark.parametrize("tie", [True, False])
def test_training_leaves_the_backbones_own_embedding_rows_untouched(tmp_path, tie):
    src = save_tiny_llama(tmp_path / "llama", vocab_size=300, tie=tie)
    wm = WorldModel.create(str(src), lora=LoraSettings(rank=4, alpha=8))
    lm = wm.model.get_base_model()

    def base_rows():
        emb = lm.get_input_embeddings().token_adapter.base_layer.weight[:300].clone()
        head = lm.get_output_embeddings().token_adapter.base_layer.weight[:300].clone()
        return emb, head

    def effective_new_rows():
        x = torch.arange(Vocab().n_special)[None]
        return wm.embed(x).detach().clone()

    emb0, head0 = base_rows()
    new0 = effective_new_rows()
    opt = torch.optim.AdamW(wm.trainable_parameters(), lr=1e-2)
    x = torch.randint(0, Vocab().n_special, (2, 40))
    for _ in range(3):
        wm(x).loss.backward()
        opt.step()
        opt.zero_grad()
    emb1, head1 = base_rows()
    assert torch.equal(emb0, emb1) and torch.equal(head0, head1)
    assert not torch.allclose(new0, effective_new_rows())


def test_code_embeddings_start_from_the_codebook_and_locations_from_their_cells():
    bb = build_tiny(SMALL)
    codebook = torch.randn(DEFAULT_CODES, 8)
    codebook[1] = codebook[0]  # two identical code vectors get identical embeddings
    counts = np.zeros((N_CELLS, DEFAULT_CODES))
    counts[5, 3] = 10  # cell 5 always shows code 3
    init_new_tokens(bb, codebook, counts, seed=0)
    emb = bb.model.get_input_embeddings().weight.detach()
    v = Vocab(0)
    assert torch.allclose(emb[0], emb[1])
    assert not torch.allclose(emb[0], emb[2])
    loc5 = emb[v.act_loc(5)]
    others = emb[v.code0 : v.code0 + DEFAULT_CODES]
    assert torch.argmax(torch.nn.functional.cosine_similarity(others, loc5[None])) == 3


def test_a_missing_backbone_folder_is_a_one_line_error_that_says_how_to_fix_it(tmp_path):
    with pytest.raises(AriaError, match="--backbone tiny") as e:
        build_pretrained(str(tmp_path / "no-such-model"), LoraSettings())
    assert "no such folder" in str(e.value) and "\n" not in str(e.value)


def test_an_unreachable_hub_model_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(AriaError) as e:
        build_pretrained("smollm2-360m", LoraSettings())
    msg = str(e.value)
    assert "HuggingFaceTB/SmolLM2-360M" in msg and "offline" in msg and "--backbone tiny" in msg
    assert "\n" not in msg


def test_a_model_without_llama_attention_projections_is_rejected(tmp_path):
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100)).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(AriaError, match="not a Llama-family model") as e:
        build_pretrained(str(tmp_path / "gpt2"), LoraSettings())
    assert "\n" not in str(e.value)


def test_a_folder_that_is_not_a_model_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AriaError, match="cannot load a causal LM") as e:
        build_pretrained(str(tmp_path / "empty"), LoraSettings())
    assert "\n" not in str(e.value)


def test_a_fresh_tiny_model_already_predicts_the_previous_frame():
    """The copy heads: before any training, every code is predicted as the same cell one step back."""
    from helpers.world_model import rule_episode

    from aria_cli.vocab import episode_tokens
    from aria_cli.world_model.metrics import WMMetrics

    codes, types, locs, _ = rule_episode(12, seed=3)
    tokens, _ = episode_tokens(Vocab(0), codes, types, locs, np.zeros(len(types), dtype=bool))
    x = torch.from_numpy(tokens).long()[None]
    torch.manual_seed(0)
    wm = WorldModel.create("tiny", arch=SMALL).eval()
    m = WMMetrics()
    with torch.no_grad():
        m.update(x, wm.logits(x), torch.ones_like(x, dtype=torch.bool), ["g"])
    r = m.result()["games"]["g"]
    assert r["changed_cells"] > 0
    assert r["frame_acc"] == r["copy_frame_acc"]


def test_copy_heads_need_attention_biases():
    from aria_cli.world_model.backbones import init_copy_heads

    arch = TinyArch(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                    attention_bias=False, copy_heads=0)  # fmt: skip
    model = build_tiny(arch).model
    with pytest.raises(ValueError, match="attention_bias"):
        init_copy_heads(model, 1)
