"""Sweeps whose trials are ``minifc example`` processes: the command line each trial runs, and the summary key
that scores it (``metric``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="minifc sweep needs the sweep extra (optuna)")

import minifc.sweeps.objective as objective_module  # noqa: E402
from minifc.sweeps.errors import SweepError  # noqa: E402
from minifc.sweeps.objective import Objective  # noqa: E402
from minifc.sweeps.runners import TrialFailed, example_command  # noqa: E402
from minifc.sweeps.settings import SweepSettings  # noqa: E402

BASE = {"example": "best", "budget": 60, "precision": "auto", "num_train": 2000, "set": {"recipe": {"tier": "t1"}}}


def test_an_example_trial_runs_with_the_base_options_then_its_parameters():
    cmd = example_command("best", Path("out"), BASE, {"recipe.width": 1536, "recipe.tier": "t2"})
    args = cmd[cmd.index("example"):]
    assert args[:2] == ["example", "best"]
    for flag, value in (("--budget", "60"), ("--precision", "auto"), ("--num-train", "2000"), ("--out", "out")):
        assert args[args.index(flag) + 1] == value, args
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert sets == ["recipe.tier=t2", "recipe.width=1536"]  # a searched key replaces the base's, once
    assert "--epochs" not in args and "--seed" not in args


def _row(**values: float) -> dict:
    return {"seconds": 1.0, "epochs": 2.0, **values}


@pytest.mark.parametrize(("metric", "expected"), [("best_val_acc", 0.5), ("val_acc_tta", 0.625)])
def test_an_example_trial_is_scored_by_the_sweeps_metric(metric, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(objective_module, "run_example_trial",
                        lambda base, params, folder: _row(best_val_acc=0.5, val_acc_tta=0.625, test_acc=0.6))
    settings = SweepSettings(base=BASE, search={"recipe.width": "categorical(1024)"}, trials=1, runner="example",
                             metric=metric)
    study = optuna.create_study(direction="maximize")
    study.optimize(Objective(settings, tmp_path), n_trials=1)
    assert study.best_value == expected
    record = json.loads((tmp_path / "trials" / "0" / "trial.json").read_text())
    assert record["value"] == expected and record["test_acc"] == 0.6


def test_an_example_summary_without_the_metric_fails_the_trial_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(objective_module, "run_example_trial", lambda base, params, folder: _row(best_val_acc=0.5))
    settings = SweepSettings(base=BASE, search={"recipe.width": "categorical(1024)"}, trials=1, runner="example",
                             metric="val_acc_tta")
    study = optuna.create_study(direction="maximize")
    study.optimize(Objective(settings, tmp_path), n_trials=1, catch=(TrialFailed,))
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert "no finite val_acc_tta" in json.loads((tmp_path / "trials" / "0" / "trial.json").read_text())["reason"]


@pytest.mark.parametrize(("runner", "objective"), [("train", "best_val_acc"), ("example", "best_train_acc")])
def test_a_metric_is_refused_outside_an_example_sweeps_validation_objective(runner, objective):
    settings = SweepSettings(base=BASE, search={"lr": "loguniform(1e-3, 1e-2)"}, trials=1, runner=runner,
                             objective=objective, metric="val_acc_tta")
    with pytest.raises(SweepError, match="metric 'val_acc_tta'"):
        settings.check()
