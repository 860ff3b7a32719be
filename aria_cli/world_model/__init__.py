"""The world model: a Llama-family causal LM over aria's token trajectories.

- `backbones`: the named backbones (tiny from scratch, SmolLM2-360M + LoRA, a path);
- `model`: the world model, its checkpoint and loss;
- `data`: windows of token trajectories aligned to step boundaries;
- `metrics`: teacher-forced metrics that `train-wm` and `eval` share;
- `train`: `aria train-wm`.
"""
