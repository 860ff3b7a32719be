"""The world model's named presets, as data: `Preset.from_name("smollm2-360m")`.

A preset fixes the backbone and the training settings that suit it; `aria train-wm` options left unset
take its values, and the CLI's help reads them from here. Any other `--backbone` (a local path or hub id
of a Llama-family LM) trains with the settings of the pretrained preset. Kept free of torch so that
`aria --help` stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass

TINY = "tiny"
SMOLLM2 = "smollm2-360m"


@dataclass(frozen=True)
class Preset:
    name: str
    source: str | None  # hub id of a pretrained backbone; None: built from scratch (TinyArch)
    context_steps: int  # steps per training window
    batch_size: int  # windows per process per step
    lr: float  # peak learning rate
    lora_rank: int | None  # None: every weight trains (no LoRA)
    lora_alpha: int | None

    @classmethod
    def from_name(cls, name: str) -> Preset:
        """The preset called `name`; any other backbone name gets the pretrained preset's settings."""
        return PRESETS.get(name, PRESETS[SMOLLM2])

    @classmethod
    def for_device(cls, device_type: str) -> Preset:
        """The default on this kind of device: tiny on a CPU, SmolLM2 on a GPU."""
        return PRESETS[TINY if device_type == "cpu" else SMOLLM2]


PRESETS = {
    TINY: Preset(TINY, None, context_steps=4, batch_size=8, lr=2e-3, lora_rank=None, lora_alpha=None),
    # 29 steps ≈ 2048 tokens (docs/DESIGN.md §6); LoRA alpha = 2 x rank.
    SMOLLM2: Preset(SMOLLM2, "HuggingFaceTB/SmolLM2-360M", context_steps=29, batch_size=8, lr=2e-4, lora_rank=16,
                    lora_alpha=32),  # fmt: skip
}
