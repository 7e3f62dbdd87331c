"""Misbehaving components and plugins: a broken update rule, regularizer or layer is named with its
plugin at the first step."""

from __future__ import annotations

import types

import pytest
import torch
from small_runs import IPE, C, D, make_data, make_trainer, user_sgd

from minifc.errors import MinifcError, ShapeError, UnknownComponentError
from minifc.nn import Linear, Module, Parameter, ReLU, Sequential
from minifc.registry.core import Registry, default_registry, reset_default_registry
from minifc.registry.hookspecs import hookimpl


@pytest.fixture
def registry():
    """A fresh registry (built-ins only) as the default; the previous one is restored afterwards."""
    old = default_registry()
    fresh = reset_default_registry(Registry(entry_points=False))
    yield fresh
    reset_default_registry(old)


def plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def add_update_rule(registry: Registry, name: str, rule) -> None:
    registry.add_plugin(plugin(minifc_register_update_rules=lambda register: register(name, rule)), name="badplugin")


def _rule(transform):
    def rule(w, dw, config=None):
        config = config if config is not None else {}
        w -= 1e-2 * dw
        return transform(w), config

    return rule


@pytest.mark.parametrize(
    ("transform", "error", "pattern"),
    [
        (lambda w: w[:-1].clone(), ShapeError, r"next_w of shape \(\d+,?( \d+)?\) for 'W1'; expected"),
        (lambda w: w.double(), MinifcError, "next_w of dtype torch.float64 for 'W1'; expected torch.float32"),
        (lambda w: torch.empty_like(w, device="meta"), MinifcError, "next_w of device meta for 'W1'; expected cpu"),
        (lambda w: torch.full_like(w, float("nan")), MinifcError, "next_w with NaN/Inf for 'W1'"),
        (lambda w: w.tolist(), MinifcError, "returned a list as next_w"),
    ],
    ids=["shape", "dtype", "device", "nan", "not-a-tensor"],
)
def test_bad_update_rule_is_named_with_its_plugin_at_the_first_step(registry, transform, error, pattern):
    add_update_rule(registry, "badrule", _rule(transform))
    trainer = make_trainer(update_rule="badrule")
    with pytest.raises(error, match=rf"update rule 'badrule' \(badplugin\) .*{pattern}"):
        trainer.train()
    assert trainer.step_count == 0


def test_update_rule_that_forgets_the_config_is_named(registry):
    add_update_rule(registry, "badrule", lambda w, dw, config=None: w - dw)
    with pytest.raises(MinifcError, match=r"update rule 'badrule' \(badplugin\) must return \(next_w, config\)"):
        make_trainer(update_rule="badrule").train()


def _nan_penalty(w, config):
    return torch.tensor(float("nan")), torch.zeros_like(w)


def _nan_gradient(w, config):
    return (w * w).sum(), torch.full_like(w, float("nan"))


def _wrong_gradient_shape(w, config):
    return (w * w).sum(), torch.zeros(3)


def _bad_update_stage(w, config):
    return w.t().contiguous()


@pytest.mark.parametrize(
    ("fn", "stage", "pattern"),
    [
        (_nan_penalty, "loss", r"non-finite penalty \(nan\) for 'W1'"),
        (_nan_gradient, "loss", "dpenalty with NaN/Inf for 'W1'"),
        (_wrong_gradient_shape, "loss", r"dpenalty of shape \(3,\) for 'W1'"),
        (_bad_update_stage, "update", r"next_w of shape \(8, 5\) for 'W1'"),
    ],
    ids=["nan-penalty", "nan-gradient", "gradient-shape", "update-stage-shape"],
)
def test_bad_regularizer_is_named_with_its_plugin_at_the_first_step(registry, fn, stage, pattern):
    registry.add_plugin(
        plugin(minifc_register_regularizers=lambda register: register("badreg", fn, stage=stage)), name="badplugin"
    )
    trainer = make_trainer(regularizers=["badreg"])
    with pytest.raises(MinifcError, match=rf"regularizer 'badreg' \(badplugin\) .*{pattern}"):
        trainer.train()
    assert trainer.step_count == 0


class WrongDx(Module):
    """Identity forward; backward drops a column of dx."""

    def forward(self, x):
        return x

    def backward(self, dout):
        return dout[:, :-1]


