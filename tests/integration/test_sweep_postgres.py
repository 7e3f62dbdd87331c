"""``minifc sweep`` on a real PostgreSQL server (``$MINIFC_TEST_POSTGRES_URL``; ``.ci/run`` starts a throwaway one):
two sweep processes ("machines", each with its own sweep folder) join one study, and a trial whose worker was
killed is failed by the heartbeat and retried by the other."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import multiprocessing
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

optuna = pytest.importorskip("optuna", reason="minifc sweep needs the sweep extra (optuna)")

from sweep_helpers import minifc_process, summary  # noqa: E402

from minifc.sweeps.storage import open_storage, with_driver  # noqa: E402

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


@contextlib.contextmanager
def _fresh_database(url):
    """The URL of a new, empty database on ``url``'s server, dropped afterwards."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    name = f"minifc_fresh_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(with_driver(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    try:
        yield url.split("?", 1)[0].rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(sqlalchemy.text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def _open_at_once(url, folder, barrier, errors):
    barrier.wait()
    try:
        open_storage(url, folder, max_retry=1)
    except Exception as e:  # noqa: BLE001 - reported to the test
        errors.put(f"{type(e).__name__}: {e}")


def test_workers_starting_at_once_on_a_fresh_database_all_open_it(tmp_path, postgres_url):
    """Optuna creates its tables on first use; workers doing that together collide in PostgreSQL's catalogue
    unless one creates them while the others wait."""
    n = 6
    ctx = multiprocessing.get_context("fork")
    with _fresh_database(postgres_url) as url:
        barrier, errors = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_open_at_once, args=(url, tmp_path, barrier, errors)) for _ in range(n)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=120)
        failed = [errors.get(timeout=5) for _ in range(errors.qsize())]
        assert not failed, failed
        assert all(proc.exitcode == 0 for proc in procs)


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
    # each machine writes the best configuration of the study as it stood when it finished, wherever that trial
    # ran; the machine that finished last saw the whole study
    top = max(t.value for t in trials)
    best = {t.number for t in trials if t.value == top}
    headers = [(tmp_path / name / "best.toml").read_text().splitlines()[0] for name in ("a", "b")]
    assert all(re.match(rf"# best trial [0-3] of sweep {study}: value ", h) for h in headers), headers
    assert any(h.startswith(f"# best trial {n} of sweep {study}: ") for n in best for h in headers), (best, headers)


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


def test_a_worker_whose_trial_was_taken_over_while_it_was_silent_goes_on_without_counting_it(
    tiny_cifar, tmp_path, postgres_url
):
    """A stopped worker (SIGSTOP: no heartbeats, as on a machine cut off) whose trial another worker failed and
    retried: resumed, it finishes training, learns that the trial is no longer its own, and exits cleanly."""
    study = f"stop-{uuid.uuid4().hex[:8]}"
    beats = ["--heartbeat", "1", "--grace-period", "2", "--epochs", "12", "--trials", "2"]
    first = minifc_process(*_args(tiny_cifar, tmp_path / "a", postgres_url, study, *beats),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    checkpoint = tmp_path / "a" / "trials" / "0" / "checkpoint.pt"
    end = time.monotonic() + 120
    while not checkpoint.exists():
        assert first.poll() is None and time.monotonic() < end, "the first sweep never started training"
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGSTOP)
    try:
        time.sleep(2.5)  # past the grace period: trial 0's heartbeat is stale
        second = minifc_process(*_args(tiny_cifar, tmp_path / "b", postgres_url, study, *beats),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = second.communicate(timeout=300)
        assert second.returncode == 0, output.decode()
    finally:
        os.kill(first.pid, signal.SIGCONT)
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output.decode()
    assert "trial 0 was failed by another worker" in output.decode()
    record = json.loads((tmp_path / "a" / "trials" / "0" / "trial.json").read_text())
    assert record["state"] == "FAIL" and "another worker" in record["reason"]
    trials = {t.number: t for t in _trials(postgres_url, study)}
    assert trials[0].state == optuna.trial.TrialState.FAIL
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials.values()) == 2, trials
    assert summary(tmp_path / "a")["states"] == {"FAIL": 1, "COMPLETE": 2}
