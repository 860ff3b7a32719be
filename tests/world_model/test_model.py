"""The WorldModel: loss weights per target role, save/load, KV-cached stepping, the LoRA (SmolLM2) path."""

from __future__ import annotations

import pytest
import torch
from helpers.world_model import rule_episode, save_tiny_llama

from aria_cli.common.errors import CheckpointError
from aria_cli.vocab import CLICK, N_CELLS, N_CODES, N_SPECIAL, Vocab, episode_tokens
from aria_cli.world_model.backbones import LoraSettings, TinyArch
from aria_cli.world_model.model import (
    ADAPTER_FILE,
    MODEL_FILE,
    LossWeights,
    WorldModel,
    cell_index,
    target_weights,
)

SMALL = TinyArch(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
V = Vocab(0)


def episode(n_actions: int = 6, seed: int = 0) -> torch.Tensor:
    codes, types, locs, level = rule_episode(n_actions, seed)
    return torch.from_numpy(episode_tokens(V, codes, types, locs, level)[0]).long()


def train_steps(wm: WorldModel, tokens: torch.Tensor, n: int = 3) -> None:
    opt = torch.optim.AdamW(wm.trainable_parameters(), lr=1e-2)
    for _ in range(n):
        out = wm(tokens[None])
        out.loss.backward()
        opt.step()
        opt.zero_grad()


def test_loss_weights_follow_the_role_of_the_target_token():
    lc_step = [V.frame, V.code(3), V.act, V.act_type(CLICK), V.act_loc(5), V.level_complete, V.frame, V.code(4)]
    tokens = torch.tensor([V.game_start, *lc_step, V.act, V.act_type(1), V.act_loc(64), V.frame])
    w = target_weights(tokens[:-1], tokens[1:])
    lw = LossWeights()
    expected = [
        0.0,  # GAME_START → FRAME: fixed by the layout
        lw.vq,  # → code
        0.0,  # → ACT after the codes: fixed
        lw.act_type,
        lw.act_loc,
        lw.level,  # → LEVEL_COMPLETE after an action
        0.0,  # → FRAME after LEVEL_COMPLETE: fixed
        lw.vq,
        0.0,
        lw.act_type,
        lw.act_loc,
        lw.no_level,  # → FRAME straight after an action: the "no level" outcome
    ]
    assert w.tolist() == expected


def test_padding_after_a_window_does_not_change_its_loss():
    torch.manual_seed(0)
    wm = WorldModel.create("tiny", arch=SMALL).eval()  # no dropout
    x = episode(3)
    padded = torch.cat([x, torch.zeros(40, dtype=torch.long)])[None]
    valid = torch.zeros_like(padded, dtype=torch.bool)
    valid[0, : len(x)] = True
    assert torch.allclose(wm(x[None]).loss, wm(padded, valid).loss, atol=1e-6)


def test_logits_cover_exactly_arias_tokens():
    wm = WorldModel.create("tiny", arch=SMALL)
    assert wm.logits(episode(2)[None]).shape[-1] == N_SPECIAL


def test_kv_cached_steps_give_the_same_logits_as_one_full_forward():
    wm = WorldModel.create("tiny", arch=SMALL).eval()
    torch.nn.init.normal_(wm.cell_embedding.weight)  # as if trained: stepping must track each code's cell
    torch.nn.init.normal_(wm.loc_pointer.query.weight)  # ... and each frame's code states for the pointer
    x = episode(4)
    full = wm.logits(x[None])
    state = wm.prefill(x[:50])
    pieces = [state.logits[:, None]]
    for a, b in [(50, 51), (51, 120), (120, len(x))]:
        logits, state = wm.extend(state, x[a:b])
        pieces.append(logits)
    stepped = torch.cat(pieces, dim=1)  # positions 49 (the last of the prefill) to the end
    assert state.length == len(x)
    assert torch.allclose(stepped, full[:, 49:], atol=1e-5)


@pytest.mark.parametrize("backbone", ["tiny", "saved llama + lora"])
def test_contexts_of_different_lengths_step_as_one_left_padded_batch_with_their_own_logits(backbone, tmp_path):
    if backbone == "tiny":
        wm = WorldModel.create("tiny", arch=SMALL).eval()
    else:
        src = save_tiny_llama(tmp_path / "llama", vocab_size=300)
        wm = WorldModel.create(str(src), lora=LoraSettings(rank=4, alpha=8), codebook=torch.randn(512, 8)).eval()
        torch.nn.init.normal_(wm.model.base_model.model.model.layers[0].self_attn.q_proj.lora_B.default.weight)
    torch.nn.init.normal_(wm.cell_embedding.weight)
    torch.nn.init.normal_(wm.loc_pointer.query.weight)
    x = episode(5)
    ends = torch.nonzero(x == V.frame).flatten()[[2, 4, 1]].tolist()  # contexts that end after an action
    after = torch.tensor([V.frame, V.code(5), V.code(9), V.code(9)])
    batch = wm.prefill_left_padded([x[:q] for q in ends])
    assert batch.pad.tolist() == [max(ends) - q for q in ends]
    stepped, batch = wm.extend(batch, after.expand(len(ends), -1))
    for row, q in enumerate(ends):
        alone = wm.prefill(x[:q])
        want, _ = wm.extend(alone, after)
        assert torch.allclose(batch.logits[row], wm.logits(torch.cat([x[:q], after])[None])[0, -1], atol=1e-4)
        assert torch.allclose(stepped[row], want[0], atol=1e-4), row
    assert torch.isfinite(stepped).all()


def test_a_click_location_points_into_the_frame_before_it():
    wm = WorldModel.create("tiny", arch=SMALL).eval()
    x = episode(4)
    types = torch.nonzero(V.is_type(x)).flatten()
    assert torch.equal(wm.logits(x[None]), wm.head(wm.hidden_states(x[None])))  # a fresh pointer adds nothing
    torch.nn.init.normal_(wm.loc_pointer.query.weight)
    logits = wm.logits(x[None])[0]
    cells = slice(V.loc0, V.loc0 + N_CELLS)
    base = wm.head(wm.hidden_states(x[None]))[0]
    assert not torch.allclose(logits[types, cells], base[types, cells])  # scores where a location comes next
    others = torch.ones(len(x), dtype=torch.bool)
    others[types] = False
    assert torch.equal(logits[others], base[others])  # and nowhere else
    # The same action after another frame points elsewhere: the scores depend on the frame's codes.
    y = x.clone()
    first = int(types[0])
    y[first - 65 : first - 1] = V.code(7)
    assert not torch.allclose(wm.logits(y[None])[0, first, cells], logits[first, cells])


def test_a_world_model_saved_before_the_pointer_loads_with_it_at_zero(tmp_path):
    from safetensors.torch import load_file, save_file

    wm = WorldModel.create("tiny", arch=SMALL, context_steps=4)
    wm.save(tmp_path / "wm")
    path = tmp_path / "wm" / MODEL_FILE
    save_file({k: v for k, v in load_file(str(path)).items() if not k.startswith("loc_pointer.")}, str(path))
    back = WorldModel.load(tmp_path / "wm")
    assert not back.loc_pointer.query.weight.any()


def test_a_copied_state_branches_without_touching_the_original():
    wm = WorldModel.create("tiny", arch=SMALL).eval()
    x = episode(3)
    state = wm.prefill(x[:100])
    branch = state.copy()
    a, _ = wm.extend(branch, torch.tensor([V.code(5)]))
    b, _ = wm.extend(state, torch.tensor([V.code(5)]))
    assert torch.allclose(a, b, atol=1e-6)
    assert state.length == branch.length == 100


def test_tiny_world_model_saves_and_reloads_identically(tmp_path):
    wm = WorldModel.create("tiny", arch=SMALL, context_steps=4)
    x = episode(3)
    train_steps(wm, x)
    wm.save(tmp_path / "wm", extra={"training": {"epoch": 1}})
    back = WorldModel.load(tmp_path / "wm")
    assert (tmp_path / "wm" / MODEL_FILE).is_file()
    assert back.config == wm.config
    assert torch.equal(back.logits(x[None]), wm.eval().logits(x[None]))
    assert back.fingerprint() == wm.fingerprint()


def test_smollm2_path_by_folder_trains_saves_and_reloads_with_the_same_logits(tmp_path):
    """The exact code path of `--backbone smollm2-360m`, on a tiny random Llama saved with save_pretrained."""
    src = save_tiny_llama(tmp_path / "llama", vocab_size=300)
    wm = WorldModel.create(str(src), context_steps=4, lora=LoraSettings(rank=4, alpha=8), codebook=torch.randn(512, 8))
    assert wm.config.base == 300 and wm.vocab.frame == 300 + 585
    x = episode(3)
    before = wm.fingerprint()
    train_steps(wm, x)
    assert wm.fingerprint() != before
    wm.save(tmp_path / "wm")
    back = WorldModel.load(tmp_path / "wm")
    assert torch.allclose(back.logits(x[None]), wm.eval().logits(x[None]), atol=1e-6)


def test_lora_checkpoint_holds_only_the_adapter_and_new_token_rows(tmp_path):
    src = save_tiny_llama(tmp_path / "llama", vocab_size=5000)
    wm = WorldModel.create(str(src), lora=LoraSettings(rank=4, alpha=8))
    wm.save(tmp_path / "wm")
    size = (tmp_path / "wm" / ADAPTER_FILE).stat().st_size
    backbone_embedding = 5000 * 64 * 4
    new_rows = N_SPECIAL * 64 * 4
    assert not (tmp_path / "wm" / MODEL_FILE).exists()
    assert new_rows < size < new_rows + 100_000 < backbone_embedding


def test_loading_a_missing_world_model_is_a_one_line_error(tmp_path):
    with pytest.raises(CheckpointError, match="train one with `aria train-wm`") as e:
        WorldModel.load(tmp_path / "nothing")
    assert "\n" not in str(e.value)


def test_every_code_knows_its_cell_in_the_frame_and_other_tokens_have_none():
    x = episode(2)
    cells = cell_index(x[None])[0]
    frames = torch.nonzero(x == V.frame).flatten()
    for f in frames:
        assert torch.equal(cells[f + 1 : f + 1 + N_CELLS], torch.arange(N_CELLS))
    is_code = x < V.code0 + N_CODES
    assert bool((cells[~is_code] == N_CELLS).all())
    assert torch.equal(cell_index(x[None, 10:20], code_run=9)[0], torch.arange(9, 19))  # mid-frame stepping


def test_the_cell_embedding_trains_and_is_part_of_a_lora_checkpoint(tmp_path):
    src = save_tiny_llama(tmp_path / "llama", vocab_size=300)
    wm = WorldModel.create(str(src), lora=LoraSettings(rank=4, alpha=8))
    x = episode(3)
    train_steps(wm, x)
    assert wm.cell_embedding.weight[:N_CELLS].abs().sum() > 0
    assert not wm.cell_embedding.weight[N_CELLS].any()  # non-code tokens get nothing
    wm.save(tmp_path / "wm")
    back = WorldModel.load(tmp_path / "wm")
    assert torch.equal(back.cell_embedding.weight, wm.cell_embedding.weight)


def test_decoding_with_the_kv_cache_warns_about_nothing():
    # transformers deprecates `past_key_values` for `cache`, warning on every play and eval; the model
    # passes whichever name the installed version takes.
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    hf_logger = hf_logging.get_logger("transformers")
    hf_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            wm = WorldModel.create(context_steps=2, arch=SMALL).eval()
            state = wm.prefill(episode()[None, :10])
            wm.extend(state, episode()[None, 10:12])
    finally:
        hf_logger.removeHandler(handler)
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in records]
    assert not [m for m in messages if "past_key_values" in m or "deprecated" in m], messages
