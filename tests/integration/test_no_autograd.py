"""``Trainer.step`` never calls autograd and records no graph, on every update path: per parameter,
foreach, one kernel (adam's fused form), in the weight-gradient product (sgd / sgd_momentum's sink),
with loss- and update-stage regularizers, and as a data-parallel rank (an in-process world of one; two
ranks in tests/integration/test_distributed_trainer.py)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

import minifc
from minifc import optim
from minifc.registry.core import Registry
from minifc.registry.hookspecs import hookimpl
from minifc.testing import synthetic_data, use_registry
from minifc.training.update import Foreach, InProduct, PerParameter

F64 = torch.float64


def forbidden(*args, **kwargs):
    raise AssertionError("autograd was called")


@contextmanager
def no_autograd_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any backward / grad call fails, and so does recording a graph (autograd saving a tensor)."""
    monkeypatch.setattr(torch.Tensor, "backward", forbidden)
    monkeypatch.setattr(torch.autograd, "grad", forbidden)
    monkeypatch.setattr(torch.autograd, "backward", forbidden)
    with torch.autograd.graph.saved_tensors_hooks(forbidden, forbidden):
        yield


def plain_sgd_momentum(w, dw, config=None):
    """A rule registered as a plain function: no forms, so the Trainer updates per parameter."""
    return optim.sgd_momentum(w, dw, config)


def shrink(w, config):
    return w * (1 - config["learning_rate"] * 0.1)


def _registry_with_update_stage() -> Registry:
    def hook(register):
        register("shrink", shrink, stage="update", defaults={})

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_regularizers=hookimpl(hook)), name="shrinkplugin")
    return reg


def _trainer(rule, **kwargs) -> minifc.Trainer:
    data = synthetic_data(num_train=32, num_val=8, num_test=8, dim=6, num_classes=3, dtype=F64)
    model = minifc.FullyConnectedNet([5, 4], input_dim=6, num_classes=3, weight_scale=0.1, dropout=0.2,
                                     dtype=F64, reg=kwargs.pop("reg", 0.0))
    for name, w in model.params.items():  # any op outside no_grad would now record a graph
        model.params[name] = w.requires_grad_()
    return minifc.Trainer(model, data, update_rule=rule, batch_size=8, device="cpu", verbose=False, seed=0, **kwargs)


PATHS = {
    "per-parameter": (plain_sgd_momentum, {}, PerParameter),
    "foreach": ("rmsprop", {}, Foreach),
    "one-kernel": ("adam", {}, Foreach),
    "in-product-sgd": ("sgd", {}, InProduct),
    "in-product-momentum": ("sgd_momentum", {}, InProduct),
    "loss-regularizer": ("sgd_momentum", {"regularizers": ["l2:reg=0.01"], "reg": 0.1}, Foreach),
    "update-regularizer": ("adam", {"regularizers": ["shrink"]}, PerParameter),
    "data-parallel-rank": ("adam", {"distributed": True}, Foreach),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_trainer_step_never_calls_autograd(path, monkeypatch):
    rule, kwargs, strategy = PATHS[path]
    with use_registry(_registry_with_update_stage()):
        trainer = _trainer(rule, **kwargs)
    try:
        assert type(trainer.updater) is strategy  # the path named is the path taken
        if path == "one-kernel":
            assert trainer.updater.batched is optim.adam.fused
        if path == "data-parallel-rank":
            assert trainer.parallel is not None
        before = {k: v.clone() for k, v in trainer.model.params.items()}
        with no_autograd_allowed(monkeypatch):
            for _ in range(3):  # the checked first step, then the fast path
                trainer.step()
        for name, w in trainer.model.params.items():
            assert w.grad_fn is None and w.grad is None, name
            assert not torch.equal(w.detach(), before[name]), name  # the step did update it
    finally:
        trainer.close()
