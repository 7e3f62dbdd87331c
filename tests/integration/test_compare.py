"""minifc compare on tiny data: a candidate compared with itself shows no difference, a candidate failing its
checks is reported and left out, a comparison killed midway resumes without redoing finished trials, and the
command's refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch

from minifc import hookimpl
from minifc.testing import invoke_cli, plugin_registry

pytest.importorskip("optuna", reason="minifc compare runs on optuna: pip install 'minifc[sweep]'")

ROOT = Path(__file__).resolve().parents[2]


def tiny(data: Path, out: Path, *candidates: str, trials: int = 2) -> list[str]:
    """``minifc compare`` arguments: ``trials`` tuning trials and 2 seeds of two-epoch runs of an 8-wide net."""
    return ["compare", *candidates, "--data", str(data), "--out", str(out), "--set", "hidden=[8]", "--epochs", "2",
            "--set", "batch_size=40", "--trials", str(trials), "--seeds", "2", "--lr-range", "1e-3,1e-1", "--quiet"]


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_adam_compared_with_itself_shows_no_difference(tiny_cifar, tmp_path):
    out = tmp_path / "cmp"
    result = invoke_cli(*tiny(tiny_cifar, out, "adam", "adam"))
    assert result.exit_code == 0, result.output
    got = summary(out)
    assert [e["status"] for e in got["candidates"]] == ["ranked", "ranked"]
    assert [e["slug"] for e in got["candidates"]] == ["adam", "adam-2"]
    (pair,) = got["pairs"]
    assert pair["within_noise"] and pair["p"] > 0.5
    first, second = (e["measures"]["best_val_acc"]["mean"] for e in got["candidates"])
    assert first == pytest.approx(second, abs=1e-6)  # same sampler seed, same trials, same seeds
    assert "Welch" in got["noise_test"] and got["target"]["val_acc"] is not None
    report = (out / "compare.md").read_text()
    assert "adam is within noise of adam" in report and "| rank |" in report
    assert (out / "base.toml").is_file() and got["versions"]["minifc"] and got["protocol"]["fresh_seeds"] == [1, 2]
    if got["plots"]:
        assert {Path(p).name for p in got["plots"]} == {"curves.png", "acc_vs_lr.png", "time_to_target.png"}


def ascent(w, dw, config=None):
    """An update rule that climbs: it fails the check that a rule decreases a convex objective."""
    config = {"learning_rate": 1e-2} if config is None else config
    return w + config["learning_rate"] * dw, config


ascent.defaults = {"learning_rate": 1e-2}


def test_a_candidate_failing_its_check_is_reported_and_left_out(tiny_cifar, tmp_path):
    plugin = types.SimpleNamespace(__name__="climber",
                                   minifc_register_update_rules=hookimpl(lambda register: register("ascent", ascent)))
    out = tmp_path / "cmp"
    result = invoke_cli(*tiny(tiny_cifar, out, "sgd", "ascent", trials=1), registry=plugin_registry(plugin))
    assert result.exit_code == 0, result.output
    assert "left out 'ascent'" in result.output and "fails `minifc check`" in result.output
    excluded = next(e for e in summary(out)["candidates"] if e["candidate"] == "ascent")
    assert excluded["status"] == "excluded" and "decreases" in excluded["reason"]
    assert summary(out)["ranking"] == ["sgd"]
    assert not (out / "candidates" / "ascent").exists()  # it never trained
    assert "ascent (excluded)" in (out / "compare.md").read_text()


def test_refusals_are_one_error_line(tiny_cifar, tmp_path):
    result = invoke_cli("compare", "adma", "--data", str(tiny_cifar), "--out", str(tmp_path / "a"))
    assert result.exit_code != 0 and "did you mean 'adam'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "a").exists()
    result = invoke_cli("compare", "adam", "--resume", "--out", str(tmp_path / "a"))
    assert result.exit_code != 0 and "give no CANDIDATE" in result.output
    result = invoke_cli("compare", "--out", str(tmp_path / "b"))
    assert result.exit_code != 0 and "nothing to compare" in result.output


def _trial_states(sweep: Path) -> dict[int, tuple[str, int]]:
    """Each trial's state and its trial.json's modification time (ns)."""
    found = {}
    for path in sorted((sweep / "trials").glob("*/trial.json")):
        found[int(path.parent.name)] = (json.loads(path.read_text())["state"], path.stat().st_mtime_ns)
    return found


@pytest.mark.subprocess
def test_a_comparison_killed_midway_resumes_without_redoing_finished_trials(tiny_cifar, tmp_path):
    out = tmp_path / "cmp"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = tiny(tiny_cifar, out, "sgd", "adam", trials=3)
    proc = subprocess.Popen([sys.executable, "-m", "minifc", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    tune = out / "candidates" / "sgd" / "tune"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if sum(1 for s, _ in _trial_states(tune).values() if s == "COMPLETE") >= 1:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = {n: v for n, v in _trial_states(tune).items() if v[0] == "COMPLETE"}
    assert before, "no trial finished before the kill"
    assert not (out / "summary.json").exists()

    result = invoke_cli("compare", "--out", str(out), "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    after = _trial_states(tune)
    for number, state in before.items():
        assert after[number] == state  # finished before the kill: not run again
    rows = json.loads((tune / "summary.json").read_text())["all"]
    counted = [r for r in rows if r.get("retry_of") is None]
    assert len(counted) == 3  # the study's total, not 3 more
    assert summary(out)["ranking"] and {e["status"] for e in summary(out)["candidates"]} == {"ranked"}


def test_quick_data_trains(tmp_path):
    from minifc.compare.quick_data import write_quick_data
    from minifc.data import load_cifar10

    data = load_cifar10(write_quick_data(tmp_path), dtype=torch.float32)
    assert data["X_train"].shape == (240, 3072) and data["X_test"].shape == (100, 3072)
