"""World-model presets are data, looked up by name; train-wm and the CLI's help read them."""

from __future__ import annotations

import re

from helpers.world_model import rule_cache
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.world_model.backbones import PRESETS as HUB_IDS
from aria_cli.world_model.backbones import default_backbone
from aria_cli.world_model.presets import PRESETS, SMOLLM2, TINY, Preset
from aria_cli.world_model.train import WorldModelTrainConfig, _resolved


def test_presets_are_looked_up_by_name_and_any_other_backbone_gets_the_pretrained_settings():
    assert Preset.from_name(TINY).context_steps == 4 and Preset.from_name(TINY).lora_rank is None
    assert Preset.from_name(SMOLLM2).source == HUB_IDS[SMOLLM2] == "HuggingFaceTB/SmolLM2-360M"
    assert Preset.from_name("/models/my-llama") == PRESETS[SMOLLM2]
    assert default_backbone("cpu") == TINY and default_backbone("cuda") == SMOLLM2


def test_unset_options_take_the_presets_values_and_set_ones_win(tmp_path):
    cache = rule_cache(tmp_path)
    for name, p in PRESETS.items():
        run = _resolved(WorldModelTrainConfig(backbone=name), "cpu", 1, cache)
        lora = None if name == TINY else p.lora_rank
        assert (run["context_steps"], run["batch_size"], run["lr"], run["lora_rank"]) == (
            p.context_steps, p.batch_size, p.lr, lora)  # fmt: skip
    run = _resolved(WorldModelTrainConfig(backbone=SMOLLM2, context_steps=7, lora_rank=4), "cpu", 1, cache)
    assert run["context_steps"] == 7 and run["lora_rank"] == 4


def test_the_help_shows_each_presets_defaults():
    out = " ".join(CliRunner().invoke(app, ["train-wm", "--help"], terminal_width=200).output.split())
    out = re.sub(r"[│]", "", out)
    out = " ".join(out.split())
    for name, p in PRESETS.items():
        assert f"{name} {p.context_steps}" in out and f"{name} {p.lr}" in out
