"""A whole trained pipeline in miniature, made by the tests through the real code of every stage:
toolkit recordings of two bundled games → tokenizer → token cache → world model → policy heads.

Tiny sizes so it trains in well under a minute on a CPU; the models are small, not mocked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aria_cli.games.record import record_game
from aria_cli.policy.train import PolicyTrainConfig, train_policy
from aria_cli.tokenizer.train import TokenizerTrainConfig, train_vqvae
from aria_cli.world_model.backbones import TinyArch
from aria_cli.world_model.train import WorldModelTrainConfig, train_world_model

GAMES = {"qtgl": 4, "qmaz": 3}  # a click game and a navigation game
WM_ARCH = TinyArch(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96)
VQVAE_CONFIG = TokenizerTrainConfig(codebook_size=64, code_dim=8, channels=(8, 8, 16), epochs=2, batch_size=256,
                                    lr=1e-2, min_steps_per_epoch=10, max_steps_per_epoch=10)  # fmt: skip


@dataclass
class Pipeline:
    data: Path
    checkpoints: Path
    policy_metrics: dict


def build_pipeline(root: Path) -> Pipeline:
    data, ck = root / "recordings", root / "checkpoints"
    for i, (game, n) in enumerate(GAMES.items()):
        record_game(game, episodes=n, noise=0.05, seed=10 * i, out_dir=data / game, quiet=True)
    train_vqvae(data, ck, VQVAE_CONFIG, quiet=True)
    train_world_model(WorldModelTrainConfig(data=data, checkpoints=ck, epochs=1, context_steps=4, batch_size=4,
                                            arch=WM_ARCH, show=False, time_budget=0, device="cpu"))
    metrics = train_policy(PolicyTrainConfig(data=data, checkpoints=ck, epochs=3, device="cpu")).metrics
    return Pipeline(data, ck, metrics)


def file_hashes(folder: Path) -> dict[str, str]:
    """Every file under `folder` by its content hash: play must leave the checkpoints byte for byte."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
