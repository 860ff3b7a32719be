"""Recorded play in, token trajectories out.

- `recordings`: JSONL recordings (every shape in docs/DESIGN.md §4) read into typed steps;
- `splits`: the train/val split by file that every stage shares;
- `token_cache`: recordings -> token trajectories, cached and rebuilt when stale (`aria tokenize`);
- `inspect`: what one recording becomes (`aria inspect-tokens`).
"""
