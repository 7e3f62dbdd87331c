"""``minifc sweep`` across hosts (network namespaces, see netns.py): PostgreSQL on host C, the same sweep command
on hosts A and B joining one study.

The two hosts run disjoint trials that sum to the requested count; host B cut off while it holds a trial:
the heartbeat fails that trial and host A retries it; B, reconnected, goes on without a trial counted twice.
Skipped, with the reason, where ``minifc sweep``, optuna, the PostgreSQL driver or server are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from minifc.cli import COMMANDS

pytestmark = [pytest.mark.multihost, pytest.mark.subprocess]

REPO = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])), "OMP_NUM_THREADS": "1"}
PORT = 5432

if "sweep" not in COMMANDS:
    pytest.skip("`minifc sweep` is not available in this checkout", allow_module_level=True)
pytest.importorskip("optuna", reason="minifc sweep needs the sweep extra (optuna)")
pytest.importorskip("psycopg2", reason="PostgreSQL studies need the driver (psycopg2)")


def postgres_tools() -> dict[str, str]:
    tools = {name: shutil.which(name) for name in ("initdb", "postgres", "pg_isready", "runuser")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        pytest.skip(f"no PostgreSQL server here: {', '.join(missing)} not found")
    return {name: str(path) for name, path in tools.items()}


@pytest.fixture
def postgres(hosts) -> Iterator[tuple[list, str]]:
    """Hosts A, B and C, PostgreSQL serving on C (trust for the hosts' subnet); yields (hosts, URL)."""
    tools = postgres_tools()
    a, b, c = hosts(3)
    folder = Path(tempfile.mkdtemp(prefix="minifc-pg-"))  # the server runs as postgres: not under root's tmp_path
    try:
        shutil.chown(folder, "postgres")
        data = folder / "data"
        as_postgres = [tools["runuser"], "-u", "postgres", "--"]
        made = c.run([*as_postgres, tools["initdb"], "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                     timeout=120)  # fmt: skip
        assert made.returncode == 0, made.stderr
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = '{c.address}'\nport = {PORT}\nunix_socket_directories = '{folder}'\n"
                       "fsync = off\n")  # fmt: skip
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {c.address.rsplit('.', 1)[0]}.0/24 trust\n")
        c.start([*as_postgres, tools["postgres"], "-D", str(data)], log=folder / "server.log")
        deadline = time.monotonic() + 60
        while c.run([tools["pg_isready"], "-h", c.address, "-p", str(PORT)], timeout=30).returncode != 0:
            assert time.monotonic() < deadline, (folder / "server.log").read_text()
            time.sleep(0.2)
        yield [a, b, c], f"postgresql://postgres@{c.name}:{PORT}/postgres"
    finally:
        c.kill()
        shutil.rmtree(folder, ignore_errors=True)


def sweep(out: Path, data: Path, url: str, study: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "minifc", "sweep", "--search", "lr=loguniform(1e-2, 1e-1)", "--data", str(data),
            "--out", str(out), "--quiet", "--storage", url, "--study", study, *extra]  # fmt: skip


QUERY = """
import importlib.util, json, sys, optuna
url = sys.argv[1]
if importlib.util.find_spec("psycopg") is None:  # SQLAlchemy reads a bare postgresql:// as psycopg 3
    url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
trials = optuna.load_study(study_name=sys.argv[2], storage=url).get_trials(deepcopy=False)
print(json.dumps([{"number": t.number, "state": t.state.name, "params": t.params,
                   "failed_trial": t.system_attrs.get("failed_trial")} for t in trials]))
"""


def trials(host, url: str, study: str) -> dict[int, dict]:
    """The study's trials by number (state name, params, the trial it retries), read on ``host``."""
    done = host.run([sys.executable, "-c", QUERY, url, study], timeout=120, env=ENV, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return {t["number"]: t for t in json.loads(done.stdout)}


def ran(out: Path) -> set[int]:
    folder = out / "trials"
    return {int(p.name) for p in folder.iterdir()} if folder.is_dir() else set()


def test_two_hosts_run_disjoint_trials_of_one_study(postgres, tiny_cifar, tmp_path):
    (a, b, _), url = postgres
    study = f"join-{uuid.uuid4().hex[:8]}"
    args = ("--epochs", "2", "--trials", "4")
    jobs = [h.start(sweep(tmp_path / h.name, tiny_cifar, url, study, *args), log=tmp_path / f"{h.name}.log", env=ENV,
                    cwd=REPO) for h in (a, b)]  # fmt: skip
    for h, job in zip((a, b), jobs, strict=True):
        assert job.wait(timeout=300) == 0, (tmp_path / f"{h.name}.log").read_text()
    done = trials(a, url, study)
    assert sorted(done) == [0, 1, 2, 3] and all(t["state"] == "COMPLETE" for t in done.values()), done
    on_a, on_b = ran(tmp_path / a.name), ran(tmp_path / b.name)
    assert not on_a & on_b and on_a | on_b == {0, 1, 2, 3}
    # each host reports the study from the database (as it stood when that host finished), its folder holding
    # only its own trials, and writes best.toml wherever the best trial ran
    for here, there in ((a, on_b), (b, on_a)):
        summary = json.loads((tmp_path / here.name / "summary.json").read_text())
        assert sorted(summary["elsewhere"]) == sorted(there), summary
        assert (tmp_path / here.name / "best.toml").is_file()


def test_a_host_cut_off_while_it_holds_a_trial_has_it_retried_elsewhere_and_counted_once(
    postgres, tiny_cifar, tmp_path
):
    (a, b, _), url = postgres
    study = f"cut-{uuid.uuid4().hex[:8]}"
    beats = ("--heartbeat", "1", "--grace-period", "2", "--epochs", "12", "--trials", "2")
    job_b = b.start(sweep(tmp_path / "b", tiny_cifar, url, study, *beats), log=tmp_path / "b.log", env=ENV, cwd=REPO)
    checkpoint = tmp_path / "b" / "trials" / "0" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert job_b.poll() is None and time.monotonic() < deadline, (tmp_path / "b.log").read_text()
        time.sleep(0.02)
    b.cut()
    time.sleep(3)  # past the grace period: trial 0's heartbeat is stale
    done_a = a.run(sweep(tmp_path / "a", tiny_cifar, url, study, *beats), timeout=300, env=ENV, cwd=REPO)
    assert done_a.returncode == 0, done_a.stderr
    b.reconnect()
    try:
        code_b = job_b.wait(timeout=180)
    except subprocess.TimeoutExpired:
        raise AssertionError("host B's sweep still runs 180 s after it was reconnected") from None
    assert code_b == 0, (tmp_path / "b.log").read_text()  # B learns that its trial was taken over, and stops
    assert "trial 0 was failed by another worker" in (tmp_path / "b.log").read_text()
    assert json.loads((tmp_path / "b" / "trials" / "0" / "trial.json").read_text())["state"] == "FAIL"
    deadline = time.monotonic() + 10
    while b.processes():  # nothing hung on B
        assert time.monotonic() < deadline, "processes left on host B"
        time.sleep(0.1)
    by_number = trials(a, url, study)
    assert by_number[0]["state"] == "FAIL", by_number
    complete = [t for t in by_number.values() if t["state"] == "COMPLETE"]
    assert len(complete) == 2, by_number  # the requested count, no trial counted twice
    retry = next(t for t in complete if t["failed_trial"] == 0)
    assert retry["params"] == by_number[0]["params"] and retry["number"] in ran(tmp_path / "a")
