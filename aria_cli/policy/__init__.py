"""Policy heads on a frozen world model whose action tokens are masked.

- `heads`: the action-type and location heads (their loss: `compute_loss`), their checkpoint;
- `features`: the frozen backbone's features, computed once and cached, and loading them for scoring;
- `metrics`: predictions and accuracy per game beside the baselines (train-policy and eval share them);
- `train`: `aria train-policy` (on aria_cli.training).
"""
