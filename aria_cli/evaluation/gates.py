"""Decision gates: per-game thresholds on the eval metrics, with defaults from docs/DESIGN.md §9.

A gates file is a small TOML table of metric = threshold (a fraction in [0, 1]):

    [gates]
    frame_acc = 0.85
    policy_type_acc = 0.6

Metrics not named keep their defaults. Location gates apply to click games only (a game without
clicks has no location metric, and its location gates are "n/a", not failures).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from aria_cli.common.errors import AriaError

DEFAULT_GATES: dict[str, float] = {
    "frame_acc": 0.80,
    "action_type_acc": 0.50,
    "action_loc_acc": 0.40,
    "policy_type_acc": 0.50,
    "policy_loc_acc": 0.40,
}


def load_gates(path: Path | None) -> dict[str, float]:
    gates = dict(DEFAULT_GATES)
    if path is None:
        return gates
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise AriaError(f"--gates {path}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise AriaError(f"--gates {path}: not valid TOML ({e})") from None
    table = raw.get("gates", raw)
    for name, value in table.items():
        if name not in DEFAULT_GATES:
            raise AriaError(f"--gates {path}: unknown metric {name!r} (known: {', '.join(DEFAULT_GATES)})")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise AriaError(f"--gates {path}: {name} must be a fraction between 0 and 1, got {value!r}")
        gates[name] = float(value)
    return gates


def check_gates(metrics: dict, gates: dict[str, float]) -> dict[str, bool | None]:
    """PASS (True) when the metric is strictly above its threshold; None when the metric does not apply
    (no clicks) or could not be measured (no data)."""
    out: dict[str, bool | None] = {}
    for name, threshold in gates.items():
        value = metrics.get(name)
        out[name] = None if value is None else bool(value > threshold)
    return out
