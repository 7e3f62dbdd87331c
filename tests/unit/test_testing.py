"""minifc.testing: the helpers a plugin author's tests use, each able to fail."""

from __future__ import annotations

import types

import pytest
import torch

from minifc import nn
from minifc.optim import sgd
from minifc.registry.components import PluginError
from minifc.registry.core import Registry, default_registry
from minifc.registry.hookspecs import hookimpl
from minifc.testing import (
    CheckFailed,
    check_component,
    check_plugin,
    entry_point_installed,
    invoke_cli,
    plugin_registry,
    synthetic_data,
    use_registry,
)
from minifc.verify.checks import CheckResult


class Swish(nn.Module):
    """x * sigmoid(x), with its own backward."""

    def forward(self, x):
        self.x = x
        return x * torch.sigmoid(x)

    def backward(self, dout):
        s = torch.sigmoid(self.x)
        return dout * (s + self.x * s * (1 - s))


class WrongSwish(Swish):
    def backward(self, dout):
        return dout * torch.sigmoid(self.x)  # forgets the second term


def ascent(w, dw, config=None):
    """Climbs instead of descending."""
    config = config if config is not None else {}
    w += 1e-2 * dw
    return w, config


@hookimpl
def minifc_register_layers(register):
    register("swish", Swish, description="x * sigmoid(x)")


plugin = types.SimpleNamespace(__name__="minifc_swish", minifc_register_layers=minifc_register_layers)


def test_plugin_registry_loads_the_plugin_beside_the_builtins():
    reg = plugin_registry(plugin, distribution="minifc-swish", version="1.0")
    c = reg.component("layer", "swish")
    assert c.obj is Swish and c.plugin == "minifc_swish" and c.provider == "minifc_swish (minifc-swish 1.0)"
    assert "linear" in reg.names("layer")
    assert plugin_registry(plugin, builtins=False).names("layer") == ["swish"]


def test_plugin_registry_raises_when_the_plugin_fails_to_load():
    @hookimpl
    def minifc_register_layers(register):
        register("linear", Swish)  # clashes with the built-in

    clash = types.SimpleNamespace(__name__="clash", minifc_register_layers=minifc_register_layers)
    with pytest.raises(PluginError, match="plugin 'clash' failed to load: .*registered twice"):
        plugin_registry(clash)


def test_check_plugin_returns_the_rows_and_raises_listing_failures():
    rows = check_plugin(plugin)
    assert rows and all(isinstance(r, CheckResult) and r.passed for r in rows)
    assert {r.component for r in rows} == {"swish"}  # the plugin's components only, not the built-ins

    @hookimpl
    def wrong_layers(register):
        register("swish", WrongSwish)

    wrong = types.SimpleNamespace(__name__="wrong", minifc_register_layers=wrong_layers)
    with pytest.raises(CheckFailed, match=r"layer swish \[wrong\] train: dx: relative error") as info:
        check_plugin(wrong)
    assert any(not r.passed for r in info.value.rows) and any(r.passed for r in info.value.rows)


def test_check_component_by_object_and_by_name():
    assert all(r.passed for r in check_component("layer", Swish))
    assert all(r.passed for r in check_component("update_rule", sgd, name="plain_sgd"))
    assert all(r.passed for r in check_component("layer", "swish", registry=plugin_registry(plugin)))
    assert all(r.passed for r in check_component("loss", "softmax", registry=Registry(entry_points=False)))
    with pytest.raises(CheckFailed, match="layer WrongSwish"):
        check_component("layer", WrongSwish)
    with pytest.raises(CheckFailed, match=r"update_rule ascent .* f/f0 = "):
        check_component("update_rule", ascent)
    with pytest.raises(CheckFailed, match="relu"):  # metadata reaches the check: here a bad check_kwargs
        check_component("layer", nn.ReLU, name="relu2", check_kwargs={"no_such_argument": 1})
    with pytest.raises(ValueError, match="unknown component kind 'layers'"):
        check_component("layers", Swish)
    with pytest.raises(PluginError, match=r"must be callable as ascent\(w, dw, config\)"):
        check_component("update_rule", lambda w: w, name="ascent")


def test_use_registry_restores_the_previous_one():
    before = default_registry()
    fresh = Registry(entry_points=False)
    with use_registry(fresh) as reg:
        assert reg is fresh and default_registry() is fresh
    assert default_registry() is before
    with pytest.raises(RuntimeError), use_registry(fresh):
        raise RuntimeError("boom")
    assert default_registry() is before


def test_invoke_cli_uses_the_given_registry():
    result = invoke_cli("check", "swish", registry=plugin_registry(plugin))
    assert result.exit_code == 0, result.output
    assert "\nswish " in result.output and "FAIL" not in result.output
    result = invoke_cli("check", "swish", registry=Registry(entry_points=False))
    assert result.exit_code == 2 and "no component or plugin named 'swish'" in result.output


def test_entry_point_installed():
    assert not entry_point_installed("minifc-no-such-plugin")


def test_synthetic_data_layout_and_determinism():
    data = synthetic_data(num_train=30, num_val=10, num_test=5, dim=12, num_classes=4, seed=3)
    assert {k: tuple(v.shape) for k, v in data.items()} == {
        "X_train": (30, 12),
        "y_train": (30,),
        "X_val": (10, 12),
        "y_val": (10,),
        "X_test": (5, 12),
        "y_test": (5,),
    }
    assert data["y_train"].dtype == torch.int64 and int(data["y_train"].max()) < 4
    again = synthetic_data(num_train=30, num_val=10, num_test=5, dim=12, num_classes=4, seed=3)
    assert all(torch.equal(data[k], again[k]) for k in data)
    assert synthetic_data(dtype=torch.float64)["X_val"].dtype == torch.float64
