"""The comparison's plots, when matplotlib is installed (``pip install 'minifc[plots]'``): validation curves with
a band over seeds (mean, min to max), best validation accuracy against the tried learning rates, and the
seconds to the target as bars (mean ± std over the seeds that reached it)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["PLOTS", "write_plots"]

PLOTS = ("curves.png", "acc_vs_lr.png", "time_to_target.png")


def write_plots(folder: Path, summary: Mapping[str, Any]) -> tuple[list[Path], list[str]]:
    """The plots in ``folder/plots``; returns the files written and notes (matplotlib missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], ["plots need matplotlib: pip install 'minifc[plots]'"]
    out = folder / "plots"
    out.mkdir(exist_ok=True)
    ranked = sorted((e for e in summary["candidates"] if e["status"] == "ranked"), key=lambda e: e["rank"])
    tuned = [e for e in summary["candidates"] if e.get("tuning")]
    written = []
    for name, draw, entries in (("curves.png", _curves, ranked), ("acc_vs_lr.png", _acc_vs_lr, tuned),
                                ("time_to_target.png", _time_bars, ranked)):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        try:
            draw(ax, entries, summary)
            fig.savefig(out / name, dpi=100, bbox_inches="tight")
            written.append(out / name)
        finally:
            plt.close(fig)
    return written, []


def _curves(ax: Any, entries: list[dict[str, Any]], summary: Mapping[str, Any]) -> None:
    for e in entries:
        curves = [[c[3] for c in s["curve"]] for s in e["seeds"] if s["curve"]]
        n = min((len(c) for c in curves), default=0)
        if not n:
            continue
        epochs = list(range(1, n + 1))
        cols = [[c[i] for c in curves] for i in range(n)]
        mean = [sum(col) / len(col) for col in cols]
        line = ax.plot(epochs, mean, label=f"{e['candidate']} ({len(curves)} seeds)")[0]
        ax.fill_between(epochs, [min(col) for col in cols], [max(col) for col in cols], alpha=0.2,
                        color=line.get_color())
    target = summary["target"]["val_acc"]
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy (mean, band: min to max)")
    ax.legend(fontsize=8)


def _acc_vs_lr(ax: Any, entries: list[dict[str, Any]], summary: Mapping[str, Any]) -> None:
    for e in entries:
        points = sorted((p["lr"], p["best_val_acc"]) for p in e["tuning"]["points"]
                        if isinstance(p["lr"], float) and isinstance(p["best_val_acc"], (int, float)))
        failed = [p["lr"] for p in e["tuning"]["points"] if p["best_val_acc"] is None and isinstance(p["lr"], float)]
        line = ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=e["candidate"])[0]
        if failed:
            ax.plot(failed, [0.0] * len(failed), marker="x", linestyle="", color=line.get_color())
    ax.set_xscale("log")
    ax.set(xlabel="learning rate (x: failed or pruned)", ylabel="best validation accuracy",
           title="Tuning: accuracy across the tried learning rates")
    ax.legend(fontsize=8)


def _time_bars(ax: Any, entries: list[dict[str, Any]], summary: Mapping[str, Any]) -> None:
    names, means, errs, notes = [], [], [], []
    for e in entries:
        m = e["measures"]["seconds_to_target"]
        names.append(e["candidate"])
        means.append(m["mean"] if m else 0.0)
        errs.append(m["std"] if m else 0.0)
        notes.append(f"{e['measures']['reached']}/{e['measures']['seeds']}")
    bars = ax.bar(names, means, yerr=errs, capsize=4)
    for bar, note, mean in zip(bars, notes, means, strict=True):  # at the foot: the error bar stays readable
        ax.annotate(f"{note} seeds" if mean else f"never ({note})", (bar.get_x() + bar.get_width() / 2, 0.0),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=8)
    target = summary["target"]["val_acc"]
    what = f"{target:g}" if target is not None and math.isfinite(target) else "-"
    ax.set(ylabel="training seconds", title=f"Time to validation accuracy {what} (mean ± std; seeds that reached it)")
    ax.tick_params(axis="x", labelrotation=20)
