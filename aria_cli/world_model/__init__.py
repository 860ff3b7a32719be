"""The world model: a Llama-family causal LM over aria's token trajectories.

- `presets`: the named presets as data (tiny, smollm2-360m): backbone and training settings;
- `backbones`: building a backbone (tiny from scratch, SmolLM2-360M + LoRA, a path);
- `model`: the world model (its loss: `compute_loss`) and its checkpoint; `loss`: the weighted
  next-token loss; `layers`: the KV-cached stepping state, cell index and location pointer;
- `data`: windows of token trajectories aligned to step boundaries;
- `metrics`: teacher-forced metrics that `train-wm` and `eval` share;
- `train`: `aria train-wm` (on aria_cli.training); `steps`: one epoch on Accelerate and where a run
  stands; `report`: the epoch line, val table, curves.png and metrics.json.
"""
