"""``minifc sweep`` in-process: trials are run folders that ``minifc train --config`` repeats, best.toml, failed
and pruned trials, presets in quick mode, and the refusals (each one line naming the culprit)."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest

optuna = pytest.importorskip("optuna", reason="minifc sweep needs the sweep extra (optuna)")

from sweep_helpers import summary, tiny_args  # noqa: E402

from minifc.io.run_folder import claim  # noqa: E402
from minifc.sweeps.objective import Objective  # noqa: E402
from minifc.sweeps.settings import SweepSettings  # noqa: E402
from minifc.testing import invoke_cli  # noqa: E402


def test_trials_are_runs_and_best_toml_repeats_the_best_trial(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    result = invoke_cli(*tiny_args(tiny_cifar, out, trials=2))
    assert result.exit_code == 0, result.output
    s = summary(out)
    assert s["states"] == {"COMPLETE": 2} and len(s["all"]) == 2
    best = s["best"][0]
    trial = out / "trials" / str(best["number"])
    for name in ("config.json", "history.json", "checkpoint.pt", "result.json", "history.png"):
        assert (trial / name).is_file(), name
    assert "best val" in result.output and f"{best['best_val_acc']:.4f}" in result.output
    for name in ("optimization_history.png", "parallel_coordinate.png", "intermediate_values.png"):
        assert (out / "plots" / name).is_file(), name
    again = invoke_cli("train", "--config", str(out / "best.toml"), "--out", str(tmp_path / "again"), "--quiet")
    assert again.exit_code == 0, again.output
    repeated = json.loads((tmp_path / "again" / "result.json").read_text())
    assert repeated["best_val_acc"] == best["best_val_acc"]
    trial_result = json.loads((trial / "result.json").read_text())
    assert repeated["test_acc"] == trial_result["test_acc"]


def test_a_diverging_trial_is_recorded_failed_with_its_reason_and_the_sweep_goes_on(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--search", "weight_scale=categorical(1e-2, 1e30)", "--epochs", "1", "--data", str(tiny_cifar),
            "--trials", "3", "--out", str(out), "--quiet", "--seed", "0"]
    result = invoke_cli(*args)
    assert result.exit_code == 0, result.output
    rows = summary(out)["all"]
    assert len(rows) == 3
    failed = [r for r in rows if r["state"] == "FAIL"]
    assert failed and all(r["params"]["weight_scale"] == 1e30 and r["reason"] for r in failed), rows
    assert any(r["state"] == "COMPLETE" for r in rows), rows
    assert "failed" in result.output


def test_pruning_stops_a_bad_trial_cleanly_and_records_it_pruned(tiny_cifar, tmp_path):
    settings = SweepSettings(base={"data": str(tiny_cifar), "epochs": 4, "hidden": [8]},
                             search={"lr": "categorical(1e-9)"}, trials=2, pruner="median")
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    distributions = {"lr": optuna.distributions.CategoricalDistribution([1e-9])}
    study.add_trial(optuna.trial.create_trial(params={"lr": 1e-9}, distributions=distributions, value=1.0,
                                              intermediate_values={1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}))
    study.optimize(Objective(settings, tmp_path), n_trials=1)
    trial = study.trials[1]
    assert trial.state == optuna.trial.TrialState.PRUNED
    history = json.loads((tmp_path / "trials" / "1" / "history.json").read_text())
    assert len(history["val_acc_history"]) == 1  # stopped after its first evaluation, of 4 epochs
    assert json.loads((tmp_path / "trials" / "1" / "trial.json").read_text())["state"] == "PRUNED"


@pytest.mark.parametrize("preset", ["overfit", "two-layer"])
def test_a_preset_runs_end_to_end_in_quick_mode(preset, tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    result = invoke_cli("sweep", "--preset", preset, "--quick", "--data", str(tiny_cifar), "--out", str(out),
                        "--quiet")
    assert result.exit_code == 0, result.output
    s = summary(out)
    assert sum(s["states"].values()) == 3 and s["best"], s["states"]
    assert (out / "best.toml").is_file()


def test_an_overfit_trial_reports_its_training_accuracy(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    invoke_cli("sweep", "--preset", "overfit", "--quick", "--data", str(tiny_cifar), "--out", str(out), "--quiet")
    best = summary(out)["best"][0]
    history = json.loads((out / "trials" / str(best["number"]) / "history.json").read_text())
    assert best["value"] == max(history["train_acc_history"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--storage", "sqlite:///x.db", "--study", "s", "--workers", "2"], "database is locked"),
        (["--storage", "redis://localhost", "--study", "s"], "expected a database URL"),
        (["--storage", "postgresql://u:secret@127.0.0.1:1/x"], "--study NAME"),
        (["--search", "lr=gaussian(0, 1)"], "unknown distribution 'gaussian'"),
        (["--search", "lr=loguniform(0, 1)"], "LOW > 0"),
        (["--search", "hiden=int(1, 5)"], "did you mean 'hidden'"),
        (["--search", "x=categorical(1)"], "cannot search 'x'"),
        (["--search", "update_rule.beta1=uniform()"], "update rule 'sgd' has no option 'beta1'"),
        (["--objective", "time_to_val_acc"], "--target"),
    ],
)
def test_bad_sweeps_are_refused_in_one_line_before_anything_is_written(extra, message, tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    result = invoke_cli(*tiny_args(tiny_cifar, out), *extra)
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert "Traceback" not in result.output and "secret" not in result.output
    assert not out.exists()


def test_a_component_option_is_searched_within_the_bounds_it_declares(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    base = ["--search", "lr=loguniform(1e-3, 1e-2)", "--epochs", "1", "--data", str(tiny_cifar), "--trials", "1",
            "--quiet"]
    toml = tmp_path / "adam.toml"
    toml.write_text('update_rule = "adam"\nhidden = [8]\n\n[search]\n"update_rule.beta1" = "uniform()"\n')
    refused = invoke_cli("sweep", "--config", str(toml), *base, "--search", "update_rule.beta1=uniform(0.5, 1.5)",
                         "--out", str(out))
    assert refused.exit_code != 0 and "leaves the bounds" in refused.output and "[0, 1)" in refused.output
    result = invoke_cli("sweep", "--config", str(toml), *base, "--out", str(out))
    assert result.exit_code == 0, result.output
    row = summary(out)["all"][0]
    assert 0 <= row["params"]["update_rule.beta1"] < 1
    config = json.loads((out / "trials" / "0" / "config.json").read_text())
    assert config["update_rule_options"] == {"beta1": row["params"]["update_rule.beta1"]}


def test_a_locked_sweep_folder_is_refused(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    with claim(out, command="minifc sweep"):
        result = invoke_cli(*tiny_args(tiny_cifar, out))
    assert result.exit_code != 0 and "minifc sweep" in result.output and "Traceback" not in result.output


def test_a_second_sweep_in_the_same_folder_needs_resume(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    assert invoke_cli(*tiny_args(tiny_cifar, out, trials=1)).exit_code == 0
    again = invoke_cli(*tiny_args(tiny_cifar, out, trials=1))
    assert again.exit_code != 0 and "--resume" in again.output
    more = invoke_cli("sweep", "--out", str(out), "--resume", "--trials", "2", "--quiet")
    assert more.exit_code == 0, more.output
    assert len(summary(out)["all"]) == 2


def test_without_optuna_the_command_says_what_to_install(tiny_cifar, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)
    result = invoke_cli(*tiny_args(tiny_cifar, tmp_path / "sweep"))
    assert result.exit_code != 0
    assert "pip install 'minifc[sweep]'" in result.output and "Traceback" not in result.output


def test_time_to_a_validation_accuracy_is_minimized_and_stops_each_trial_at_the_target(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--search", "lr=loguniform(1e-2, 1e-1)", "--epochs", "3", "--data", str(tiny_cifar),
            "--trials", "1", "--out", str(out), "--quiet", "--objective", "time_to_val_acc", "--target", "0.01"]
    result = invoke_cli(*args)
    assert result.exit_code == 0, result.output
    s = summary(out)
    assert s["direction"] == "minimize"
    best = s["best"][0]
    assert best["epochs"] == 1 and 0 < best["value"] == pytest.approx(best["seconds"], abs=1e-3)  # at epoch 1


def test_sqlite_serves_one_worker(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    result = invoke_cli(*tiny_args(tiny_cifar, out, "--storage", url, "--study", "one", trials=1))
    assert result.exit_code == 0, result.output
    assert optuna.load_study(study_name="one", storage=url).trials[0].state == optuna.trial.TrialState.COMPLETE


def test_best_toml_and_summary_of_a_study_whose_best_trial_ran_in_another_sweep_folder(tiny_cifar, tmp_path):
    """One study, two sweep folders (as two machines have): the one that ran no trial still writes best.toml from
    the study, never from the other folder, and its summary says which trials ran elsewhere."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    joined = ("--storage", url, "--study", "shared")
    ran = invoke_cli(*tiny_args(tiny_cifar, tmp_path / "a", *joined, trials=1))
    assert ran.exit_code == 0, ran.output
    assert summary(tmp_path / "a")["elsewhere"] == []
    for name, clear in (("b", False), ("c", True)):
        if clear:  # a study without the recorded configuration (Optuna's own table): rebuilt from the parameters
            with contextlib.closing(sqlite3.connect(tmp_path / "study.db")) as db, db:
                assert db.execute("DELETE FROM trial_user_attributes WHERE key = 'config'").rowcount == 1
        joined_later = invoke_cli(*tiny_args(tiny_cifar, tmp_path / name, *joined, trials=1))
        assert joined_later.exit_code == 0, joined_later.output
        assert not (tmp_path / name / "trials").exists()
        s = summary(tmp_path / name)
        assert s["elsewhere"] == [0] and s["best"][0]["elsewhere"] and s["best"][0]["worker"]
        assert (tmp_path / name / "best.toml").read_text() == (tmp_path / "a" / "best.toml").read_text()
