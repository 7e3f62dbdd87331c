"""minifc.distributed with 2 real ranks (processes, gloo over loopback): the gradient reducer against one
process averaging the whole batch, training in step with one process, drift detection, the helpers,
and a rank that dies or hangs.

The step seam is emulated by hand: after each layer's backward, ``reducer.ready(layer.parameters())``;
after the whole backward, ``reducer.finish()``. One run of the ranks (a module fixture) records
everything the tests then compare.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from minifc import functional as F
from minifc import nn, optim
from minifc.distributed import (
    DistributedError,
    GradReducer,
    ShardedSampler,
    all_reduce_accuracy,
    average_buffers,
    broadcast_parameters,
    check_in_sync,
    run_local,
    run_on_main,
)

pytestmark = pytest.mark.subprocess

F64 = torch.float64
N, D, C, BATCH, STEPS, SEED = 16, 12, 5, 8, 5, 4
CAPS_MB = (1e-4, 25.0)  # one bucket per parameter (W3 and b3 share one) / everything in one bucket
TRAIN_CAP_MB = 2e-3  # two buckets: [b3, W3, b2, W2] and [b1, W1]


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    return torch.randn(N, D, dtype=F64, generator=gen), torch.randint(C, (N,), generator=gen)


def _net(seed: int) -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    return nn.Sequential(
        nn.Linear(D, 16, dtype=F64, generator=gen),
        nn.ReLU(),
        nn.Linear(16, 16, dtype=F64, generator=gen),
        nn.ReLU(),
        nn.Linear(16, C, dtype=F64, generator=gen),
    )


def _backward(net: nn.Sequential, X: torch.Tensor, y: torch.Tensor, reducer: GradReducer | None = None) -> list[int]:
    """Loss and gradients; returns how many buckets the reducer had launched after each layer."""
    net.zero_grad()
    _, dout = F.softmax_loss(net.forward(X), y)
    launched = []
    for layer in reversed(list(net)):
        dout = layer.backward(dout)
        if reducer is not None:
            reducer.ready(layer.parameters())  # the seam: this layer's gradients are final
            launched.append(reducer.launched_buckets)
    if reducer is not None:
        reducer.finish()
    return launched


def _train(net, sampler, X, y, reducer=None, sync_every=None) -> list[torch.Tensor]:
    configs = [{"learning_rate": 0.1, "momentum": 0.9} for _ in net.parameters()]
    steps = len(sampler)
    for step in range(STEPS):
        sampler.set_epoch(step // steps)
        idx = sampler.batches()[step % steps]
        _backward(net, X[idx], y[idx], reducer)
        for p, config in zip(net.parameters(), configs, strict=True):
            optim.sgd_momentum(p.data, p.grad, config)
        if sync_every:
            check_in_sync(dict(net.named_parameters()), step, every=sync_every)
    return [p.data.clone() for p in net.parameters()]


def _error(fn, *args, **kwargs) -> tuple[str, str] | None:
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001  (recorded for the parent to check)
        return type(e).__name__, str(e)
    return None


def _worker(ctx, out_dir: str) -> dict:
    r: dict = {"rank": ctx.rank, "world_size": ctx.world_size, "backend": ctx.backend}
    X, y = _data()
    net = _net(100 + ctx.rank)  # different on each rank until the broadcast
    buffers = {"running": torch.full((3,), float(ctx.rank), dtype=F64)}
    broadcast_parameters(net.parameters(), buffers)
    r["start"], r["buffer"] = [p.data.clone() for p in net.parameters()], buffers["running"].clone()

    sampler = ShardedSampler(N, BATCH, seed=SEED)  # rank and world size from the process group
    idx = sampler.batches()[0]
    for overlap in (True, False):
        for cap in CAPS_MB:
            reducer = GradReducer(net.parameters(), bucket_cap_mb=cap, overlap=overlap)
            key = (overlap, cap)
            r[("launched", key)] = _backward(net, X[idx], y[idx], reducer)
            r[("grads", key)] = [p.grad.clone() for p in net.parameters()]
            r[("layout", key)] = [p.grad.stride() == p.data.stride() for p in net.parameters()]
            r[("buckets", key)] = [b.names() for b in reducer.buckets]
            r[("stats", key)] = (reducer.stats.steps, reducer.stats.last_wait_s, reducer.stats.last_finish_s)

    reducer = GradReducer(dict(net.named_parameters()), bucket_cap_mb=TRAIN_CAP_MB)
    r["train_buckets"] = [b.names() for b in reducer.buckets]
    r["trained"] = _train(net, sampler, X, y, reducer, sync_every=1)

    net.zero_grad()  # every rank forgets every gradient: both raise, before any collective
    r["missing"] = _error(reducer.finish)
    r["foreign"] = _error(reducer.ready, nn.Linear(2, 2, dtype=F64).parameters())
    r["plan_mismatch"] = _error(GradReducer, net.parameters(), bucket_cap_mb=CAPS_MB[ctx.rank])
    extra = [torch.zeros(2, dtype=F64)] if ctx.rank == 1 else []
    r["model_mismatch"] = _error(broadcast_parameters, [p.data for p in net.parameters()] + extra)

    if ctx.rank == 1:
        with torch.no_grad():
            net[2].weight.data[0, 0] += 1e-12
    r["drift"] = _error(check_in_sync, dict(net.named_parameters()), 10, every=5)
    r["drift_skipped"] = check_in_sync(dict(net.named_parameters()), 11, every=5)

    r["accuracy"] = all_reduce_accuracy(ctx.rank + 1, 10)
    buffers = {"mean": torch.tensor([ctx.rank, 2.0 * ctx.rank], dtype=F64), "count": torch.tensor([ctx.rank + 5])}
    average_buffers(buffers)
    r["averaged"] = buffers

    path = Path(out_dir, "checkpoint.txt")
    r["on_main"] = run_on_main(lambda: path.write_text(f"rank {dist.get_rank()}") and "written")

    def broken() -> None:
        raise OSError("disk full")

    r["on_main_fails"] = _error(run_on_main, broken)
    return r


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ranks")
    outcomes = run_local(_worker, 2, (str(out),), timeout=120, pg_timeout=30)
    return [o.value for o in outcomes], out


@pytest.fixture(scope="module")
def reference():
    """One process, batch BATCH, the same data order: first-step gradients and trained parameters."""
    X, y = _data()
    net = _net(100)
    sampler = ShardedSampler(N, BATCH, rank=0, world_size=1, seed=SEED)
    idx = sampler.batches()[0]
    _backward(net, X[idx], y[idx])
    grads = [p.grad.clone() for p in net.parameters()]
    return {"start": [p.data.clone() for p in net.parameters()], "grads": grads, "trained": _train(net, sampler, X, y)}


def _close(a, b) -> None:
    torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)


def test_ranks_start_from_rank_0(ranks, reference):
    (r0, r1), _ = ranks
    assert (r0["rank"], r1["rank"], r0["world_size"], r0["backend"]) == (0, 1, 2, "gloo")
    for a, b, ref in zip(r0["start"], r1["start"], reference["start"], strict=True):
        assert torch.equal(a, b) and torch.equal(a, ref)
    assert torch.equal(r1["buffer"], torch.zeros(3, dtype=F64))


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("cap", CAPS_MB)
def test_reducer_gives_the_one_process_mean_gradient(ranks, reference, overlap, cap):
    (r0, r1), _ = ranks
    key = (overlap, cap)
    for g0, g1, ref in zip(r0[("grads", key)], r1[("grads", key)], reference["grads"], strict=True):
        assert torch.equal(g0, g1)
        _close(g0, ref)
    assert all(r0[("layout", key)])  # laid out like the parameter (column-major weights stay so)
    buckets = r0[("buckets", key)]
    if cap == CAPS_MB[0]:
        assert buckets == [["bias[5]", "weight[4]"], ["bias[3]"], ["weight[2]"], ["bias[1]"], ["weight[0]"]]
    else:
        assert len(buckets) == 1
    # launched during the backward pass, as soon as complete: after Linear 3 (b3, W3), ReLU, Linear 2, ...
    expected = ([1, 1, 3, 3, 5] if cap == CAPS_MB[0] else [0, 0, 0, 0, 1]) if overlap else [0] * 5
    assert r0[("launched", key)] == r1[("launched", key)] == expected
    steps, wait, finish = r0[("stats", key)]
    assert steps == 1 and 0 <= wait <= finish


def test_training_with_the_reducer_keeps_ranks_identical_and_matches_one_process(ranks, reference):
    (r0, r1), _ = ranks
    assert r0["train_buckets"] == [["4.bias", "4.weight", "2.bias", "2.weight"], ["0.bias", "0.weight"]]
    for a, b, ref in zip(r0["trained"], r1["trained"], reference["trained"], strict=True):
        assert torch.equal(a, b)
        _close(a, ref)


def test_reducer_errors_name_the_parameter_or_the_ranks(ranks):
    for r in ranks[0]:
        kind, message = r["missing"]
        assert kind == "DistributedError" and "no gradient for parameter(s) ['0.weight'" in message
        kind, message = r["foreign"]
        assert kind == "DistributedError" and "is not one of the parameters" in message
        kind, message = r["plan_mismatch"]
        assert kind == "DistributedError" and "gradient buckets" in message and "rank(s) [1] differ" in message
        kind, message = r["model_mismatch"]
        assert kind == "DistributedError" and "rank(s) [1] differ from rank 0" in message


def test_check_in_sync_names_the_drifted_rank_and_parameter(ranks):
    for r in ranks[0]:
        kind, message = r["drift"]
        assert kind == "ParameterDriftError"
        assert "step 10" in message and "rank(s) [1] drifted" in message and "'2.weight'" in message
        assert "0.weight" not in message
        assert r["drift_skipped"] is False


def test_helpers_across_ranks(ranks):
    (r0, r1), out = ranks
    assert r0["accuracy"] == r1["accuracy"] == 3 / 20
    for r in (r0, r1):
        assert torch.equal(r["averaged"]["mean"], torch.tensor([0.5, 1.0], dtype=F64))
        assert torch.equal(r["averaged"]["count"], torch.tensor([5]))  # not averaged: rank 0's
    assert (r0["on_main"], r1["on_main"]) == ("written", None)
    assert (out / "checkpoint.txt").read_text() == "rank 0"
    assert r0["on_main_fails"] == ("OSError", "disk full")
    kind, message = r1["on_main_fails"]
    assert kind == "DistributedError" and "failed on rank 0" in message


# -- a rank that stops ------------------------------------------------------------------------------
PG_TIMEOUT = 3.0


def _lost_rank(ctx, how: str, out_dir: str) -> str:
    t = torch.ones(4, dtype=F64)
    dist.all_reduce(t)  # both ranks are up
    net = _net(0)
    reducer = GradReducer(net.parameters())
    if ctx.rank == 1:
        if how == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        done = Path(out_dir, "rank0-done")
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:  # hangs until rank 0 has given up
            time.sleep(0.05)
        return "left"
    X, y = _data()
    start = time.monotonic()
    try:
        _backward(net, X, y, reducer)
    except DistributedError as e:
        return f"{time.monotonic() - start:.2f} {e}"
    finally:
        Path(out_dir, "rank0-done").touch()
    return "no error"


@pytest.mark.parametrize("how", ["killed", "hung"])
def test_a_lost_rank_makes_the_other_fail_within_the_timeout(how, tmp_path):
    r0, r1 = run_local(_lost_rank, 2, (how, str(tmp_path)), timeout=60, pg_timeout=PG_TIMEOUT, check=False)
    assert r0.exitcode == 0 and r0.value is not None, r0.error
    seconds, message = r0.value.split(" ", 1)
    assert "all-reduce of gradient bucket 0" in message and "another rank probably stopped" in message
    assert float(seconds) < PG_TIMEOUT + 5
    assert r1.exitcode == (-signal.SIGKILL if how == "killed" else 0)


def _main_rank_alone(ctx, out_dir: str) -> str:
    t = torch.ones(4, dtype=F64)
    dist.all_reduce(t)  # both ranks are up
    done = Path(out_dir, "rank0-done")
    if ctx.rank == 1:  # stopped: takes no part until rank 0 has given up
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return "left"
    try:
        run_on_main(lambda: None)
    except DistributedError as e:
        return str(e)
    finally:
        done.touch()
    return "no error"


def test_rank_0_does_not_say_it_waits_for_itself_when_another_rank_stopped(tmp_path):
    r0, _ = run_local(_main_rank_alone, 2, (str(tmp_path),), timeout=60, pg_timeout=PG_TIMEOUT, check=False)
    assert r0.exitcode == 0, r0.error
    if r0.value == "no error":  # the transport buffered rank 0's message: nothing to report
        pytest.skip("the broadcast completed on rank 0 without rank 1")
    assert "waiting for rank 0" not in r0.value and "another rank stopped or died" in r0.value


# -- CUDA: nccl on one GPU -----------------------------------------------------------------------------
def _cuda_worker(ctx) -> dict:
    net = _net(0).to(ctx.device)
    X, y = (t.to(ctx.device) for t in _data())
    broadcast_parameters(net.parameters(), dict(net.named_buffers()))
    reducer = GradReducer(net.parameters(), bucket_cap_mb=TRAIN_CAP_MB)
    _backward(net, X, y, reducer)
    reduced = [p.grad.cpu() for p in net.parameters()]
    on_device = all(p.grad.device == ctx.device for p in net.parameters())
    _backward(net, X, y)
    return {
        "device": str(ctx.device),
        "backend": ctx.backend,
        "on_device": on_device,
        "reduced": reduced,
        "plain": [p.grad.cpu() for p in net.parameters()],
        "in_sync": check_in_sync(net.parameters(), 0),
        "accuracy": all_reduce_accuracy(1, 4),
        "on_main": run_on_main(lambda: "main"),
    }


@pytest.mark.cuda
def test_nccl_on_one_gpu():
    if not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    (r,) = run_local(_cuda_worker, 1, device="cuda", timeout=180, pg_timeout=60)
    r = r.value
    assert (r["device"], r["backend"], r["on_device"]) == ("cuda:0", "nccl", True)
    for a, b in zip(r["reduced"], r["plain"], strict=True):
        _close(a, b)
    assert r["in_sync"] is False and r["accuracy"] == 0.25 and r["on_main"] == "main"  # one rank: nothing to check


# -- run_local itself ------------------------------------------------------------------------------------
def _sleeps_or_fails(ctx, seconds: float) -> None:
    if ctx.rank == 1:
        raise ValueError("rank 1 gives up")
    time.sleep(seconds)


def test_run_local_kills_what_outlives_its_timeout_and_reports_failures():
    with pytest.raises(DistributedError, match="(?s)rank 1 of 2 exited with code 1:\n.*ValueError: rank 1 gives up"):
        run_local(_sleeps_or_fails, 2, (0.0,), timeout=60)
    start = time.monotonic()  # the forkserver is warm now: the ranks start within a fraction of the timeout
    r0, r1 = run_local(_sleeps_or_fails, 2, (60.0,), timeout=6, check=False)
    assert time.monotonic() - start < 20
    assert r0.timed_out and r0.exitcode == -signal.SIGKILL and not r0.ok
    assert not r1.timed_out and r1.exitcode == 1 and "ValueError: rank 1 gives up" in r1.error
