"""Policy heads on a frozen world model whose action tokens are masked.

- `heads`: the action-type and location heads, their checkpoint;
- `features`: the frozen backbone's features, computed once and cached;
- `train`: `aria train-policy`.
"""
