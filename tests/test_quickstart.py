"""`aria quickstart`: the whole pipeline end to end (in miniature), and a second run that redoes nothing."""

from __future__ import annotations

import json

from helpers.pipeline import VQVAE_CONFIG, WM_ARCH

from aria_cli.quickstart import QuickstartConfig, quickstart, recordings_fingerprint


def miniature(tmp_path) -> QuickstartConfig:
    return QuickstartConfig(
        data=tmp_path / "recordings", checkpoints=tmp_path / "ck", eval_dir=tmp_path / "eval",
        runs_dir=tmp_path / "runs", episodes={"qtgl": 3, "qmaz": 2}, vqvae=VQVAE_CONFIG, wm_arch=WM_ARCH,
        wm_epochs=1, policy_epochs=2, max_actions=30, device="cpu",
    )  # fmt: skip


def test_quickstart_runs_every_stage_then_reuses_what_is_up_to_date(tmp_path, capsys):
    cfg = miniature(tmp_path)
    first = quickstart(cfg)
    assert set(first["eval"]["games"]) == {"qtgl", "qmaz"}
    assert [r["game"] for r in first["runs"]] == ["qtgl", "qmaz"]
    assert all(r["actions"] > 0 and r["error"] is None for r in first["runs"])
    assert sorted(p.parent.name for p in (tmp_path / "runs").glob("*/*.jsonl")) == ["qmaz", "qtgl"]
    state = json.loads((cfg.checkpoints / "quickstart.json").read_text())
    assert set(state) == {"vqvae", "world_model", "policy"}
    assert json.loads((cfg.checkpoints / "world_model" / "best" / "config.json").read_text())["backbone"] == "tiny"
    trained = {p: p.stat().st_mtime_ns for p in cfg.checkpoints.rglob("*.safetensors")}
    capsys.readouterr()

    quickstart(cfg)
    out = capsys.readouterr().out
    for stage in ("tokenizer is up to date", "world model is up to date", "policy is up to date"):
        assert stage in out
    assert "(up to date)" in out  # recordings
    assert {p: p.stat().st_mtime_ns for p in trained} == trained  # nothing retrained


def test_the_quick_run_trains_the_tiny_backbone_on_any_device_and_the_full_run_the_devices_default(tmp_path):
    # A GPU without SmolLM2 in its Hugging Face cache must still run the quick version offline.
    assert QuickstartConfig(device="cuda").wm_backbone == "tiny"
    assert QuickstartConfig(device="cuda", full=True).wm_backbone is None  # train-wm: smollm2-360m on a GPU
    assert QuickstartConfig(backbone="/models/llama").wm_backbone == "/models/llama"


def test_a_changed_recording_changes_the_fingerprint_that_decides_reuse(tmp_path):
    data = tmp_path / "recordings" / "g"
    data.mkdir(parents=True)
    (data / "a.jsonl").write_text("{}\n")
    before = recordings_fingerprint(tmp_path / "recordings")
    (data / "a.jsonl").write_text("{} \n")
    assert recordings_fingerprint(tmp_path / "recordings") != before


def test_quickstart_keeps_the_tokenizer_schedule_its_figures_were_measured_with():
    """`aria train-vqvae`'s defaults are tuned for real games (the large model, 48 epochs); quickstart's figures
    (docs/RESULTS.md §1, §3) are those of the small model's own schedule, which a change of those defaults must not move."""
    from aria_cli.quickstart import quick_tokenizer_config
    from aria_cli.tokenizer.model import SIZES
    from aria_cli.tokenizer.train import TokenizerTrainConfig

    quick, default = quick_tokenizer_config(), TokenizerTrainConfig()
    assert (quick.epochs, quick.lr, quick.min_steps_per_epoch, quick.beta2, quick.exact_weight) == (24, 5e-3, 128, 0.999, 1.0)
    assert quick.channels == SIZES["small"]["channels"] and quick.threads == 1
    assert (default.epochs, default.channels) == (48, SIZES["large"]["channels"])
