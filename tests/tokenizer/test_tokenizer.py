"""The frame tokenizer: model, checkpoint, `aria train-vqvae`, and the palette pictures it draws."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.recordings import synthetic_frames, write_recording
from PIL import Image
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.common.errors import AriaError, CheckpointError
from aria_cli.common.palette import PALETTE, frame_grid, frame_to_rgb
from aria_cli.data.recordings import read_recording
from aria_cli.tokenizer import model as vqvae
from aria_cli.tokenizer.data import Batches, CellSet, FrameSet, collect_frames
from aria_cli.tokenizer.metrics import PICTURE_FILE, frame_cells_seen, per_game
from aria_cli.tokenizer.train import TokenizerTrainConfig, init_codebook, train_vqvae
from aria_cli.training.checkpoints import METRICS_FILE

runner = CliRunner()
TINY = dict(codebook_size=32, code_dim=8, channels=(8, 8, 16), context_channels=8, context_blocks=1)


def tiny_config(**kw) -> TokenizerTrainConfig:
    return TokenizerTrainConfig(**{**TINY, "epochs": 2, "batch_size": 8, "lr": 1e-2, "min_steps_per_epoch": 8,
                               "max_steps_per_epoch": 8, **kw})  # fmt: skip


def tiny_model(seed: int = 0) -> vqvae.VQVAE:
    torch.manual_seed(seed)
    return vqvae.VQVAE(vqvae.VQVAEConfig(**TINY))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(data, checkpoints, metrics) of a tokenizer trained for a few steps on recordings made here."""
    root = tmp_path_factory.mktemp("trained")
    data = root / "recordings"
    for g, gid in enumerate(["tsta-0001", "tstb-0002"]):
        for i in range(3):
            write_recording(data / gid[:4] / f"ep{i}.jsonl", n_steps=24, game_id=gid, seed=10 * g + i)
    result = train_vqvae(data, root / "ck", tiny_config(), device="cpu", quiet=True)
    return data, root / "ck", result.metrics


# --------------------------------------------------------------------------- model
def test_encode_gives_64_codes_per_frame_and_decode_gives_frames():
    tok = vqvae.FrameTokenizer(tiny_model())
    frames = synthetic_frames(5)
    codes = tok.encode(frames)
    assert codes.shape == (5, 64) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 32
    decoded = tok.decode(codes)
    assert decoded.shape == (5, 64, 64) and decoded.dtype == np.uint8


def test_encode_matches_the_model_run_on_whole_frames():
    model = tiny_model()
    frames = synthetic_frames(4, seed=3)
    with torch.no_grad():
        direct = model.quantize(model.encode_latent(torch.from_numpy(frames))).reshape(4, 64).numpy()
    assert np.array_equal(vqvae.FrameTokenizer(model).encode(frames), direct)


def test_replaced_codes_are_what_the_decoder_sees():
    model = tiny_model().eval()
    frames = torch.from_numpy(synthetic_frames(2, seed=4))
    with torch.no_grad():
        codes = model(frames).codes
        replace = torch.full_like(codes, -1)
        replace[0, 3, 4], replace[1, 0, 0] = (codes[0, 3, 4] + 1) % 32, (codes[1, 0, 0] + 5) % 32
        swapped = torch.where(replace >= 0, replace, codes)
        out = model(frames, replace=replace)
        assert torch.equal(out.codes, codes)  # the codes are the cells' own; only the decoder's view changes
        assert torch.allclose(out.logits, model.decode_codes(swapped), atol=1e-5)


def test_cells_whose_code_was_replaced_are_left_out_of_the_loss(tmp_path, recording_dir):
    """With every code replaced there is no reconstruction loss at all, so the decoder does not move."""
    data = collect_frames(recording_dir)

    def decoder_moves(context_noise: float) -> bool:
        cfg = tiny_config(context_noise=context_noise)
        model = tiny_model()
        batches = Batches(data.train, CellSet.from_frames(data.train), cfg.batch_size, cfg.sample_power, "cpu")
        init_codebook(model, batches.cells, np.random.default_rng(0))
        before = {k: v.clone() for k, v in model.decoder.state_dict().items()}
        params = [p for n, p in model.named_parameters() if not n.startswith("quantizer")]
        opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.0)
        batch = batches.draw(np.random.default_rng(0), context_noise, model.config.codebook_size, seed=1)
        loss, _ = model.compute_loss(batch)
        loss.backward()
        opt.step()
        return not all(torch.equal(before[k], v) for k, v in model.decoder.state_dict().items())

    assert decoder_moves(0.0) and not decoder_moves(1.0)


