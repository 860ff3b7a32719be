"""The three trainers run at test size, in this process or as a subprocess (`python -m
helpers.training_runs STAGE ...`), so a test can kill a real training process and resume its run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from aria_cli.policy.train import PolicyTrainConfig, train_policy
from aria_cli.tokenizer.train import TokenizerTrainConfig, train_vqvae
from aria_cli.training.checkpoints import PAUSE_ENV
from aria_cli.world_model.backbones import TinyArch
from aria_cli.world_model.train import WorldModelTrainConfig, train_world_model
from helpers.world_model import rule_cache

TOKENIZER = TokenizerTrainConfig(codebook_size=32, code_dim=8, channels=(8, 8, 16), context_channels=8, context_blocks=1,
                                 epochs=3, batch_size=8, lr=1e-2, patience=99, min_steps_per_epoch=6,
                                 max_steps_per_epoch=6)  # fmt: skip
WM_ARCH = TinyArch(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
TESTS = Path(__file__).resolve().parents[1]


def tokenizer(data: Path, checkpoints: Path, resume: bool = False, **kw):
    cfg = TokenizerTrainConfig(**{**TOKENIZER.__dict__, **kw})
    return train_vqvae(data, checkpoints, cfg, device="cpu", resume=resume, quiet=True)


def world_model_cache(root: Path):
    return rule_cache(root / "cache", games={"tsta": 3, "tstb": 3}, n_actions=12)


def world_model(root: Path, checkpoints: Path, resume: bool = False, **kw):
    base = dict(checkpoints=checkpoints, epochs=3, context_steps=3, batch_size=4, arch=WM_ARCH, device="cpu",
                show=False, time_budget=0, resume=resume)  # fmt: skip
    cfg = WorldModelTrainConfig(**{**base, **kw})
    return train_world_model(cfg, cache=world_model_cache(root))


def policy(data: Path, checkpoints: Path, resume: bool = False, **kw):
    cfg = PolicyTrainConfig(**{**dict(data=data, checkpoints=checkpoints, epochs=4, device="cpu", resume=resume), **kw})
    return train_policy(cfg)


def kill_during_save_of_last(stage: str, args: list[str], ready: Path, nth: int, when: str = "files") -> None:
    """Run STAGE in a subprocess that pauses in its `nth` save of `last/` (between two files, or with
    `when="swap"` once the new folder is complete), then SIGKILL it there."""
    env = {**os.environ, PAUSE_ENV: f"{ready}:{nth}:{when}",
           "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "helpers.training_runs", stage, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=TESTS)  # fmt: skip
    deadline = time.time() + 400
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the save (rc {proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("the run never reached the save")
        time.sleep(0.1)
    proc.kill()  # SIGKILL
    proc.wait()
    proc.stderr.close()


if __name__ == "__main__":
    stage, a, b = sys.argv[1:4]
    {"tokenizer": tokenizer, "world_model": world_model, "policy": policy}[stage](Path(a), Path(b))
