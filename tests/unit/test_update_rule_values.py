"""Update rules as typed values: a declared rule is an UpdateRule, called like the classic function."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch

import minifc
import minifc.grad_mode
from minifc import optim
from minifc.optim import UpdateRule, check_config, decoupled_weight_decay, setup, update_rule
from minifc.testing import synthetic_data
from minifc.validate import Interval, below

ROOT = Path(minifc.__file__).parent


@pytest.mark.parametrize("rule", [optim.sgd, optim.sgd_momentum, optim.rmsprop, optim.adam])
def test_builtin_rules_are_update_rule_values_called_the_classic_way(rule):
    assert isinstance(rule, UpdateRule) and callable(rule)
    assert rule.__name__ == rule.fn.__name__ and rule.__doc__ == rule.fn.__doc__
    assert set(rule.known_keys) == set(rule.defaults) | set(rule.state_keys)
    w = torch.zeros(4, 3)
    next_w, config = rule(w, torch.ones(4, 3))  # config defaults to None
    assert next_w is w and set(rule.defaults) <= set(config)


def test_forms_are_fields_of_the_value():
    assert optim.sgd.foreach is not None and optim.sgd.sink is not None and optim.sgd.fused is None
    assert optim.adam.fused is not None and optim.adam.sink is None
    assert optim.rmsprop.foreach is not None and optim.rmsprop.fused is None and optim.rmsprop.sink is None


def test_the_decorator_returns_the_value_and_forms_attach_by_assignment():
    @update_rule({"learning_rate": 0.5}, bounds={"learning_rate": (0.0, 1.0)})
    def half(w, dw, config=None):
        config = setup(half, config)
        w.sub_(config["learning_rate"] * dw)
        return w, config

    assert isinstance(half, UpdateRule) and half.defaults == {"learning_rate": 0.5} and half.state_keys == ()
    half.foreach = lambda ws, dws, configs: False
    assert half.foreach([], [], []) is False
    w, config = half(torch.ones(2), torch.ones(2))
    assert torch.equal(w, torch.full((2,), 0.5)) and config == {"learning_rate": 0.5}
    check_config(half, {"learning_rate": 1.0})  # a pair is closed: 1.0 is in [0, 1]
    with pytest.raises(ValueError, match=r"half: learning_rate must be a finite number in \[0, 1\], got 1.5"):
        check_config(half, {"learning_rate": 1.5})


def test_a_bad_bound_is_refused_naming_the_rule_and_key():
    def odd(w, dw, config=None):
        return w, config

    with pytest.raises(ValueError, match=r"odd: bounds\['momentum'\] must be \(low, high\)"):
        update_rule({"momentum": 0.5}, bounds={"momentum": (0, 1, 2)})(odd)
    with pytest.raises(ValueError, match=r"odd: bounds\['momentum'\]"):
        update_rule({"momentum": 0.5}, bounds={"momentum": "0..1"})(odd)


@pytest.mark.parametrize(
    ("rule", "key", "refused", "accepted"),
    [
        (optim.sgd_momentum, "momentum", 1.0, 0.0),
        (optim.adam, "beta1", 1.0, 0.0),
        (optim.adam, "beta2", 1.0, 0.999),
        (optim.rmsprop, "decay_rate", 1.0, 0.0),
        (optim.adam, "epsilon", -1e-8, 0.0),
        (optim.sgd, "learning_rate", -1e-3, 0.0),
        (optim.sgd, "learning_rate", math.inf, 1e6),
    ],
)
def test_builtin_effective_ranges(rule, key, refused, accepted):
    check_config(rule, {key: accepted})
    with pytest.raises(ValueError, match=rf"{rule.__name__}: {key} must be a finite number"):
        check_config(rule, {key: refused})


def test_interval_convention():
    assert 1.0 in Interval(0.0, 1.0) and 1.0 not in below(1.0) and 0.0 in below(1.0)
    assert 0.0 not in Interval(0.0, 1.0, low_open=True)
    assert str(below(1.0)) == "in [0, 1)" and str(Interval()) == ">= 0" and str(Interval(0, 2)) == "in [0, 2]"


def test_a_plain_function_rule_still_trains_and_composes():
    def plain(w, dw, config=None):
        config = config or {}
        config.setdefault("learning_rate", 1e-2)
        w.add_(dw, alpha=-config["learning_rate"])
        return w, config

    data = synthetic_data(num_train=32, num_val=8, num_test=8, dim=6, num_classes=3)
    model = minifc.FullyConnectedNet([5], input_dim=6, num_classes=3, weight_scale=0.1)
    trainer = minifc.Trainer(model, data, update_rule=plain, batch_size=8, device="cpu", verbose=False, seed=0)
    before = model.params["W1"].clone()
    trainer.step()
    assert not torch.equal(before, model.params["W1"])
    composed = decoupled_weight_decay(optim.sgd, weight_decay=0.1, name="sgdw")
    assert isinstance(composed, UpdateRule) and composed.__name__ == "sgdw" and composed.sink is None


def test_update_rules_do_not_import_the_layer_math():
    for path in (ROOT / "optim").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert "functional" not in imported and "minifc.functional" not in imported, path.name
    assert minifc.functional.no_grad is minifc.grad_mode.no_grad  # the course name still works