def test_frames_with_learned_content_are_drawn_less_often_once_decoded_exactly(recording_dir):
    data = collect_frames(recording_dir)
    cells = CellSet.from_frames(data.train)
    plain = Batches(data.train, cells, 8, 0.5, "cpu")
    weighted = Batches(data.train, cells, 8, 0.5, "cpu", exact_weight=0.1)
    assert np.allclose(weighted.probs, plain.probs)  # nothing is known to be learned yet
    batch = weighted.draw(np.random.default_rng(0))
    missed = np.arange(len(batch.index)) % 2 == 0
    weighted.mark(batch, missed)
    exact = sorted(set(batch.index[~missed]) - set(batch.index[missed]))
    other = np.setdiff1d(np.arange(len(plain.probs)), batch.index)
    ratio = (weighted.probs / plain.probs)
    assert exact and np.allclose(ratio[exact] / ratio[other[0]], 0.1)
    assert np.allclose(ratio[other], ratio[other[0]]) and np.isclose(weighted.probs.sum(), 1.0)
    plain.mark(batch, missed)
    assert np.array_equal(plain.probs, Batches(data.train, cells, 8, 0.5, "cpu").probs)  # weight 1: off


def test_a_run_saved_before_exact_weight_and_beta2_existed_resumes_as_it_trained():
    from dataclasses import asdict

    from aria_cli.tokenizer.train import TrainState, _resumed_config

    saved = {k: v for k, v in asdict(tiny_config()).items() if k not in ("exact_weight", "beta2")}
    old = _resumed_config(tiny_config(), TrainState(train_config=saved))
    assert (old.exact_weight, old.beta2) == (1.0, 0.999)
    new = _resumed_config(tiny_config(), TrainState(train_config={**saved, "exact_weight": 0.1, "beta2": 0.95}))
    assert (new.exact_weight, new.beta2) == (0.1, 0.95)


def test_a_resumed_run_keeps_its_settings_but_takes_new_epochs_and_threads():
    from dataclasses import asdict, replace

    from aria_cli.tokenizer.train import TrainState, _resumed_config

    saved = asdict(replace(tiny_config(), lr=0.003, threads=1, epochs=2))
    got = _resumed_config(replace(tiny_config(), lr=0.05, threads=2, epochs=5), TrainState(train_config=saved))
    assert (got.lr, got.threads, got.epochs) == (0.003, 2, 5)


def test_a_frame_is_missed_by_a_wrong_pixel_only_where_its_cell_kept_its_code():
    hit = torch.ones(3, 64, 64, dtype=torch.bool)
    hit[1, 5, 5] = False  # cell (0, 0)
    hit[2, 40, 40] = False  # cell (5, 5), whose code the decoder did not see
    keep = torch.ones(3, 64, 64)
    keep[2, 40:48, 40:48] = 0
    assert vqvae.frames_missed(hit, None).tolist() == [False, True, True]
    assert vqvae.frames_missed(hit, keep.reshape(-1)).tolist() == [False, True, False]


def test_model_outputs_16_logits_per_pixel_and_an_8x8_code_grid():
    out = tiny_model()(torch.from_numpy(synthetic_frames(2)))
    assert out.logits.shape == (2, 64, 64, 16)
    assert out.codes.shape == (2, 8, 8)


def test_encode_rejects_frames_of_the_wrong_shape():
    with pytest.raises(ValueError, match="64, 64"):
        vqvae.FrameTokenizer(tiny_model()).encode(np.zeros((2, 32, 32), np.uint8))


