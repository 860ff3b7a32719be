"""Agents playing games through the toolkit: one run, comparisons, scores.

- `run`: `aria play`;
- `compare`: every game x agent x seed at a fixed action budget, in one table.
"""
