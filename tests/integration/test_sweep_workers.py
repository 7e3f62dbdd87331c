"""``minifc sweep`` with worker processes sharing the journal storage: disjoint trials summing to the total, and
a sweep killed mid-trial that ``--resume`` completes (the killed trial failed, then retried from its checkpoint)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

optuna = pytest.importorskip("optuna", reason="minifc sweep needs the sweep extra (optuna)")

from sweep_helpers import minifc_process, summary, tiny_args  # noqa: E402

from minifc.testing import invoke_cli  # noqa: E402

pytestmark = pytest.mark.subprocess


def _wait_for(path, proc, timeout=60.0):
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, "the sweep ended before the file appeared"
        assert time.monotonic() < end, f"{path} did not appear"
        time.sleep(0.01)


def test_two_local_workers_run_disjoint_trials_summing_to_the_total(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    proc = minifc_process(*tiny_args(tiny_cifar, out, "--workers", "2", trials=4), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output.decode()
    rows = summary(out)["all"]
    assert sorted(r["number"] for r in rows) == [0, 1, 2, 3]
    assert all(r["state"] == "COMPLETE" for r in rows), rows
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0", "1", "2", "3"]
    assert sorted(p.name for p in (out / "workers").iterdir()) == ["0.log", "1.log"]
    # each trial ran in one process: its folder holds one run, its number is its own
    for r in rows:
        assert json.loads((out / "trials" / str(r["number"]) / "trial.json").read_text())["number"] == r["number"]


def test_a_sweep_killed_mid_trial_is_completed_by_resume(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--search", "lr=loguniform(1e-2, 1e-1)", "--epochs", "12", "--data", str(tiny_cifar),
            "--trials", "2", "--out", str(out), "--quiet"]
    proc = minifc_process(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(out / "trials" / "0" / "checkpoint.pt", proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    history = json.loads((out / "trials" / "0" / "history.json").read_text()) if (
        out / "trials" / "0" / "history.json").exists() else None
    assert history is None or len(history["val_acc_history"]) < 12  # killed mid-trial
    result = invoke_cli("sweep", "--out", str(out), "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    assert "left running" in result.output
    rows = {r["number"]: r for r in summary(out)["all"]}
    assert rows[0]["state"] == "FAIL" and "stopped" in rows[0]["reason"]
    done = [r for r in rows.values() if r["state"] == "COMPLETE"]
    assert len(done) == 2, rows
    retry = next(r for r in done if r.get("retry_of") == 0)
    assert retry["params"] == rows[0]["params"] and retry["epochs"] == 12
    # the retry continued from the killed trial's checkpoint (copied into its own folder)
    retried = json.loads((out / "trials" / str(retry["number"]) / "history.json").read_text())
    assert len(retried["val_acc_history"]) == 12
    assert json.loads((out / "trials" / str(retry["number"]) / "trial.json").read_text())["resumed"] is True


def test_a_worker_killed_mid_trial_has_its_trial_failed_and_retried_while_the_sweep_goes_on(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--search", "lr=loguniform(1e-2, 1e-1)", "--epochs", "12", "--data", str(tiny_cifar),
            "--trials", "3", "--workers", "2", "--out", str(out), "--quiet"]
    proc = minifc_process(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_for(out / "trials" / "0" / "checkpoint.pt", proc)
    worker = json.loads((out / "trials" / "0" / "trial.json").read_text())["worker"]
    os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output.decode()
    assert "killed by signal 9" in output.decode()
    rows = {r["number"]: r for r in summary(out)["all"]}
    assert rows[0]["state"] == "FAIL" and "killed by signal 9" in rows[0]["reason"]
    done = [r for r in rows.values() if r["state"] == "COMPLETE"]
    assert len(done) == 3 and any(r.get("retry_of") == 0 for r in done), rows


def test_ctrl_c_stops_the_sweep_cleanly_and_resume_retries_the_interrupted_trial(tiny_cifar, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--search", "lr=loguniform(1e-2, 1e-1)", "--epochs", "12", "--data", str(tiny_cifar),
            "--trials", "2", "--out", str(out), "--quiet"]
    proc = minifc_process(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_for(out / "trials" / "0" / "checkpoint.pt", proc)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output.decode()
    assert "--resume" in output.decode() and "Traceback" not in output.decode()
    assert not (out / ".minifc-lock").exists()
    rows = summary(out)["all"]
    assert rows[0]["state"] == "FAIL" and "interrupted" in rows[0]["reason"]
    result = invoke_cli("sweep", "--out", str(out), "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    done = [r for r in summary(out)["all"] if r["state"] == "COMPLETE"]
    assert len(done) == 2 and any(r.get("retry_of") == 0 for r in done)