# --------------------------------------------------------------------------- checkpoint
def test_save_and_load_give_the_same_codes(tmp_path):
    model = tiny_model()
    vqvae.save_model(model, vqvae.vqvae_dir(tmp_path))
    frames = synthetic_frames(6, seed=1)
    loaded = vqvae.load_tokenizer(tmp_path)
    assert np.array_equal(loaded.encode(frames), vqvae.FrameTokenizer(model).encode(frames))
    assert torch.equal(loaded.codebook, model.codebook)
    assert sorted(p.name for p in vqvae.vqvae_dir(tmp_path).iterdir()) == ["config.json", "model.safetensors"]


def test_fingerprint_follows_the_checkpoint_files(tmp_path):
    vqvae.save_model(tiny_model(0), vqvae.vqvae_dir(tmp_path))
    first = vqvae.load_tokenizer(tmp_path).fingerprint
    assert vqvae.tokenizer_fingerprint(tmp_path) == first
    vqvae.save_model(tiny_model(1), vqvae.vqvae_dir(tmp_path))
    assert vqvae.load_tokenizer(tmp_path).fingerprint != first


def test_missing_tokenizer_says_to_run_train_vqvae(tmp_path):
    assert not vqvae.tokenizer_exists(tmp_path)
    with pytest.raises(CheckpointError, match="aria train-vqvae"):
        vqvae.load_tokenizer(tmp_path)


