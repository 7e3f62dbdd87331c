"""The outcome of a comparison as one dict (``summary.json``): the target, every candidate's measures, the
ranking by mean best validation accuracy over seeds, and which candidates are within noise of each other.

Noise test: Welch's unequal-variances t-test on the per-seed best validation accuracies, two-sided, at
:data:`minifc.compare.stats.ALPHA` (:mod:`minifc.compare.stats`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from .measures import SeedRun, aggregate, default_target, seed_runs, sensitivity
from .protocol import CandidateRun
from .screening import Verdict
from .stats import ALPHA, welch

__all__ = ["NOISE_TEST", "summarize"]

NOISE_TEST = (f"Welch's unequal-variances t-test on the best validation accuracy over seeds, two-sided, "
              f"alpha {ALPHA:g}: p >= {ALPHA:g} means within noise")


def _test(a: Sequence[SeedRun], b: Sequence[SeedRun]) -> dict[str, Any] | None:
    xs = [r.best_val_acc for r in a if math.isfinite(r.best_val_acc)]
    ys = [r.best_val_acc for r in b if math.isfinite(r.best_val_acc)]
    if len(xs) < 2 or len(ys) < 2:
        return None
    w = welch(xs, ys)
    return {"t": w.t, "df": w.df, "p": w.p, "within_noise": w.within_noise}


def summarize(verdicts: Sequence[Verdict], runs: Sequence[CandidateRun], target: float | None) -> dict[str, Any]:
    """The comparison's outcome; ``target``: the one given (None: 95% of the baseline's mean best val acc, the
    baseline being the first candidate with seed runs)."""
    seeds = {r.candidate.slug: seed_runs(r.seeds.folder, r.seeds.rows) if r.seeds else [] for r in runs}
    source = "given (--target)"
    if target is None:
        baseline = next((r for r in runs if seeds[r.candidate.slug]), None)
        if baseline is not None:
            target = default_target(seeds[baseline.candidate.slug])
            source = f"95% of the mean best val acc of the baseline, {baseline.candidate.label}, rounded down"
    entries = []
    for verdict in verdicts:
        entry: dict[str, Any] = {"candidate": verdict.candidate.label, "slug": verdict.candidate.slug,
                                 "values": verdict.candidate.values, "verified": verdict.ok}
        if not verdict.ok:
            entries.append({**entry, "status": "excluded", "reason": verdict.reason})
            continue
        if verdict.unchecked:
            entry["unchecked"] = verdict.unchecked
        run = next(r for r in runs if r.candidate.slug == verdict.candidate.slug)
        entry["search"] = run.search
        entry["tuning"] = sensitivity(run.tune.rows) if run.tune else None
        if run.best is not None:
            entry["best_setting"] = {"trial": run.best["number"], "params": run.best["params"],
                                     "tuning_val_acc": run.best["value"]}
        got = seeds[verdict.candidate.slug]
        if not got:
            entries.append({**entry, "status": "failed", "reason": run.failure or "no seed run completed"})
            continue
        entry.update(status="ranked", measures=aggregate(got, target), seeds=[asdict(s) for s in got])
        entries.append(entry)
    ranked = sorted((e for e in entries if e["status"] == "ranked"),
                    key=lambda e: -e["measures"]["best_val_acc"]["mean"])
    by_slug = seeds
    for i, e in enumerate(ranked):
        e["rank"] = i + 1
        e["vs_best"] = _test(by_slug[e["slug"]], by_slug[ranked[0]["slug"]]) if i else None
    pairs = []
    for i, a in enumerate(ranked):
        for b in ranked[i + 1:]:
            test = _test(by_slug[a["slug"]], by_slug[b["slug"]])
            if test is not None:
                pairs.append({"a": a["candidate"], "b": b["candidate"], **test})
    return {
        "noise_test": NOISE_TEST,
        "target": {"val_acc": target, "source": source},
        "ranking": [e["candidate"] for e in ranked],
        "candidates": entries,
        "pairs": pairs,
    }
