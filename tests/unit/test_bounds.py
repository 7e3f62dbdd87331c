"""One bounds convention (minifc.validate) for update rules and regularizers: a pair is closed."""

from __future__ import annotations

import types

import pytest
import torch

from minifc.hookspecs import hookimpl
from minifc.optim import check_config, update_rule
from minifc.registry import Registry
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
        [reg] = resolve_regularizers([{"name": "shrink", "factor": accepted}])
        assert reg.config["factor"] == accepted
        pattern = rf"regularizer 'shrink' \(shrinkplugin\): factor must be a finite number {shown}, got {refused}"
        with pytest.raises(ValueError, match=pattern):
            resolve_regularizers([{"name": "shrink", "factor": refused}])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "0.5"])
def test_non_numbers_are_refused_by_both(bad):
    rule = update_rule({"factor": 0.5})(_rule)
    with pytest.raises(ValueError, match="factor must be a finite number"):
        check_config(rule, {"factor": bad})
    with use_registry(_registry_with_regularizer(None)), pytest.raises(ValueError, match="factor must be a finite"):
        resolve_regularizers([{"name": "shrink", "factor": bad}])


def test_a_regularizer_with_declared_open_bounds_trains():
    with use_registry(_registry_with_regularizer({"factor": below(1.0)})):
        [reg] = resolve_regularizers(["shrink"])
    w = torch.ones(2, 2)
    assert torch.equal(reg.after_update("W1", w, 0.1, True), torch.full((2, 2), 0.5))
