"""One bounds convention (minifc.validate) for update rules and regularizers: a pair is closed."""

from __future__ import annotations

import types

import pytest
import torch

import minifc
import minifc.distributed
from minifc.builder import build_net
from minifc.optim import check_config, update_rule
from minifc.registry.core import Registry, default_registry
from minifc.registry.hookspecs import hookimpl
from minifc.testing import use_registry
from minifc.training.regularize import resolve_regularizers
from minifc.validate import below


def _shrink(w, config):
    return w * (1 - config["factor"])


def _rule(w, dw, config=None):
    return w, config or {}


def _registry_with_regularizer(bounds) -> Registry:
    def hook(register):
        register("shrink", _shrink, stage="update", defaults={"factor": 0.5}, bounds=bounds)

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_regularizers=hookimpl(hook)), name="shrinkplugin")
    return reg


@pytest.mark.parametrize(
    ("bounds", "accepted", "refused", "shown"),
    [
        ((0.0, 1.0), 1.0, 1.5, r"in \[0, 1\]"),
        (below(1.0), 0.0, 1.0, r"in \[0, 1\)"),
        (None, 1e6, -1.0, ">= 0"),
    ],
    ids=["pair-closed", "declared-open", "undeclared"],
)
def test_rules_and_regularizers_read_bounds_alike(bounds, accepted, refused, shown):
    rule = update_rule({"factor": 0.5}, bounds=None if bounds is None else {"factor": bounds})(_rule)
    check_config(rule, {"factor": accepted})
    with pytest.raises(ValueError, match=rf"_rule: factor must be a finite number {shown}, got {refused}"):
        check_config(rule, {"factor": refused})
    with use_registry(_registry_with_regularizer(None if bounds is None else {"factor": bounds})):
        [reg] = resolve_regularizers([{"name": "shrink", "factor": accepted}], default_registry().component)
        assert reg.config["factor"] == accepted
        pattern = rf"regularizer 'shrink' \(shrinkplugin\): factor must be a finite number {shown}, got {refused}"
        with pytest.raises(ValueError, match=pattern):
            resolve_regularizers([{"name": "shrink", "factor": refused}], default_registry().component)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "0.5"])
def test_non_numbers_are_refused_by_both(bad):
    rule = update_rule({"factor": 0.5})(_rule)
    with pytest.raises(ValueError, match="factor must be a finite number"):
        check_config(rule, {"factor": bad})
    with use_registry(_registry_with_regularizer(None)), pytest.raises(ValueError, match="factor must be a finite"):
        resolve_regularizers([{"name": "shrink", "factor": bad}], default_registry().component)


def test_a_regularizer_with_declared_open_bounds_trains():
    with use_registry(_registry_with_regularizer({"factor": below(1.0)})):
        [reg] = resolve_regularizers(["shrink"], default_registry().component)
    w = torch.ones(2, 2)
    assert torch.equal(reg.after_update("W1", w, 0.1, True), torch.full((2, 2), 0.5))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda n: minifc.nn.Linear(n, 3), "Linear: in_features"),
        (lambda n: build_net([], n, 3), "build_net: input_dim"),
        (lambda n: minifc.FullyConnectedNet([4], input_dim=n, num_classes=3), "input_dim"),
        (lambda n: minifc.distributed.run_local(print, n), "run_local: world_size"),
        (lambda n: minifc.distributed.check_in_sync({}, 0, every=n), "check_in_sync: every"),
    ],
    ids=["Linear", "build_net", "FullyConnectedNet", "run_local", "check_in_sync"],
)
@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_positive_integers_are_checked_by_one_function_with_one_message(call, name, bad):
    with pytest.raises(ValueError, match=rf"{name} must be a positive integer, got {bad!r}"):
        call(bad)


def test_a_regularizer_with_a_malformed_bound_is_refused_at_registration_naming_it(capsys):
    reg = _registry_with_regularizer({"factor": "0..1"})
    with pytest.raises(minifc.errors.MinifcError, match="unknown regularizer 'shrink'"):
        reg.component("regularizer", "shrink")
    err = capsys.readouterr().err
    assert "plugin 'shrinkplugin'" in err and "failed and is skipped" in err
    assert "regularizer 'shrink': bounds['factor'] must be (low, high)" in err
