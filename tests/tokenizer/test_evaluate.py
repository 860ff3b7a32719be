"""A trained tokenizer measured on recordings of other games (`aria eval-tokenizer`): the de-duplicated figures
equal a direct computation over every frame in step order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.recordings import write_recording
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import read_recording
from aria_cli.tokenizer.cells import decode_network, frames_to_cells
from aria_cli.tokenizer.data import collect_frames
from aria_cli.tokenizer.evaluate import evaluate_recordings
from aria_cli.tokenizer.model import load_tokenizer
from aria_cli.tokenizer.scores import reconstruction_scores
from aria_cli.tokenizer.train import TokenizerTrainConfig, train_vqvae

runner = CliRunner()
TINY = TokenizerTrainConfig(codebook_size=32, code_dim=8, channels=(8, 8, 16), context_channels=8, context_blocks=1,
                            epochs=1, batch_size=8, lr=1e-2, min_steps_per_epoch=6, max_steps_per_epoch=6)  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(training recordings, checkpoints of a tiny tokenizer trained on them, a folder of other recordings:
    an unseen game tstc, and a copy of one of tsta's training recordings)."""
    root = tmp_path_factory.mktemp("evaluate")
    train, other = root / "train", root / "other"
    for g, gid in enumerate(["tsta-0001", "tstb-0002"]):
        for i in range(2):
            write_recording(train / gid[:4] / f"ep{i}.jsonl", n_steps=20, game_id=gid, seed=10 * g + i)
    for i in range(2):
        write_recording(other / "tstc" / f"ep{i}.jsonl", n_steps=16, game_id="tstc-0003", seed=50 + i)
    train_file = collect_frames(train).train.files[0]
    shutil.copy(train / train_file, other / "seen.jsonl")
    train_vqvae(train, root / "ck", TINY, device="cpu", quiet=True)
    return train, root / "ck", other


def _frames_by_game(folder: Path) -> dict[str, np.ndarray]:
    out: dict[str, list] = {}
    for f in sorted(folder.rglob("*.jsonl")):
        rec = read_recording(f)
        out.setdefault(rec.game, []).append(np.stack([s.frame for s in rec.steps]))
    return {g: np.concatenate(v) for g, v in out.items()}


def _cell_set(frames: np.ndarray) -> set[bytes]:
    return {c.tobytes() for c in frames_to_cells(frames)}


def test_figures_equal_a_direct_computation_over_every_frame(setup):
    train, ck, other = setup
    m = evaluate_recordings(ck, other, train_data=train)
    tok = load_tokenizer(ck)
    by_game = _frames_by_game(other)
    assert sorted(m["games"]) == sorted(by_game) == ["tsta", "tstc"]
    train_frames = np.concatenate([np.stack([s.frame for s in read_recording(train / f).steps])
                                   for f in collect_frames(train).train.files])  # fmt: skip
    train_cells = _cell_set(train_frames)
    for game, frames in by_game.items():
        direct = reconstruction_scores(tok.decode(tok.encode(frames)), frames)  # every frame, repeats and all
        g = m["games"][game]
        assert g["val_frames"] == len(frames)
        assert g["val_pixel_acc"] == pytest.approx(direct.pixel_acc)
        assert g["val_frame_exact"] == pytest.approx(direct.frame_exact)
        assert g["val_foreground_pixel_acc"] == pytest.approx(direct.foreground_acc)
        new = sum(c.tobytes() not in train_cells for c in frames_to_cells(frames))
        assert g["val_cells_unseen"] == pytest.approx(new / (64 * len(frames)))
    everything = np.concatenate(list(by_game.values()))
    direct = reconstruction_scores(tok.decode(tok.encode(everything)), everything)
    assert m["val_frames"] == len(everything) and m["val_files"] == 3
    assert m["val_pixel_acc"] == pytest.approx(direct.pixel_acc) and m["val_pixel_acc"] < 1.0  # the tiny model errs
    assert m["val_frame_exact"] == pytest.approx(direct.frame_exact)
    assert m["val_foreground_pixel_acc"] == pytest.approx(direct.foreground_acc)
    alone = reconstruction_scores(decode_network(tok.model, tok.encode(everything)), everything)  # without the memory
    assert m["decoder_memory_entries"] > 0
    assert m["val_pixel_acc_network"] == pytest.approx(alone.pixel_acc) and m["val_frame_exact_network"] == pytest.approx(alone.frame_exact)
    new = sum(c.tobytes() not in train_cells for c in frames_to_cells(everything))
    assert m["val_cells_unseen"] == pytest.approx(new / (64 * len(everything)))


def test_a_game_recorded_in_training_has_no_new_cells_and_an_unseen_one_has(setup):
    train, ck, other = setup
    games = evaluate_recordings(ck, other, train_data=train)["games"]
    assert games["tsta"]["val_cells_unseen"] == 0.0  # the very recording it trained on
    assert games["tstc"]["val_cells_unseen"] > 0.0


def test_without_the_training_recordings_the_new_cell_share_is_not_reported(setup):
    _, ck, other = setup
    m = evaluate_recordings(ck, other)
    assert m["val_cells_unseen"] is None and all(g["val_cells_unseen"] is None for g in m["games"].values())
    assert m["val_pixel_acc"] == pytest.approx(evaluate_recordings(ck, other, train_data=setup[0])["val_pixel_acc"])


def test_command_prints_the_per_game_table_and_writes_the_json(setup, tmp_path):
    train, ck, other = setup
    out = tmp_path / "eval.json"
    r = runner.invoke(app, ["eval-tokenizer", "--data", str(other), "--checkpoints", str(ck), "--train-data", str(train),
                            "--json", str(out), "--device", "cpu"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "tstc" in r.output and "pixel accuracy" in r.output and "cells new to training" in r.output
    assert "the decoder alone" in r.output  # the memory's share of the figures is shown, not hidden
    written = json.loads(out.read_text())
    direct = evaluate_recordings(ck, other, train_data=train)
    assert written["val_pixel_acc"] == pytest.approx(direct["val_pixel_acc"])
    assert written["games"]["tstc"]["val_cells_unseen"] == pytest.approx(direct["games"]["tstc"]["val_cells_unseen"])


def _one_line_error(r, *needles: str) -> None:
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    for n in needles:
        assert n in lines[0]


def test_a_missing_tokenizer_is_one_line(setup, tmp_path):
    r = runner.invoke(app, ["eval-tokenizer", "--data", str(setup[2]), "--checkpoints", str(tmp_path), "--device", "cpu"])
    _one_line_error(r, "train-vqvae", str(tmp_path / "vqvae"))


def test_a_folder_without_recordings_is_one_line(setup, tmp_path):
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["eval-tokenizer", "--data", str(tmp_path / "empty"), "--checkpoints", str(setup[1]),
                            "--device", "cpu"])  # fmt: skip
    _one_line_error(r, "no recordings", str(tmp_path / "empty"))


def test_a_bad_recording_names_its_file_and_skip_bad_passes_over_it(setup, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(setup[2], data)
    (data / "broken.jsonl").write_text("not json\n")
    r = runner.invoke(app, ["eval-tokenizer", "--data", str(data), "--checkpoints", str(setup[1]), "--device", "cpu"])
    _one_line_error(r, "broken.jsonl")
    with pytest.raises(AriaError, match="broken.jsonl"):
        evaluate_recordings(setup[1], data)
    assert evaluate_recordings(setup[1], data, skip_bad=True)["val_files"] == 3
