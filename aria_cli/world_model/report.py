"""What train-wm shows and writes about a run: the line per epoch, the val table, curves.png, metrics.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aria_cli.common.ui import pct
from aria_cli.world_model.metrics import ALL, metrics_table


def val_table(val: dict | None, epoch: int):
    if val is None:
        from rich.text import Text

        return Text("no val recordings: every game has a single recording", style="dim")
    return metrics_table(val, title=f"val metrics after epoch {epoch}")


def epoch_line(r: dict, improved: bool) -> str:
    v = r["val"][ALL] if r["val"] else None
    parts = [
        f"epoch {r['epoch']}",
        f"train loss {r['train_loss']:.3f}",
        f"val loss {r['val_loss']:.3f}" if r["val_loss"] is not None else "no val",
    ]
    if v:
        parts.append(f"frame {pct(v['frame_acc'])} (copy {pct(v['copy_frame_acc'])})")
        parts.append(f"type {pct(v['action_type_acc'])}")
    parts.append(f"{r['tokens_per_s']:,.0f} tok/s, {r['epoch_s']:.0f}s")
    return " · ".join(parts) + (" [green]best[/]" if improved else "")


def throughput_line(history: list[dict]) -> str:
    """The run's training throughput: tokens of the training steps over their time (validation left out)."""
    tokens = sum(r.get("train_tokens", 0) for r in history)
    seconds = sum(r.get("train_s", 0.0) for r in history)
    return f"trained on {tokens:,} tokens in {seconds:,.1f} s of training steps: {tokens / max(seconds, 1e-9):,.0f} tok/s"


def final_summary(p) -> dict:
    """metrics.json: the val metrics after the last epoch and those of the best one."""
    final = p.history[-1]["val"] if p.history else None
    best = p.history[p.best_epoch - 1]["val"] if p.best_epoch and p.best_epoch <= len(p.history) else None
    return {"epochs": p.epochs, "best_epoch": p.best_epoch, "final": final, "best": best}


def curves_writer(history: list[dict]):
    """An `atomic.write_with` writer of the loss and val accuracy per epoch as a PNG (matplotlib, off-screen)."""

    def write(path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = _figure(plt, history)
        fig.savefig(path, format="png", dpi=90)
        plt.close(fig)

    return write


def _figure(plt, history: list[dict]):
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], label="train")
    if any(h["val_loss"] is not None for h in history):
        a.plot(ep, [h["val_loss"] for h in history], label="val")
    a.set_xlabel("epoch")
    a.set_ylabel("weighted loss")
    a.legend()
    a.grid(alpha=0.3)
    for key, label in (("frame_acc", "frame"), ("copy_frame_acc", "copy baseline"), ("changed_acc", "changed"),
                       ("action_type_acc", "action type"), ("action_loc_acc", "action loc")):  # fmt: skip
        ys = [h["val"][ALL][key] if h["val"] else None for h in history]
        if any(y is not None for y in ys):
            b.plot(ep, [np.nan if y is None else y for y in ys], label=label, ls="--" if key == "copy_frame_acc" else "-")
    b.set_xlabel("epoch")
    b.set_ylabel("val accuracy")
    b.set_ylim(0, 1)
    if b.get_legend_handles_labels()[0]:
        b.legend()
    else:  # every recording in training (one per game): nothing to plot
        b.text(0.5, 0.5, "no val split", ha="center", va="center", transform=b.transAxes)
    b.grid(alpha=0.3)
    fig.tight_layout()
    return fig
