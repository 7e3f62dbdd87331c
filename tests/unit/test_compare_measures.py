"""minifc.compare.measures: time and steps to the target from a run's curve, the default target from the
baseline, the aggregate over seeds and the tuning sensitivity."""

from __future__ import annotations

import pytest

from minifc.compare.measures import SeedRun, aggregate, default_target, sensitivity, time_to_target

CURVE = [[1, 10, 1.5, 0.20], [2, 20, 3.0, 0.35], [3, 30, 4.5, 0.41]]


def run(seed: int, best: float, curve=CURVE, test=0.3) -> SeedRun:
    return SeedRun(seed=seed, best_val_acc=best, final_val_acc=curve[-1][3], test_acc=test, seconds=curve[-1][2],
                   curve=curve)


def test_time_to_target_is_the_first_evaluation_at_or_above_it():
    assert time_to_target(CURVE, 0.35) == (3.0, 20.0)
    assert time_to_target(CURVE, 0.1) == (1.5, 10.0)
    assert time_to_target(CURVE, 0.5) is None


def test_the_default_target_is_95_percent_of_the_baselines_mean_best_rounded_down():
    assert default_target([run(1, 0.40), run(2, 0.42)]) == pytest.approx(0.389)
    assert default_target([]) is None


def test_aggregate_counts_the_seeds_that_reached_the_target():
    slow = [[1, 10, 2.0, 0.1], [2, 20, 4.0, 0.2]]
    got = aggregate([run(1, 0.41), run(2, 0.2, curve=slow, test=None)], target=0.35)
    assert got["reached"] == 1 and got["seeds"] == 2
    assert got["seconds_to_target"]["mean"] == 3.0 and got["steps_to_target"]["mean"] == 20.0
    assert got["best_val_acc"]["mean"] == pytest.approx(0.305) and got["best_val_acc"]["min"] == 0.2
    assert got["test_acc"]["n"] == 1


def test_sensitivity_spreads_over_completed_trials_and_counts_failures():
    rows = [{"state": "COMPLETE", "best_val_acc": 0.3, "params": {"lr": 1e-3}},
            {"state": "COMPLETE", "best_val_acc": 0.1, "params": {"lr": 1e-1}},
            {"state": "FAIL", "best_val_acc": None, "params": {"lr": 1.0}}]
    got = sensitivity(rows)
    assert got["failed"] == 1 and [p["best_val_acc"] for p in got["points"]] == [0.3, 0.1, None]
    assert got["spread"]["max"] - got["spread"]["min"] == pytest.approx(0.2)
