"""What the three trainers (tokenizer, world model, policy) share, so each trainer holds only its stage.

- `checkpoints`: every checkpoint folder and file name (the one place that spells them), the
  folder-at-once save of `last/` and `best/`, the clean-up after a kill, and "have the inputs changed".
- `state`: the resumable state (`last/train_state.pt`): optimizer, scheduler, RNG and counters, stored
  so that it loads with `torch.load(weights_only=True)` (no pickle: a checkpoint cannot run code).
- `schedule`: the warm-up + decay learning-rate schedule.
- `loop`: the Ctrl-C contract, the live progress view, the result type, and the per-epoch log
  (metrics.jsonl plus the `--report-to` tracker).
- `budget`: turning `--time-budget` minutes into a number of steps before the first one.

Each model owns its loss (`compute_loss(batch) -> (loss, metrics)`), so a trainer knows nothing of it.
"""
