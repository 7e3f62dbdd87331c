"""Data-parallel training across two hosts (network namespaces, see netns.py): torchrun on host A and host B
with the c10d rendezvous on A's address, one rank per host, gloo between them.

The run gives the parameters of a one-host two-rank run of the same global batch; only rank 0's host writes
the run folder (host B sees it read-only); host B cut off mid-run makes host A's rank stop within
``--timeout`` naming rank 1, leaving an intact checkpoint and no process behind; with ``--max-restarts`` the
job continues from the last checkpoint once B is back and ends where an uninterrupted run ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from minifc import load_run

pytestmark = [pytest.mark.multihost, pytest.mark.subprocess]

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 15  # 40 steps an epoch: long enough to cut a host off mid-run (hundreds of steps), seconds in all
ENV = {
    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    "OMP_NUM_THREADS": "1",
    # a store of its own for each round of ranks: torchrun's shared one keeps the last round's addresses, and a
    # restarted rank that reads them before rank 0 rewrites them cannot join
    "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1",
}


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train", "--data", str(data), "--out", str(out), "--device", "cpu", "--quiet", "--epochs", str(EPOCHS),
        "--batch-size", "4", "--hidden", "20", "--dropout", "0.1", "--seed", "3", *extra,
    ]  # fmt: skip


def torchrun(endpoint: str, *args: str, restarts: int = 0) -> list[str]:
    """The README's several-machines command: run the same on every host."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", "job", "--max-restarts", str(restarts),
        "-m", "minifc", *args,
    ]  # fmt: skip


def wait_for(what: Callable[[], object], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"{why}: not within {timeout} s")
        time.sleep(0.05)


def params(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=False)["params"]


def assert_same_params(run: Path, reference: Path) -> None:
    got, want = params(run), params(reference)
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=0, msg=name)


@pytest.fixture(scope="module")
def one_host_run(tiny_cifar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run on one host with two ranks (``minifc train --nproc-per-node 2``)."""
    out = tmp_path_factory.mktemp("one-host") / "run"
    done = subprocess.run(
        [sys.executable, "-m", "minifc", *train_args(tiny_cifar, out, "--nproc-per-node", "2")],
        capture_output=True, text=True, env={**os.environ, **ENV}, timeout=180, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def start_job(a, b, data: Path, out: Path, logs: Path, *extra: str, restarts: int = 0, readonly=()):
    args = torchrun(f"{a.address}:29400", *train_args(data, out, *extra), restarts=restarts)
    return (
        a.start(args, log=logs / "a.log", env=ENV, cwd=REPO),
        b.start(args, log=logs / "b.log", env=ENV, cwd=REPO, readonly=readonly),
    )


def test_two_hosts_train_as_one_host_with_two_ranks_and_only_rank_0_writes(hosts, tiny_cifar, tmp_path, one_host_run):
    a, b = hosts(2)
    shared = tmp_path / "shared"
    shared.mkdir()
    job_a, job_b = start_job(a, b, tiny_cifar, shared / "run", tmp_path, readonly=[shared])
    assert job_a.wait(timeout=180) == 0 and job_b.wait(timeout=30) == 0, (tmp_path / "a.log").read_text()
    log_a, log_b = (tmp_path / "a.log").read_text(), (tmp_path / "b.log").read_text()
    # torchrun numbers the hosts by name: host-a is rank 0; host-b, rank 1, could not have written a byte there
    assert f"run saved in {shared / 'run'}" in log_a and "run saved" not in log_b, log_b
    assert_same_params(shared / "run", one_host_run)
    assert torch.load(shared / "run" / "checkpoint.pt", weights_only=False)["world_size"] == 2


def test_a_host_cut_off_mid_run_stops_the_other_within_the_timeout_naming_it(hosts, tiny_cifar, tmp_path):
    a, b = hosts(2)
    out = tmp_path / "run"
    job_a, job_b = start_job(a, b, tiny_cifar, out, tmp_path, "--timeout", "5")
    wait_for(lambda: (out / "checkpoint.pt").exists() or job_a.poll() is not None, 120, "a first checkpoint")
    assert job_a.poll() is None, "the run ended before host B could be cut off"
    b.cut()
    cut = time.monotonic()
    try:
        job_a.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("host A's job still runs 60 s after host B was cut off") from None
    waited = time.monotonic() - cut
    log_a = (tmp_path / "a.log").read_text()
    assert job_a.returncode != 0 and "Error: rank 0" in log_a and "rank 1 did not answer" in log_a, log_a
    assert "Timed out waiting 5000ms" in log_a, log_a
    assert waited < 5 + 25, f"host A stopped {waited:.1f} s after the cut, with --timeout 5"  # + torchrun's exit
    wait_for(lambda: not a.processes(), 10, "no process left on host A")
    # the last checkpoint is whole (its checksum verified), nothing half-written beside it
    assert 1 <= torch.load(out / "checkpoint.pt", weights_only=False)["epoch"] < EPOCHS
    load_run(out, weights="last")
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    # host B, back on the network, finds the job gone and ends too: no hung process anywhere
    b.reconnect()
    wait_for(lambda: job_b.poll() is not None and not b.processes(), 90, "host B's job ending after reconnection")
    assert job_b.returncode != 0


def test_with_max_restarts_the_job_continues_from_the_last_checkpoint_once_the_host_is_back(
    hosts, tiny_cifar, tmp_path, one_host_run
):
    a, b = hosts(2)
    out = tmp_path / "run"
    # the timeout bounds joining too: after a restart it must cover the hosts' start-up times
    job_a, job_b = start_job(a, b, tiny_cifar, out, tmp_path, "--timeout", "15", restarts=1)
    wait_for(lambda: (out / "checkpoint.pt").exists() or job_a.poll() is not None, 120, "a first checkpoint")
    b.cut()
    wait_for(lambda: "rank 1 did not answer" in (tmp_path / "a.log").read_text(), 60, "host A's rank stopping")
    b.reconnect()
    try:
        job_a.wait(timeout=180)
        job_b.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError((tmp_path / "a.log").read_text()) from None
    log_a = (tmp_path / "a.log").read_text()
    assert job_a.returncode == 0 and job_b.returncode == 0, log_a + (tmp_path / "b.log").read_text()
    assert "torchrun restarted this job: the run in" in log_a and f"run saved in {out}" in log_a, log_a
    # resumed from the end of the last whole epoch, the run ends exactly where the uninterrupted one does
    assert len(torch.load(out / "checkpoint.pt", weights_only=False)["val_acc_history"]) == EPOCHS
    assert_same_params(out, one_host_run)