def test_corrupt_weights_name_the_file(tmp_path):
    d = vqvae.vqvae_dir(tmp_path)
    vqvae.save_model(tiny_model(), d)
    (d / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        vqvae.load_tokenizer(tmp_path)


def test_weights_that_do_not_fit_the_config_name_the_file(tmp_path):
    d = vqvae.vqvae_dir(tmp_path)
    vqvae.save_model(tiny_model(), d)
    (d / "config.json").write_text(json.dumps({**json.loads((d / "config.json").read_text()), "code_dim": 12}))
    with pytest.raises(CheckpointError, match="model.safetensors.*config.json"):
        vqvae.load_tokenizer(tmp_path)


def test_a_lone_config_names_the_missing_weights(tmp_path):
    d = vqvae.vqvae_dir(tmp_path)
    vqvae.save_model(tiny_model(), d)
    (d / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors: missing"):
        vqvae.load_tokenizer(tmp_path)


# --------------------------------------------------------------------------- data
def test_identical_frames_are_merged_with_their_counts(tmp_path):
    write_recording(tmp_path / "g" / "a.jsonl", n_steps=10, game_id="tsta-1", seed=0)
    write_recording(tmp_path / "g" / "b.jsonl", n_steps=10, game_id="tsta-1", seed=0)  # the same frames again
    data = collect_frames(tmp_path)
    both = np.concatenate([data.train.counts, data.val.counts])
    assert data.train.total + data.val.total == 22
    assert len(data.train.frames) == 11 and set(both.tolist()) == {1}  # one file each side


def test_train_and_val_are_split_by_recording_file(tmp_path, recording_dir):
    data = collect_frames(recording_dir)
    assert set(data.train.files).isdisjoint(data.val.files)
    assert {f.split("/")[0] for f in data.val.files} == {"tsta", "tstb"}  # every game has val files


def _unique_over_all(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """The straightforward de-duplication: every frame of every file in memory at once, one np.unique."""
    frames = np.concatenate([np.stack([s.frame for s in read_recording(p).steps]) for p in paths]).astype(np.uint8)
    keys = frames.reshape(len(frames), -1).view(np.dtype((np.void, 64 * 64))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return frames[first], np.bincount(inverse.ravel())


def test_file_by_file_dedup_equals_one_unique_over_every_frame(tmp_path):
    # Three games, shared frames within and across files and games (same seeds), one game with a single file.
    for game, seeds in {"tsta-1": [0, 1, 0, 2], "tstb-2": [1, 3, 1], "tstc-3": [0]}.items():
        for i, seed in enumerate(seeds):
            write_recording(tmp_path / game[:4] / f"ep{i}.jsonl", n_steps=12 + 3 * i, game_id=game, seed=seed)
    data = collect_frames(tmp_path)
    for fs in (data.train, data.val, *data.val_by_game.values()):
        frames, counts = _unique_over_all([tmp_path / f for f in fs.files])
        assert np.array_equal(fs.frames, frames) and np.array_equal(fs.counts, counts)
    assert sorted(data.val_by_game) == ["tsta", "tstb"]  # tstc's one file trains
    assert sorted(data.train.files + data.val.files) == sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.jsonl"))
    assert sum(fs.total for fs in data.val_by_game.values()) == data.val.total > 0


def test_with_one_file_per_game_val_is_the_training_frames_per_game(tmp_path):
    write_recording(tmp_path / "a.jsonl", n_steps=10, game_id="tsta-1", seed=0)
    write_recording(tmp_path / "b.jsonl", n_steps=10, game_id="tstb-2", seed=0)  # the same frames, another game
    data = collect_frames(tmp_path)
    assert data.val_is_train and data.val is data.train and data.train.total == 22
    frames, counts = _unique_over_all([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    assert np.array_equal(data.train.frames, frames) and np.array_equal(data.train.counts, counts)
    assert {g: fs.total for g, fs in data.val_by_game.items()} == {"tsta": 11, "tstb": 11}


def test_a_file_mixing_games_is_skipped_and_left_out_of_the_split(tmp_path):
    # Its first line names tsta: it must not take a val place from tsta's real files (--skip-bad drops it).
    for d in (tmp_path / "with", tmp_path / "without"):
        for i in range(3):
            write_recording(d / "tsta" / f"ep{i}.jsonl", n_steps=8, game_id="tsta-1", seed=i)
    mixed = tmp_path / "with" / "tsta" / "mix.jsonl"  # its name ranks first: it would take the val place
    write_recording(mixed, n_steps=8, game_id="tsta-1", seed=5)
    other = write_recording(tmp_path / "b.jsonl", n_steps=4, game_id="tstb-2", seed=6).read_text()
    mixed.write_text(mixed.read_text() + other)
    with pytest.raises(AriaError, match="mixes several games"):
        collect_frames(tmp_path / "with")
    got, want = collect_frames(tmp_path / "with", skip_bad=True), collect_frames(tmp_path / "without")
    assert got.train.files == want.train.files and got.val.files == want.val.files
    assert np.array_equal(got.train.frames, want.train.frames) and np.array_equal(got.val.counts, want.val.counts)


# --------------------------------------------------------------------------- training
def test_training_writes_the_best_model_metrics_and_picture(trained):
    _, ck, metrics = trained
    d = vqvae.vqvae_dir(ck)
    assert (d / "model.safetensors").is_file() and (d / "config.json").is_file()
    on_disk = json.loads((d / METRICS_FILE).read_text())
    for key in ("val_pixel_acc", "val_frame_exact", "val_foreground_pixel_acc", "val_cells_unseen", "codebook_used",
                "train_frames", "val_frames", "seconds"):
        assert key in on_disk
    assert on_disk == metrics
    assert 0.0 <= metrics["val_pixel_acc"] <= 1.0 and 0.0 < metrics["codebook_used"] <= 1.0
    assert metrics["train_frames"] + metrics["val_frames"] == 6 * 25
    epochs = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert epochs and all(0.0 <= e["val_seen_cell_acc"] <= 1.0 for e in epochs)  # what the stopping rule judges


def test_metrics_break_val_accuracy_down_by_game(trained):
    data, ck, metrics = trained
    games = metrics["games"]
    assert sorted(games) == ["tsta", "tstb"]
    assert sum(g["val_frames"] for g in games.values()) == metrics["val_frames"]
    tok = vqvae.load_tokenizer(ck)
    val_files = collect_frames(data).val.files
    for game, m in games.items():
        files = [data / f for f in val_files if f.startswith(f"{game}/")]
        frames = np.concatenate([np.stack([s.frame for s in read_recording(f).steps]) for f in files])
        assert m["val_pixel_acc"] == pytest.approx(float((tok.decode(tok.encode(frames)) == frames).mean()))
        assert 0.0 <= m["val_frame_exact"] <= 1.0 and 0.0 <= m["val_cells_unseen"] <= 1.0
        assert 0.0 <= m["val_foreground_pixel_acc"] <= 1.0


def test_the_stopping_rule_knows_which_val_cells_training_never_had():
    train = CellSet.from_frames(FrameSet.from_frames([np.zeros((2, 64, 64), np.uint8)], ["a"]))
    val = np.zeros((2, 64, 64), np.uint8)
    val[1, 8:16, 0:8] = 5  # frame 1's cell 8 is new
    seen = frame_cells_seen(train, CellSet.from_frames(FrameSet.from_frames([val], ["b"])))
    assert seen.shape == (2, 64) and seen.sum() == 127
    frames = FrameSet.from_frames([val], ["b"]).frames
    new_frame = int(np.flatnonzero(frames.reshape(2, -1).any(1))[0])
    assert not seen[new_frame, 8]


def test_per_game_counts_the_val_cells_no_training_frame_has():
    train = FrameSet.from_frames([np.zeros((2, 64, 64), np.uint8)], ["a"])
    val = np.zeros((3, 64, 64), np.uint8)
    val[0, :8, :8] = 5  # one new cell in one of three frames: 1 of 192 cells
    val[1, :8, :8] = 5  # and the same frame again
    out = per_game(tiny_model(), CellSet.from_frames(train), {"g": FrameSet.from_frames([val], ["b"])}, "cpu")
    assert out["g"]["val_cells_unseen"] == pytest.approx(2 / 192)
    assert out["g"]["val_frames"] == 3


def test_reconstruction_picture_is_a_valid_png(trained):
    with Image.open(vqvae.vqvae_dir(trained[1]) / PICTURE_FILE) as img:
        img.verify()
        assert img.format == "PNG" and img.width > 3 * 64


def test_no_run_decodes_more_frames_exactly_than_its_codes_allow(trained):
    _, _, metrics = trained
    assert 0.0 <= metrics["train_cells_ambiguous"] < 1.0
    assert metrics["train_frame_exact_network"] <= metrics["train_frame_exact_ceiling"] <= 1.0
    # The memory recalls each training window's most common content: what the ceiling counts, no more.
    assert metrics["train_frame_exact"] <= metrics["train_frame_exact_ceiling"]


def test_training_improves_on_the_untrained_model(trained):
    data, ck, metrics = trained
    frames = collect_frames(data).val.frames
    before = vqvae.FrameTokenizer(tiny_model())
    acc_before = float((before.decode(before.encode(frames)) == frames).mean())
    assert metrics["val_pixel_acc"] > acc_before


@pytest.mark.parametrize(("context_noise", "exact_weight"), [(0.0, 1.0), (0.2, 1.0), (0.2, 0.1)])
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, recording_dir, monkeypatch, context_noise, exact_weight):
    from safetensors.torch import load_file

    if exact_weight != 1.0:
        # A tiny model decodes no frame exactly within a test's few steps, so which frames it has learned is
        # set here (the odd-numbered ones, once drawn): the real loss, and a sampling that depends on state
        # a resume must restore (the resumed run starts from the end of the first epoch).
        real = vqvae.VQVAE.compute_loss

        def compute_loss(model, batch, foreground_weight=1.0):
            loss, metrics = real(model, batch, foreground_weight)
            metrics["frame_missed"] = batch.index % 2 == 0
            return loss, metrics

        monkeypatch.setattr(vqvae.VQVAE, "compute_loss", compute_loss)
    config = tiny_config(epochs=3, patience=99, context_noise=context_noise, exact_weight=exact_weight)
    train_vqvae(recording_dir, tmp_path / "straight", config, quiet=True)

    def interrupt(step):
        if step == 13:  # the fifth step of the second epoch
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_vqvae(recording_dir, tmp_path / "resumed", config, quiet=True, on_step=interrupt)
    result = train_vqvae(recording_dir, tmp_path / "resumed", config, resume=True, quiet=True)
    assert result.metrics["epochs"] == 3 and result.metrics["steps"] == 3 * 8
    straight = load_file(vqvae.vqvae_dir(tmp_path / "straight") / "last" / "model.safetensors")
    resumed = load_file(vqvae.vqvae_dir(tmp_path / "resumed") / "last" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_patience_starts_a_cool_down_that_ends_the_run_and_zero_never_stops():
    from aria_cli.tokenizer.train import TrainState, stop_reason

    stalled = TrainState(epoch=10, bad_epochs=3)
    assert stop_reason(0.99, stalled, TokenizerTrainConfig(epochs=80, patience=3)) == "cool down"
    assert stop_reason(0.99, stalled, TokenizerTrainConfig(epochs=80, patience=3, cooldown=0)) == "early stop"
    assert stop_reason(0.99, stalled, TokenizerTrainConfig(epochs=80, patience=4)) == ""
    cooling = TrainState(epoch=12, bad_epochs=5, cooldown_epoch=10)
    assert stop_reason(0.99, cooling, TokenizerTrainConfig(epochs=80, patience=3, cooldown=3)) == ""
    cooling.epoch = 13
    assert stop_reason(0.99, cooling, TokenizerTrainConfig(epochs=80, patience=3, cooldown=3)) == "early stop"
    assert stop_reason(0.99, TrainState(epoch=79, bad_epochs=70), TokenizerTrainConfig(epochs=80, patience=0)) == ""
    assert stop_reason(0.99, TrainState(epoch=80, bad_epochs=70), TokenizerTrainConfig(epochs=80, patience=0)) == "epochs"
    assert stop_reason(1.0, TrainState(epoch=1), TokenizerTrainConfig(patience=0)) == "perfect"


def test_a_stalled_run_cools_down_to_the_floor_then_stops(tmp_path, recording_dir):
    """patience 1 on a run whose LR is too high to improve: the cool-down begins after a stalled epoch,
    the LR falls to the floor over `cooldown` epochs, and the run stops there, before its 40 epochs."""
    from aria_cli.tokenizer.train import LR_FLOOR

    config = tiny_config(epochs=40, patience=1, cooldown=2, lr=0.5)
    result = train_vqvae(recording_dir, tmp_path, config, quiet=True)
    history = result.history
    assert result.metrics["stop_reason"] == "early stop" and len(history) < 40
    accs = [r["val_pixel_acc"] for r in history]
    began = next(i for i in range(1, len(accs)) if accs[i] <= max(accs[:i]))  # the first stalled epoch
    lrs = [r["lr"] for r in history]
    assert len(history) == began + 1 + 2  # two cool-down epochs after it
    assert lrs[began + 1] < lrs[began] and lrs[-1] == pytest.approx(LR_FLOOR * config.lr, rel=0.05)


def test_resume_of_a_finished_run_has_nothing_to_do(tmp_path, recording_dir):
    first = train_vqvae(recording_dir, tmp_path, tiny_config(epochs=1, patience=99), quiet=True)
    again = train_vqvae(recording_dir, tmp_path, tiny_config(epochs=1, patience=99), resume=True, quiet=True)
    assert again.metrics == first.metrics
    assert (vqvae.vqvae_dir(tmp_path) / "memory.safetensors").is_file()  # still the finished run's, still valid


def test_resume_without_a_run_says_so(tmp_path, recording_dir):
    with pytest.raises(AriaError, match="nothing to resume"):
        train_vqvae(recording_dir, tmp_path / "ck", tiny_config(), resume=True, quiet=True)


# --------------------------------------------------------------------------- command line
def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    for n in needles:
        assert n in lines[0]


def test_train_vqvae_command_trains_and_reports(tmp_path, recording_dir):
    ck = tmp_path / "ck"
    args = ["train-vqvae", "--data", str(recording_dir), "--checkpoints", str(ck), "--epochs", "1",
            "--batch-size", "8", "--codebook-size", "16", "--patience", "0", "--size", "small", "--device", "cpu"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "val pixel accuracy" in result.output
    metrics = json.loads((ck / "vqvae" / METRICS_FILE).read_text())
    assert metrics["codebook_size"] == 16
    assert metrics["train_config"]["patience"] == 0
    assert metrics["train_config"]["exact_weight"] == 1.0  # the small model draws every frame alike (SIZE_TRAINING)
    assert metrics["train_config"]["beta2"] == 0.999  # and keeps the decay quickstart's agent played best with
    small = vqvae.SIZES["small"]
    assert {k: metrics["model_config"][k] for k in small} == {**small, "channels": list(small["channels"])}
    assert vqvae.VQVAEConfig().context_blocks == vqvae.SIZES["large"]["context_blocks"]  # large is the default


def test_train_vqvae_refuses_an_unknown_size_in_one_line(tmp_path, recording_dir):
    result = runner.invoke(app, ["train-vqvae", "--data", str(recording_dir), "--checkpoints", str(tmp_path), "--size", "huge"])
    _one_line_error(result, "--size", "huge")


def test_train_vqvae_without_recordings_says_where_it_looked(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["train-vqvae", "--data", str(tmp_path / "empty"), "--checkpoints", str(tmp_path)])
    _one_line_error(result, "no recordings", str(tmp_path / "empty"))


def test_corrupt_checkpoint_is_one_line_naming_the_file(tmp_path, recording_dir):
    d = vqvae.vqvae_dir(tmp_path)
    vqvae.save_model(tiny_model(), d)
    (d / "model.safetensors").write_bytes(b"\x00" * 100)
    result = runner.invoke(app, ["tokenize", "--data", str(recording_dir), "--checkpoints", str(tmp_path), "--device", "cpu"])
    _one_line_error(result, "model.safetensors")


def test_inspect_tokens_shows_codes_once_a_tokenizer_exists(tmp_path, recording_dir):
    vqvae.save_model(tiny_model(), vqvae.vqvae_dir(tmp_path))
    rec = recording_dir / "tsta" / "ep0.jsonl"
    result = runner.invoke(app, ["inspect-tokens", str(rec), "--checkpoints", str(tmp_path), "--steps", "0:2"])
    assert result.exit_code == 0, result.output
    assert "VQ codes from" in result.output and "needs a tokenizer" not in result.output


# --------------------------------------------------------------------------- palette
def test_frames_are_drawn_in_the_toolkit_palette():
    from arc_agi.rendering import COLOR_MAP

    rgb = frame_to_rgb(np.array([[0, 9], [14, 5]]), scale=2)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert "#{:02X}{:02X}{:02X}".format(*rgb[0, 2]) == COLOR_MAP[9][:7]
    assert (PALETTE[5] == rgb[3, 3]).all()


def test_frame_grid_lays_out_labelled_rows_and_columns():
    f = synthetic_frames(1)[0]
    img = frame_grid([[f, f], [f, f], [f, f]], col_labels=["a", "b"], row_labels=["x", "y", "z"], scale=2)
    assert isinstance(img, Image.Image)
    assert img.height > 3 * 128 and img.width > 2 * 128


def test_distinct_cells_are_found_exactly():
    cells = vqvae.frames_to_cells(synthetic_frames(20, seed=2))
    distinct, inverse = vqvae.unique_cells(cells)
    assert np.array_equal(distinct[inverse], cells)
    assert len({c.tobytes() for c in cells}) == len(distinct)


def test_the_per_epoch_val_probe_is_a_fixed_sample_of_distinct_val_frames():
    from aria_cli.tokenizer.data import FrameSet
    from aria_cli.tokenizer.data import frame_sample as val_probe

    frames = np.arange(10, dtype=np.uint8)[:, None, None].repeat(64, 1).repeat(64, 2)
    val = FrameSet(frames, np.arange(1, 11), ["a", "b"])
    assert val_probe(val, 10, seed=0) is val
    probe = val_probe(val, 4, seed=0)
    assert len(probe.frames) == 4 and probe.files == ["a", "b"]
    for f, c in zip(probe.frames, probe.counts, strict=True):  # each picked frame keeps its own count
        assert c == int(f[0, 0]) + 1
    again = val_probe(val, 4, seed=0)
    assert np.array_equal(probe.frames, again.frames)
