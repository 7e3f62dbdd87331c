"""``minifc sweep`` on a real PostgreSQL server (``$MINIFC_TEST_POSTGRES_URL``; ``.ci/run`` starts a throwaway one):
two sweep processes ("machines", each with its own sweep folder) join one study, and a trial whose worker was
killed is failed by the heartbeat and retried by the other."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

optuna = pytest.importorskip("optuna", reason="minifc sweep needs the sweep extra (optuna)")

from sweep_helpers import minifc_process, summary  # noqa: E402

from minifc.sweeps.storage import with_driver  # noqa: E402

pytestmark = pytest.mark.subprocess

URL_VAR = "MINIFC_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> str:
    """The URL of a PostgreSQL server the tests may create studies in; skipped (with the reason) without one."""
    url = os.environ.get(URL_VAR)
    if not url:
        pytest.skip(f"no PostgreSQL server: set {URL_VAR}=postgresql://USER@127.0.0.1:PORT/DB (.ci/run starts one)")
    if not any(importlib.util.find_spec(driver) for driver in ("psycopg", "psycopg2")):
        pytest.skip("PostgreSQL studies need a driver: pip install 'minifc[postgres]'")
    return url


def _args(data, out, url, study, *extra):
    return ["sweep", "--search", "lr=loguniform(1e-2, 1e-1)", "--data", str(data), "--out", str(out), "--quiet",
            "--storage", url, "--study", study, *extra]


def _trials(url, study):
    return optuna.load_study(study_name=study, storage=with_driver(url)).get_trials(deepcopy=False)


def test_two_sweep_processes_join_one_study(tiny_cifar, tmp_path, postgres_url):
    study = f"join-{uuid.uuid4().hex[:8]}"
    procs = [minifc_process(*_args(tiny_cifar, tmp_path / name, postgres_url, study, "--epochs", "2", "--trials", "4"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for name in ("a", "b")]
    for proc in procs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output.decode()
    trials = _trials(postgres_url, study)
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    ran = [{int(p.name) for p in (tmp_path / name / "trials").iterdir()} if (tmp_path / name / "trials").exists()
           else set() for name in ("a", "b")]
    assert not ran[0] & ran[1] and ran[0] | ran[1] == {0, 1, 2, 3}
    # each machine writes the study's best configuration, wherever its trial ran
    assert (tmp_path / "a" / "best.toml").read_text() == (tmp_path / "b" / "best.toml").read_text()


def test_a_killed_workers_trial_is_failed_by_the_heartbeat_and_retried(tiny_cifar, tmp_path, postgres_url):
    study = f"kill-{uuid.uuid4().hex[:8]}"
    beats = ["--heartbeat", "1", "--grace-period", "2", "--epochs", "12", "--trials", "2"]
    first = minifc_process(*_args(tiny_cifar, tmp_path / "a", postgres_url, study, *beats),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "a" / "trials" / "0" / "checkpoint.pt"
    end = time.monotonic() + 120
    while not checkpoint.exists():
        assert first.poll() is None and time.monotonic() < end, "the first sweep never started training"
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(2.5)  # past the grace period: trial 0's heartbeat is stale
    second = minifc_process(*_args(tiny_cifar, tmp_path / "b", postgres_url, study, *beats),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output.decode()
    trials = {t.number: t for t in _trials(postgres_url, study)}
    assert trials[0].state == optuna.trial.TrialState.FAIL
    done = [t for t in trials.values() if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 2, trials
    retry = next(t for t in done if t.system_attrs.get("failed_trial") == 0)
    assert retry.params == trials[0].params
    rows = summary(tmp_path / "b")["all"]
    assert any(r.get("retry_of") == 0 and r["state"] == "COMPLETE" for r in rows)
    assert json.loads((tmp_path / "b" / "sweep.json").read_text())["study"] == study
