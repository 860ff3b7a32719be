"""Offline evaluation on val recordings: metrics per game and the decision gates.

- `evaluate`: `aria eval`;
- `gates`: per-game thresholds on the eval metrics.
"""