class WrongGrad(Module):
    """x * scale; backward accumulates a gradient of the wrong shape into scale."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.scale = Parameter(torch.ones(width))
        self._x = None

    def forward(self, x):
        self._x = x
        return x * self.scale.data

    def backward(self, dout):
        self.scale.grad = (dout * self._x).sum()
        return dout * self.scale.data


def _net_with(layer: Module) -> Sequential:
    torch.manual_seed(0)
    return Sequential(Linear(D, 8), ReLU(), layer, Linear(8, C))


def test_layer_backward_with_the_wrong_shape_is_named_with_its_plugin(registry):
    registry.add_plugin(plugin(minifc_register_layers=lambda register: register("wrong_dx", WrongDx)), name="badplugin")
    trainer = make_trainer(model=_net_with(registry.get("layer", "wrong_dx")()), loss="softmax")
    with pytest.raises(
        ShapeError,
        match=r"layer WrongDx\(\) \(plugin badplugin\): backward returned dx of shape "
        r"\(10, 7\) but its input had shape \(10, 8\)",
    ):
        trainer.train()
    trainer.model.loss(trainer.data["X_train"][:2])  # the checks are gone after the first step
    assert "backward" not in vars(trainer.model.net[2])


def test_layer_gradient_with_the_wrong_shape_is_named_with_its_plugin(registry):
    registry.add_plugin(
        plugin(minifc_register_layers=lambda register: register("wrong_grad", WrongGrad)), name="badplugin"
    )
    trainer = make_trainer(model=_net_with(registry.get("layer", "wrong_grad")()), loss="softmax")
    with pytest.raises(ShapeError, match=r"gradient of '2.scale' has shape \(\) .*WrongGrad\(\), plugin badplugin"):
        trainer.train()


def test_a_failing_plugin_leaves_the_other_components_working(registry):
    def boom(register):
        register("half_registered", user_sgd)
        raise RuntimeError("boom")

    registry.add_plugin(plugin(minifc_register_update_rules=boom), name="broken")
    registry.add_plugin(
        plugin(minifc_register_update_rules=lambda register: register("good_sgd", user_sgd)), name="goodplugin"
    )
    for rule in ("good_sgd", "sgd", "adam"):
        trainer = make_trainer(update_rule=rule).train()
        assert len(trainer.loss_history) == 2 * IPE
    assert registry.plugins["broken"].status == "failed" and "boom" in registry.plugins["broken"].error
    with pytest.raises(
        UnknownComponentError,
        match=r"update rule 'half_registered' is not available: the plugin 'broken' \(in-process\) that registers "
        r"it failed to load: RuntimeError: boom",
    ):
        make_trainer(update_rule="half_registered")


def test_an_update_rule_that_raises_later_is_named_with_its_plugin(registry):
    def flaky(w, dw, config=None):
        config = config if config is not None else {}
        config["calls"] = config.get("calls", 0) + 1
        if config["calls"] == 3:
            raise ValueError("flaky went wrong")
        return user_sgd(w, dw, config)

    add_update_rule(registry, "flaky", flaky)
    with pytest.raises(
        MinifcError, match=r"update rule 'flaky' \(badplugin\) raised ValueError on parameter 'W1': flaky went wrong"
    ):
        make_trainer(update_rule="flaky").train()


class WrongDxLater(Module):
    """Identity forward; from its second backward on, dx loses a column."""

    calls = 0

    def forward(self, x):
        return x

    def backward(self, dout):
        self.calls += 1
        return dout if self.calls == 1 else dout[:, :-1]


def test_a_layer_whose_dx_goes_wrong_after_the_first_step_is_named(registry):
    layers = plugin(minifc_register_layers=lambda register: register("later", WrongDxLater))
    registry.add_plugin(layers, name="badplugin")
    trainer = make_trainer(model=_net_with(registry.get("layer", "later")()), loss="softmax")
    with pytest.raises(MinifcError, match=r"layer ReLU\(\) .* raised RuntimeError.* of shape \(10, 7\), is the dx "
                       r"returned by the layer above it, WrongDxLater\(\) \(plugin badplugin\)"):
        trainer.train()
    assert trainer.step_count == 1


class ScalesItsInput(Module):
    """Doubles its input in place (a plugin author's bug) and returns it."""

    def forward(self, x):
        return x.mul_(2)

    def backward(self, dout):
        return dout * 2


def test_a_layer_that_writes_into_its_input_leaves_the_callers_data_alone(registry):
    data = make_data()
    data["X_val"] = data["X_train"][:10]  # a view, as a user slices it
    before = {k: v.clone() for k, v in data.items()}
    model = Sequential(ScalesItsInput(), Linear(D, C))
    trainer = make_trainer(model=model, data=data, loss="softmax", num_train_samples=None)
    trainer.train()
    trainer.check_accuracy(data["X_val"], data["y_val"])
    for key, value in before.items():
        assert torch.equal(data[key], value), key


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_finds_every_kind_of_bad_value(dtype, bad):
    from minifc.io.checkpoint import all_finite, non_finite

    good = torch.randn(5, 7).to(dtype)
    spoilt = good.clone()
    spoilt[3, 4] = bad
    assert all_finite(good) and not all_finite(spoilt)
    assert not all_finite(torch.tensor(bad).to(dtype))  # 0-dim
    state = {"params": {"W": good, "b": spoilt[3]}, "hist": [good, spoilt], "t": torch.arange(3), "empty": good[:0]}
    assert non_finite(state) == ["params.b", "hist[1]"]
