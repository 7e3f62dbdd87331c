"""minifc-norm's syncbatchnorm: 2 ranks with half batches each match BatchNorm1d on the full batch
(outputs, dx, parameter gradients, running statistics); one process: it is BatchNorm1d."""

from __future__ import annotations

import minifc_norm
import pytest
import torch
from minifc_norm import BatchNorm1d, SyncBatchNorm

from minifc.builder import build_net
from minifc.distributed import run_local
from minifc.registry.core import Registry
from minifc.verify.checks import check_components

F64 = torch.float64
N, D = 8, 5


def _batch(dtype=F64, shift=1.5):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(N, D, dtype=F64, generator=gen) * 3.0 + shift
    return x.to(dtype), torch.randn(N, D, dtype=F64, generator=gen).to(dtype)


def _affine(layer):
    gen = torch.Generator().manual_seed(4)
    layer.gamma.data = (torch.rand(D, dtype=F64, generator=gen) + 0.5).to(layer.gamma.data.dtype)
    layer.beta.data = torch.randn(D, dtype=F64, generator=gen).to(layer.beta.data.dtype)
    return layer


def _run(cls, x, dout, dtype):
    layer = _affine(cls(D, momentum=0.8, dtype=dtype))
    out = layer.forward(x)
    dx = layer.backward(dout)
    return {
        "out": out,
        "dx": dx,
        "gamma": layer.gamma.grad,
        "beta": layer.beta.grad,
        "running_mean": layer.running_mean.clone(),
        "running_var": layer.running_var.clone(),
        "eval": layer.eval().forward(x),
    }


def _rank(ctx) -> dict:
    rows = slice(ctx.rank * N // 2, (ctx.rank + 1) * N // 2)
    results = {}
    for dtype, shift in ((F64, 1.5), (torch.float32, 1000.0)):  # float32 with a large mean: no cancellation
        x, dout = _batch(dtype, shift)
        results[dtype] = _run(SyncBatchNorm, x[rows], dout[rows], dtype)
    return results


def _compare(ranks, dtype, tol):
    x, dout = _batch(dtype, 1.5 if dtype == F64 else 1000.0)
    full = _run(BatchNorm1d, x, dout, dtype)
    r0, r1 = ranks[0][dtype], ranks[1][dtype]
    close = {"rtol": tol, "atol": tol}
    torch.testing.assert_close(torch.cat([r0["out"], r1["out"]]), full["out"], **close)
    torch.testing.assert_close(torch.cat([r0["dx"], r1["dx"]]), full["dx"], **close)
    for key in ("gamma", "beta"):  # each rank's own sum; together the full batch's
        torch.testing.assert_close(r0[key] + r1[key], full[key], **close)
    for key in ("running_mean", "running_var"):
        assert torch.equal(r0[key], r1[key])
        torch.testing.assert_close(r0[key], full[key], **close)
    torch.testing.assert_close(torch.cat([r0["eval"], r1["eval"]]), full["eval"], **close)


@pytest.mark.subprocess
def test_two_ranks_with_half_batches_match_batchnorm_on_the_full_batch():
    ranks = [o.value for o in run_local(_rank, 2, timeout=120, pg_timeout=30)]
    _compare(ranks, F64, 1e-12)
    _compare(ranks, torch.float32, 1e-4)


def test_one_process_is_batchnorm():
    x, dout = _batch()
    sync, plain = _run(SyncBatchNorm, x, dout, F64), _run(BatchNorm1d, x, dout, F64)
    for key, value in plain.items():
        assert torch.equal(sync[key], value), key


def test_registered_built_and_checked():
    reg = Registry(entry_points=False)
    reg.add_plugin(minifc_norm, "norm", "minifc-norm", "0.1.0")
    net = build_net(["linear:7", "syncbatchnorm:momentum=0.5", "relu"], 5, 3, registry=reg)
    assert isinstance(net[1], SyncBatchNorm) and net[1].in_features == 7 and net[1].momentum == 0.5
    rows = check_components(["syncbatchnorm"], registry=reg)
    assert rows and all(r.passed for r in rows), [r for r in rows if not r.passed]
