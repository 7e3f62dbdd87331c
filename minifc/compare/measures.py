"""What a comparison measures, per seed and over seeds: best and final validation accuracy, test accuracy of the
best checkpoint (the model holds the best parameters when a run ends), training seconds and steps until the
validation accuracy first reaches the target, and the tuning sensitivity (best validation accuracy across the
tried learning rates).

Seconds are the Trainer's ``elapsed`` at the end of the epoch whose evaluation first reached the target (training
wall-clock time, earlier evaluations included); steps are its ``step_count`` then.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.run_folder import HISTORY_JSON, RESULT
from ..sweeps.objective import TRIAL_RESULT, trial_folder
from .stats import spread

__all__ = ["SeedRun", "seed_runs", "time_to_target", "default_target", "aggregate", "sensitivity", "MEASURES"]

#: the measures aggregated over seeds, with their headers
MEASURES = {
    "best_val_acc": "best val",
    "final_val_acc": "final val",
    "test_acc": "test (best ckpt)",
    "seconds_to_target": "s to target",
    "steps_to_target": "steps to target",
}


@dataclass
class SeedRun:
    """One seed's run of a candidate's best setting; ``curve``: ``[epoch, step, seconds, val acc]`` per evaluation."""

    seed: int
    best_val_acc: float
    final_val_acc: float
    test_acc: float | None
    seconds: float
    curve: list[list[float]] = field(default_factory=list)


def _read(path: Path) -> dict[str, Any]:
    try:
        got = json.loads(path.read_text())
        return got if isinstance(got, dict) else {}
    except (OSError, ValueError):
        return {}


def seed_runs(folder: Path, rows: Sequence[dict[str, Any]]) -> list[SeedRun]:
    """The completed seed trials of the seeds sweep in ``folder`` (``rows``: its trial rows), in seed order."""
    runs = []
    for row in rows:
        if row["state"] != "COMPLETE":
            continue
        trial = trial_folder(folder, int(row["number"]))
        history = _read(trial / HISTORY_JSON).get("val_acc_history") or []
        result = _read(trial / RESULT)
        curve = _read(trial / TRIAL_RESULT).get("curve") or []
        if len(curve) < len(history):  # a retried trial recorded only the epochs after its checkpoint
            curve = _estimated_curve(history, float(result.get("seconds") or 0.0), curve)
        test = result.get("test_acc")
        runs.append(SeedRun(
            seed=int(row["params"].get("seed", -1)),
            best_val_acc=float(row.get("best_val_acc") or max(history, default=math.nan)),
            final_val_acc=float(history[-1]) if history else math.nan,
            test_acc=float(test) if isinstance(test, (int, float)) and math.isfinite(test) else None,
            seconds=float(result.get("seconds") or (curve[-1][2] if curve else math.nan)),
            curve=curve,
        ))
    return sorted(runs, key=lambda r: r.seed)


def _estimated_curve(history: Sequence[float], seconds: float, known: list[list[float]]) -> list[list[float]]:
    """Epochs the recorder did not see get seconds in proportion (steps are not known: NaN)."""
    have = {int(c[0]): c for c in known}
    n = len(history)
    return [have.get(e, [e, math.nan, seconds * e / n, float(history[e - 1])]) for e in range(1, n + 1)]


def time_to_target(curve: Sequence[Sequence[float]], target: float) -> tuple[float, float] | None:
    """``(seconds, steps)`` at the first evaluation whose validation accuracy is at least ``target``; None if never."""
    for _, step, seconds, acc in curve:
        if acc >= target:
            return float(seconds), float(step)
    return None


def default_target(baseline: Sequence[SeedRun]) -> float | None:
    """The target chosen from the baseline's curves: 95% of its mean best validation accuracy, rounded down to
    0.001 (every candidate that trains about as well as the baseline reaches it)."""
    best = spread([r.best_val_acc for r in baseline if math.isfinite(r.best_val_acc)])
    if best is None or best.mean <= 0:
        return None
    return math.floor(best.mean * 0.95 * 1000) / 1000


def aggregate(runs: Sequence[SeedRun], target: float | None) -> dict[str, Any]:
    """Mean, std, min and max over seeds of each of :data:`MEASURES`; ``reached``: how many seeds reached the
    target (the time and steps are over those)."""
    reached = [hit for r in runs if target is not None and (hit := time_to_target(r.curve, target)) is not None]
    values: dict[str, list[float]] = {
        "best_val_acc": [r.best_val_acc for r in runs],
        "final_val_acc": [r.final_val_acc for r in runs],
        "test_acc": [r.test_acc for r in runs if r.test_acc is not None],
        "seconds_to_target": [s for s, _ in reached],
        "steps_to_target": [n for _, n in reached if math.isfinite(n)],
    }
    out: dict[str, Any] = {}
    for key, xs in values.items():
        found = spread([x for x in xs if math.isfinite(x)])
        out[key] = found.as_dict() if found is not None else None
    out["reached"] = len(reached)
    out["seeds"] = len(runs)
    return out


def sensitivity(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The tuning sensitivity: every tried ``lr`` with its best validation accuracy (None: failed or pruned),
    and the spread of the accuracies over the trials that completed."""
    points = [{"lr": r["params"].get("lr"), "best_val_acc": r.get("best_val_acc") if r["state"] == "COMPLETE" else None,
               "state": r["state"]} for r in rows]
    accs = [p["best_val_acc"] for p in points if isinstance(p["best_val_acc"], (int, float))]
    found = spread(accs)
    return {"points": points, "spread": found.as_dict() if found is not None else None,
            "failed": sum(1 for r in rows if r["state"] == "FAIL")}
