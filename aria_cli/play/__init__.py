"""Agents playing games through the toolkit: one run, comparisons, scores.

- `run`: `aria play`;
- `compare`: every game x agent x seed at a fixed action budget, in one table;
- `score`: the official ARC-AGI-3 score of a run (the arc-agi toolkit's calculator);
- `bench`: `aria bench`, agents on a whole folder of games in worker processes, resumable and shardable;
- `bench_report`: the bench's summary.json, table.txt and PNG.
"""
