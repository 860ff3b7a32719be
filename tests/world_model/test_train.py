"""`aria train-wm`: windows, the training loop, checkpoints and metrics, exact resume, data parallelism."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.world_model import rule_cache, save_tiny_llama
from typer.testing import CliRunner

from aria_cli import vocab
from aria_cli.cli import app
from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.training.budget import fit_steps
from aria_cli.training.checkpoints import STATE_FILE
from aria_cli.vocab import STEP_TOKENS, Vocab
from aria_cli.world_model.backbones import TinyArch
from aria_cli.world_model.data import (
    collate,
    epoch_order,
    epoch_windows,
    eval_windows,
    make_windows,
    mask_some_windows,
    sample_windows,
)
from aria_cli.world_model.model import ADAPTER_FILE, WorldModel
from aria_cli.world_model.train import WorldModelTrainConfig, train_world_model

SMALL = TinyArch(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
V = Vocab(0)


def config(tmp_path: Path, **kw) -> WorldModelTrainConfig:
    base = dict(checkpoints=tmp_path / "ck", epochs=2, context_steps=3, batch_size=4, arch=SMALL, device="cpu",
                show=False)  # fmt: skip
    return WorldModelTrainConfig(**{**base, **kw})


@pytest.fixture
def cache(tmp_path):
    return rule_cache(tmp_path / "cache", games={"tsta": 3, "tstb": 3}, n_actions=12, clicks={"tstb": False})


def weights(wm: WorldModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in wm.state_dict().items()}


# --------------------------------------------------------------------------- windows
def test_windows_start_on_a_step_and_hold_whole_steps(cache):
    w = make_windows(cache, cache.split("train"), context_steps=3)
    for s, e in zip(w.start, w.end, strict=True):
        tokens = cache.tokens[s:e]
        assert tokens[0] in (V.game_start, V.frame)
        frames = np.flatnonzero(tokens == V.frame)
        whole = frames[frames + 64 < len(tokens)]  # the last [FRAME] may be the next step's, alone
        assert 1 <= len(whole) <= 3
        assert set(np.diff(frames)) <= {STEP_TOKENS, STEP_TOKENS + 1}  # + 1: a LEVEL_COMPLETE


def test_every_level_decision_in_a_window_is_visible(cache):
    """A window that stops before the episode's end carries the next [FRAME], so the token after its last
    action (LEVEL_COMPLETE or FRAME) is always there."""
    w = make_windows(cache, range(len(cache.episodes)), context_steps=2)
    for s, e in zip(w.start, w.end, strict=True):
        tokens = cache.tokens[s:e]
        assert not V.is_loc(tokens[-1:]).any()


def test_eval_windows_score_every_step_once_with_the_step_before_in_view(cache):
    """Evaluation windows overlap by one step, which is context only: every step of an episode after its
    first is scored in exactly one window, and that window also holds the step before it."""
    ids = range(len(cache.episodes))
    w = eval_windows(cache, ids, context_steps=3)
    scored_frames = {}
    for ep, s, e, k in zip(w.episode, w.start, w.end, w.scored, strict=True):
        frames = s + np.flatnonzero(cache.tokens[s:e] == V.frame)
        whole = frames[frames + 64 < e]
        assert len(whole) <= 3
        mine = whole[whole >= s + k]
        if k > 0:  # not an episode's first window: its first step is the context
            assert whole[0] < s + k and len(mine) == len(whole) - 1
        for f in mine:
            assert f not in scored_frames
            scored_frames[int(f)] = int(ep)
    for i in ids:
        entry = cache.episodes[i]
        starts = entry.start + np.asarray(entry.frame_offsets)
        assert set(starts) == {f for f, ep in scored_frames.items() if ep == i}
    assert (make_windows(cache, ids, 3).scored == 0).all()  # training windows score everything


def test_val_sample_is_fixed_within_its_token_cap_and_all_windows_when_they_fit(cache):
    w = eval_windows(cache, cache.split("val"), context_steps=2)
    assert sample_windows(w, w.n_tokens, seed=0) is w and sample_windows(w, 0, seed=0) is w
    cap = w.n_tokens // 2
    s = sample_windows(w, cap, seed=0)
    assert 0 < len(s) < len(w) and s.n_tokens <= cap
    key = set(zip(w.start.tolist(), w.end.tolist(), w.scored.tolist(), strict=True))
    assert set(zip(s.start.tolist(), s.end.tolist(), s.scored.tolist(), strict=True)) <= key  # whole windows of w
    pairs = list(zip(w.start.tolist(), w.end.tolist(), strict=True))
    where = [pairs.index(x) for x in zip(s.start.tolist(), s.end.tolist(), strict=True)]
    assert where == sorted(where)  # in w's order
    again = sample_windows(w, cap, seed=0)
    assert np.array_equal(s.start, again.start)


def test_a_capped_validation_measures_its_sample_and_says_so(tmp_path, cache, capsys):
    full = eval_windows(cache, cache.split("val"), context_steps=3)
    train_world_model(dataclasses.replace(config(tmp_path), val_tokens=full.n_tokens // 2, show=True), cache=cache)
    out = capsys.readouterr().out
    assert "a fixed sample of" in out and f"of {len(full):,} windows" in out


def test_windows_never_exceed_the_models_context(cache):
    w = make_windows(cache, range(len(cache.episodes)), context_steps=3)
    from aria_cli.world_model.model import WorldModelConfig

    assert (w.end - w.start).max() <= WorldModelConfig(context_steps=3).context_tokens


def test_training_windows_are_a_function_of_seed_and_epoch(cache):
    ids = cache.split("train")
    a, b = epoch_windows(cache, ids, 3, seed=1, epoch=4), epoch_windows(cache, ids, 3, seed=1, epoch=4)
    c = epoch_windows(cache, ids, 3, seed=1, epoch=5)
    assert np.array_equal(a.start, b.start) and not np.array_equal(a.start, c.start)
    assert np.array_equal(epoch_order(10, 4, 1, 4), epoch_order(10, 4, 1, 4))
    assert len(epoch_order(10, 4, 1, 4)) == 12  # padded to whole global batches
    assert len(epoch_order(10, 4, 1, 4, n_batches=2)) == 8  # an epoch with more windows than the first


def test_an_epoch_with_fewer_windows_than_the_first_still_trains_its_steps(tmp_path):
    # Windows start at a random offset each epoch, so their number varies; the steps per epoch are fixed
    # from epoch 0 (this crashed `make quickstart` once, with an empty batch).
    cache = rule_cache(tmp_path / "cache", games={"tsta": 4, "tstb": 2}, n_actions=11)
    ids = cache.split("train")
    seed = next(s for s in range(50) if min(len(epoch_windows(cache, ids, 3, s, e)) for e in range(1, 4))
                < len(epoch_windows(cache, ids, 3, s, 0)))  # fmt: skip
    res = train_world_model(config(tmp_path, epochs=4, batch_size=1, seed=seed, time_budget=0), cache=cache)
    assert res.epochs_done == 4


def test_masked_windows_read_exactly_the_policys_view_and_keep_their_targets(cache):
    batch = collate(cache, make_windows(cache, cache.split("train"), 3))
    inputs = mask_some_windows(batch.tokens, 0.5, np.random.default_rng(3))
    again = mask_some_windows(batch.tokens, 0.5, np.random.default_rng(3))
    assert torch.equal(inputs, again)  # drawn from the step's generator: resume sees the same masks
    changed = (inputs != batch.tokens).any(dim=1)
    assert 0 < int(changed.sum()) < len(changed)
    for row in range(len(changed)):
        want = vocab.mask_actions(V, batch.tokens[row].numpy()) if changed[row] else batch.tokens[row].numpy()
        assert np.array_equal(inputs[row].numpy(), want)
    assert mask_some_windows(batch.tokens, 0.0, np.random.default_rng(3)) is None


def test_masked_inputs_are_read_while_the_true_tokens_stay_the_targets(cache):
    wm = WorldModel.create(context_steps=3, arch=SMALL, seed=0)
    batch = collate(cache, make_windows(cache, cache.split("train"), 3))
    masked = mask_some_windows(batch.tokens, 1.0, np.random.default_rng(0))
    plain, read_masked = wm(batch.tokens, batch.valid), wm(batch.tokens, batch.valid, masked)
    assert torch.equal(plain.weight_sum, read_masked.weight_sum)  # same targets, same loss weights
    assert not torch.allclose(plain.logits, read_masked.logits)
    read_masked.loss.backward()
    emb = wm.model.get_input_embeddings().weight
    assert emb.grad[V.mask].abs().sum() > 0


def test_an_action_mask_share_out_of_range_is_a_one_line_error(tmp_path, cache):
    with pytest.raises(AriaError, match="--action-mask"):
        train_world_model(config(tmp_path, action_mask=1.0), cache=cache)


# --------------------------------------------------------------------------- time budget
def test_a_time_budget_becomes_whole_epochs_plus_a_partial_one_each_with_its_validation():
    assert fit_steps(budget_s=100, step_s=1, val_s=0, steps_per_epoch=40, max_steps=1000) == 100
    assert fit_steps(budget_s=100, step_s=1, val_s=5, steps_per_epoch=40, max_steps=1000) == 85  # 2 x (40+5) + 5+5


def test_a_time_budget_never_exceeds_the_epochs_asked_for_nor_drops_below_one_step():
    assert fit_steps(budget_s=1e9, step_s=1, val_s=1, steps_per_epoch=40, max_steps=120) == 120
    assert fit_steps(budget_s=0.1, step_s=1, val_s=1, steps_per_epoch=40, max_steps=120) == 1


def test_a_tiny_partial_epoch_is_left_out():
    assert fit_steps(budget_s=83, step_s=1, val_s=0, steps_per_epoch=40, max_steps=1000) == 80


def test_a_budget_shorter_than_a_tenth_of_an_epoch_trains_what_fits():
    # A corpus of hundreds of recordings: an epoch of 30,000 steps, a budget of 600 one-second steps.
    assert fit_steps(budget_s=660, step_s=1, val_s=60, steps_per_epoch=30_000, max_steps=10**6) == 600


def test_a_time_budget_caps_the_run_and_resume_keeps_to_the_same_number_of_steps(tmp_path, cache):
    res = train_world_model(config(tmp_path, epochs=None, time_budget=1e-4), cache=cache)
    assert res.history[-1]["step"] == 1
    state = torch.load(tmp_path / "ck" / "world_model" / "last" / STATE_FILE, weights_only=True)
    assert state["total_steps"] == 1


# --------------------------------------------------------------------------- training and outputs
def test_training_writes_best_last_metrics_and_curves(tmp_path, cache):
    res = train_world_model(config(tmp_path), cache=cache)
    out = tmp_path / "ck" / "world_model"
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert set(final["games"]) == {"tsta", "tstb"}
    assert final["games"]["tstb"]["action_loc_acc"] is None  # tstb has no clicks
    assert final["games"]["tsta"]["frame_acc"] is not None
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "last" / STATE_FILE).is_file()
    best = WorldModel.load(out / "best")
    assert best.config.context_steps == 3
    assert res.epochs_done == 2 and res.best_epoch in (1, 2)


@pytest.mark.filterwarnings("error")
def test_curves_without_a_val_split_draw_without_a_warning(tmp_path):
    """A corpus of one recording per game has no val split: the right panel says so (matplotlib used to
    warn about an empty legend on every epoch)."""
    from aria_cli.world_model.report import curves_writer

    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": None, "val": None} for e in (1, 2)]
    curves_writer(history)(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.filterwarnings("error:The given NumPy array is not writable")
def test_a_memory_mapped_cache_trains_and_evaluates_exactly_as_one_in_memory(tmp_path, cache):
    np.save(tmp_path / "tokens.npy", cache.tokens)
    mapped = dataclasses.replace(cache, tokens=np.load(tmp_path / "tokens.npy", mmap_mode="r"))
    assert isinstance(mapped.tokens, np.memmap) and not mapped.tokens.flags.writeable
    in_memory = train_world_model(config(tmp_path / "a", epochs=1), cache=cache)
    from_file = train_world_model(config(tmp_path / "b", epochs=1), cache=mapped)
    assert from_file.metrics["final"] == in_memory.metrics["final"] and in_memory.metrics["final"] is not None
    for name, w in weights(in_memory.model).items():
        assert torch.equal(weights(from_file.model)[name], w), name


@pytest.mark.parametrize("stop_at", [3, "epoch_end"])
def test_resume_after_an_interrupt_ends_with_the_same_weights(tmp_path, cache, stop_at):
    full = train_world_model(config(tmp_path / "a"), cache=cache)
    steps_per_epoch = full.history[0]["step"]
    stop = steps_per_epoch if stop_at == "epoch_end" else stop_at

    def interrupt(step):
        if step == stop:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_world_model(config(tmp_path / "b"), cache=cache, on_step=interrupt)
    resumed = train_world_model(config(tmp_path / "b", resume=True), cache=cache)
    a, b = weights(full.model), weights(resumed.model)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["epoch"] for h in resumed.history] == [1, 2]


def test_resume_without_a_saved_state_is_a_one_line_error(tmp_path, cache):
    with pytest.raises(CheckpointError, match="no training state") as e:
        train_world_model(config(tmp_path, resume=True), cache=cache)
    assert "\n" not in str(e.value)


def test_resume_with_different_options_is_a_one_line_error(tmp_path, cache):
    train_world_model(config(tmp_path, epochs=1), cache=cache)
    with pytest.raises(CheckpointError, match="context_steps 3 → 4") as e:
        train_world_model(config(tmp_path, epochs=2, context_steps=4, resume=True), cache=cache)
    assert "\n" not in str(e.value)


def test_too_little_data_is_a_one_line_error_with_counts(tmp_path):
    empty = rule_cache(tmp_path / "c", games={"tsta": 2}, n_actions=0)
    with pytest.raises(AriaError, match=r"too little data.*2 recordings \(1 train, 1 val\) with 0 train steps") as e:
        train_world_model(config(tmp_path), cache=empty)
    assert "\n" not in str(e.value)


def test_a_pretrained_backbone_trains_through_the_same_loop_into_an_adapter(tmp_path, cache):
    src = save_tiny_llama(tmp_path / "llama", vocab_size=300)
    res = train_world_model(config(tmp_path, epochs=1, backbone=str(src), lora_rank=4), cache=cache)
    best = tmp_path / "ck" / "world_model" / "best"
    assert (best / ADAPTER_FILE).is_file()
    back = WorldModel.load(best)
    assert back.config.base == 300 and back.config.lora["rank"] == 4
    x = torch.from_numpy(cache.episode_tokens(0)[:100].astype(np.int64))[None]
    assert torch.allclose(back.logits(x), res.model.eval().logits(x), atol=1e-5)


# --------------------------------------------------------------------------- data parallel
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, tmp: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world))  # fmt: skip
    # CPU data parallelism: a visible GPU would make accelerate's barrier ask for one device per rank.
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    torch.set_num_threads(1)
    tmp_path = Path(tmp)
    cache = rule_cache(tmp_path / "cache", games={"tsta": 3, "tstb": 3}, n_actions=12)
    res = train_world_model(config(tmp_path, epochs=1, batch_size=2), cache=cache)
    torch.save({"weights": weights(res.model), "final": res.metrics["final"]}, tmp_path / f"rank{rank}.pt")


def test_two_processes_train_data_parallel_and_end_with_identical_weights(tmp_path):
    torch.multiprocessing.spawn(_rank_main, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert all(torch.equal(r0["weights"][k], r1["weights"][k]) for k in r0["weights"])
    assert r0["final"] == r1["final"]  # val metrics gathered from both ranks' shares
    cache = rule_cache(tmp_path / "cache", games={"tsta": 3, "tstb": 3}, n_actions=12)
    line = json.loads((tmp_path / "ck" / "world_model" / "metrics.jsonl").read_text().splitlines()[0])
    assert line["val"]["all"]["windows"] == len(eval_windows(cache, cache.split("val"), 3))  # both shares counted


# --------------------------------------------------------------------------- the command
def _tokenizer(checkpoints: Path) -> None:
    from aria_cli.tokenizer import model as vqvae

    torch.manual_seed(0)
    vqvae.save_model(vqvae.VQVAE(vqvae.VQVAEConfig()), vqvae.vqvae_dir(checkpoints))


def test_train_wm_command_trains_on_recordings_and_shows_the_metrics_table(tmp_path, recording_dir):
    ck = tmp_path / "ck"
    _tokenizer(ck)
    args = ["train-wm", "--data", str(recording_dir), "--checkpoints", str(ck), "--epochs", "1",
            "--context-steps", "2", "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "val metrics" in result.output and "tsta" in result.output and "tstb" in result.output
    assert (ck / "world_model" / "best" / "model.safetensors").is_file()
    record = json.loads((ck / "world_model" / "metrics.jsonl").read_text().splitlines()[-1])
    rate = record["train_tokens"] / record["train_s"]
    assert f"trained on {record['train_tokens']:,} tokens in " in result.output and f"{rate:,.0f} tok/s" in result.output


def test_train_wm_command_with_resume_and_no_state_prints_one_line(tmp_path, recording_dir):
    ck = tmp_path / "ck"
    _tokenizer(ck)
    args = ["train-wm", "--data", str(recording_dir), "--checkpoints", str(ck), "--resume", "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "no training state" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_run_in_the_same_process_may_use_other_accelerator_settings_than_the_one_before(tmp_path, cache):
    # What a GPU machine does when a CPU run follows a GPU one (bf16 then full precision); a CPU can show
    # the same conflict with the precision alone.
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from aria_cli.common.devices import make_accelerator

    AcceleratorState._reset_state(reset_partial_state=True)  # whatever earlier tests left behind
    Accelerator(cpu=True, mixed_precision="bf16")
    acc = make_accelerator("cpu")
    assert acc.mixed_precision == "no" and acc.device.type == "cpu"
    res = train_world_model(config(tmp_path, epochs=1), cache=cache)
    assert res.epochs_done == 1
