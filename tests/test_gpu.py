"""The GPU path (bf16, a pretrained backbone with LoRA), end to end through the real code of every stage.

These run only where torch sees a CUDA GPU (CI has none: they are skipped there). The backbone is a small
random Llama saved with save_pretrained — the same loading code as SmolLM2-360M, without a download;
benchmarks/bench_gpu.py measures SmolLM2-360M's own shape.
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers.pipeline import VQVAE_CONFIG
from helpers.world_model import save_tiny_llama
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.games.record import record_game
from aria_cli.policy.train import PolicyTrainConfig, train_policy
from aria_cli.tokenizer.train import train_vqvae
from aria_cli.world_model.model import WorldModel
from aria_cli.world_model.train import WorldModelTrainConfig, train_world_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def gpu_pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu")
    data, ck = root / "recordings", root / "checkpoints"
    for i, (game, n) in enumerate({"qtgl": 4, "qmaz": 3}.items()):
        record_game(game, episodes=n, noise=0.05, seed=10 * i, out_dir=data / game, quiet=True)
    train_vqvae(data, ck, VQVAE_CONFIG, device="cuda", quiet=True)
    backbone = save_tiny_llama(root / "llama", vocab_size=300)
    train_world_model(WorldModelTrainConfig(data=data, checkpoints=ck, device="cuda", backbone=str(backbone), epochs=1,
                                            context_steps=4, batch_size=4, lora_rank=4, show=False))  # fmt: skip
    train_policy(PolicyTrainConfig(data=data, checkpoints=ck, epochs=3, device="cuda"))
    return root


def test_the_world_model_trains_in_bf16_with_lora_and_loads_back_on_the_gpu(gpu_pipeline):
    folder = gpu_pipeline / "checkpoints" / "world_model" / "best"
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["base"] == 300 and cfg["lora"]["rank"] == 4
    wm = WorldModel.load(folder, device="cuda")
    lm_dtypes = {p.dtype for n, p in wm.named_parameters() if "lora_" not in n and "trainable_tokens" not in n}
    assert torch.bfloat16 in lm_dtypes  # the frozen backbone stays in bf16 on a GPU
    tokens = torch.randint(0, 590, (1, 4 * 69 + 1), device="cuda")
    with torch.no_grad():
        full = wm.logits(tokens)[0, 200:].float()
        cached, _ = wm.extend(wm.prefill(tokens[:, :200]), tokens[:, 200:])
    assert full.isfinite().all()
    # bf16 sums in another order differ in the last bits; the decisions must not.
    assert (cached[0].float().argmax(-1) == full.argmax(-1)).float().mean() >= 0.97
    assert (cached[0].float() - full).abs().max() < 0.25 * full.abs().max()


def test_eval_and_play_run_on_the_gpu(gpu_pipeline, tmp_path):
    ck, data = gpu_pipeline / "checkpoints", gpu_pipeline / "recordings"
    out = tmp_path / "eval.json"
    r = CliRunner().invoke(app, ["eval", "--all-games", "--data", str(data), "--checkpoints", str(ck), "--device",
                                 "cuda", "--json", str(out), "--out", str(tmp_path / "eval")])  # fmt: skip
    assert r.exit_code == 0, r.output
    games = json.loads(out.read_text())["games"]
    assert set(games) == {"qtgl", "qmaz"}
    assert all(0.0 <= g["frame_acc"] <= 1.0 for g in games.values())

    run = tmp_path / "play.json"
    r = CliRunner().invoke(app, ["play", "qmaz", "--checkpoints", str(ck), "--device", "cuda", "--max-actions", "60",
                                 "--render", "none", "--json", str(run), "--record-dir", str(tmp_path / "runs")])  # fmt: skip
    assert r.exit_code == 0, r.output
    result = json.loads(run.read_text())
    assert result["actions"] == 60 and result["ms_per_action"] > 0
