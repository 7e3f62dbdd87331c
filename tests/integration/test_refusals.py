"""Bad input found by a first-time user, a third-party plugin and adversarial testing: each case gets a
clear error naming the culprit (or the right result), before anything changes."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import minifc
from minifc import nn, optim
from minifc.errors import CheckpointError, DivergenceError, MinifcError, ShapeError, UnknownComponentError
from minifc.optim.schedules import warmup_cosine
from minifc.registry.core import Registry
from minifc.registry.hookspecs import hookimpl
from minifc.testing import use_registry
from minifc.training.integrity import CHECKSUM_KEY, state_checksum

F64 = torch.float64


def data(n: int = 64, d: int = 12, c: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"X_train": torch.randn(n, d, generator=g), "y_train": torch.randint(c, (n,), generator=g),
            "X_val": torch.randn(16, d, generator=g), "y_val": torch.randint(c, (16,), generator=g)}


def model(**kwargs) -> minifc.FullyConnectedNet:
    return minifc.FullyConnectedNet([8], input_dim=12, num_classes=4, **kwargs)


def trainer(**kwargs) -> minifc.Trainer:
    kwargs.setdefault("verbose", False)
    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("batch_size", 16)
    return minifc.Trainer(kwargs.pop("model", None) or model(), kwargs.pop("data", None) or data(), **kwargs)


# -- first-time user ----------------------------------------------------------------------------------------
def test_a_schedule_factory_passed_uncalled_is_refused_when_the_trainer_is_built():
    message = r"warmup_cosine.*schedule factory, which must be called first: warmup_cosine\(0.05\)"
    with pytest.raises(TypeError, match=message):
        trainer(schedule=warmup_cosine)
    trainer(schedule=warmup_cosine(0.05))  # the called factory is fine


def test_seed_everything_makes_the_documented_snippet_reproducible():
    def run() -> float:
        minifc.seed_everything(0)
        t = trainer(model=minifc.FullyConnectedNet([8], input_dim=12, num_classes=4, dropout=0.2), seed=0,
                    update_rule="adam", num_epochs=2, batch_size=16)
        t.train()
        return t.check_accuracy(t.data["X_val"], t.data["y_val"])

    assert run() == run()


def test_an_uninstalled_plugin_component_names_its_package():
    with use_registry(Registry(entry_points=False)):
        with pytest.raises(UnknownComponentError, match="plugin package minifc-optim-extra"):
            trainer(update_rule="adamw")


def test_known_names_are_pluralised_properly():
    with use_registry(Registry(entry_points=False)):
        with pytest.raises(UnknownComponentError, match="Known losses:"):
            minifc.Trainer(nn.Sequential(nn.Linear(12, 4)), data(), loss="hinge", device="cpu")


# -- a plugin written against the documented contract -------------------------------------------------------
class ProbeL1:
    @staticmethod
    @hookimpl
    def minifc_register_regularizers(register):
        def probe_l1(w, config):
            s = config.get("strength", 1e-3)
            return s * w.abs().sum(), s * torch.sign(w)

        register("probe_l1", probe_l1, stage="loss")  # no `defaults`: options are not checked


def test_a_regularizer_without_defaults_takes_any_option():
    reg = Registry(entry_points=False)
    reg.add_plugin(ProbeL1, "probe")
    with use_registry(reg):
        t = trainer(regularizers=[{"name": "probe_l1", "strength": 1e-4}])
        assert t.regularizers[0].config == {"strength": 1e-4}
        t.step()


class BadLayer(nn.Module):
    def __init__(self, result: str) -> None:
        super().__init__()
        self.result = result

    def forward(self, x):
        return x * 1.0

    def backward(self, dout):
        return None if self.result == "none" else dout * float("nan")


@pytest.mark.parametrize("result, message", [("none", "backward returned NoneType"), ("nan", "NaN/Inf in dx")])
def test_a_plugin_layer_with_a_broken_backward_is_named(result, message):
    net = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), BadLayer(result), nn.Linear(8, 4))
    with pytest.raises(MinifcError, match=rf"layer BadLayer\(\).*{message}"):
        minifc.Trainer(net, data(), device="cpu", verbose=False, batch_size=16).step()


# -- hyper-parameters ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rule, config, key",
    [
        ("adam", {"beta1": 1.0}, "beta1"),
        ("adam", {"beta2": 1.5}, "beta2"),
        ("adam", {"beta2": 1.0}, "beta2"),
        ("rmsprop", {"decay_rate": 2.0}, "decay_rate"),
        ("sgd_momentum", {"momentum": 5.0}, "momentum"),
        ("adam", {"epsilon": -1e-8}, "epsilon"),
    ],
)
def test_hyper_parameters_out_of_range_are_refused_naming_the_key(rule, config, key):
    with pytest.raises(ValueError, match=rf"update rule '{rule}': {key} must be"):
        trainer(update_rule=rule, optim_config=config)


@pytest.mark.parametrize("rule", [optim.adam, optim.rmsprop])
def test_adaptive_rules_refuse_float16_with_a_reason(rule):
    w = torch.randn(3, 3, dtype=torch.float16)
    with pytest.raises(TypeError, match="float16 parameters are not supported"):
        rule(w, torch.randn(3, 3, dtype=torch.float16))


# -- silently wrong numbers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, value", [("num_val_samples", 0), ("num_train_samples", 0), ("num_train_samples", -1)])
def test_zero_or_negative_sample_counts_are_refused(key, value):
    with pytest.raises(ValueError, match=rf"{key} must be an integer >= 1"):
        trainer(**{key: value})


def test_a_negative_schedule_factor_stops_with_an_error():
    t = trainer(schedule=lambda step, total: 1.0 if step == 0 else -0.5)
    t.step()
    with pytest.raises(ValueError, match=r"returned -0.5 at step 1: .* >= 0"):
        t.step()


@pytest.mark.parametrize("reg", [-5.0, "0.1", math.nan])
def test_a_bad_model_reg_is_refused(reg):
    with pytest.raises(ValueError, match="reg must be a finite number >= 0"):
        model(reg=reg)
    m = model()
    with pytest.raises(ValueError, match="reg must be a finite number >= 0"):
        m.reg = reg


@pytest.mark.parametrize("spec, message", [("l2:reg=-5", "reg must be a finite number"), ("l2:reg=abc", "reg must")])
def test_bad_regularizer_options_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        trainer(regularizers=[spec])


def test_regularizers_given_as_a_bare_string_are_refused():
    with pytest.raises(TypeError, match=r"regularizers must be a list .* \(write regularizers=\[...\]\)"):
        trainer(regularizers="l2")


@pytest.mark.parametrize("seed", [-1, "0", 1.5])
def test_a_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        trainer(seed=seed)


def test_solver_print_every_zero_and_a_0_dim_x_are_refused():
    with pytest.raises(ValueError, match="print_every must be an integer >= 1"):
        minifc.Solver(model(), data(), print_every=0)
    bad = data()
    bad["X_train"] = torch.tensor(1.0)
    with pytest.raises(ShapeError, match="0-dim"):
        trainer(data=bad)


# -- checkpoints validated whole before anything changes ------------------------------------------------------
def _saved(tmp_path, rule="adam"):
    t = trainer(update_rule=rule, num_epochs=1, checkpoint_path=tmp_path / "c.pt")
    t.train()
    return t, torch.load(tmp_path / "c.pt", weights_only=True)


@pytest.mark.parametrize("break_it, message", [
    (lambda s: s["rng"].__setitem__("torch", s["rng"]["torch"][:100]), "rng\\['torch'\\] has 100 bytes"),
    (lambda s: s["optim_configs"]["W1"].__setitem__("m", torch.zeros(3, 3)), "optim_configs\\['W1'\\]\\['m'\\]"),
    (lambda s: s["optim_configs"]["W1"]["v"].fill_(float("nan")), "NaN or Inf in optim_configs"),
])
def test_a_bad_checkpoint_changes_nothing_and_names_the_file(tmp_path, break_it, message):
    _, state = _saved(tmp_path)
    break_it(state)
    state[CHECKSUM_KEY] = state_checksum(state)  # a consistent file: each field is checked on its own
    torch.save(state, tmp_path / "bad.pt")
    fresh = trainer(update_rule="adam", num_epochs=2)
    before = {k: v.clone() for k, v in fresh.model.params.items()}
    rng = torch.get_rng_state()
    with pytest.raises(CheckpointError, match=rf"bad.pt.*{message}"):
        fresh.load_checkpoint(tmp_path / "bad.pt")
    assert all(torch.equal(before[k], fresh.model.params[k]) for k in before)
    assert torch.equal(rng, torch.get_rng_state()) and fresh.epoch == 0


def test_resuming_with_another_batch_size_warns(tmp_path):
    _saved(tmp_path)
    other = trainer(update_rule="adam", num_epochs=2, batch_size=32)
    with pytest.warns(UserWarning, match=r"batch_size 32 \(the run used 16\)"):
        other.load_checkpoint(tmp_path / "c.pt")


def test_classic_load_checks_the_file_before_changing_the_model(tmp_path):
    good = minifc.TwoLayerNet(input_dim=12, hidden_dim=5, num_classes=4)
    state = {"reg": 0.0, "params": {k: v.clone() for k, v in good.params.items()}}
    state["params"]["W2"][0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    target = minifc.TwoLayerNet(input_dim=12, hidden_dim=7, num_classes=4)
    before = {k: v.clone() for k, v in target.params.items()}
    with pytest.raises(CheckpointError, match=r"nan.pt: it holds NaN or Inf in .*W2"):
        target.load(tmp_path / "nan.pt")
    assert all(torch.equal(before[k], target.params[k]) for k in before) and target.hidden_dim == 7


def test_classic_save_refuses_nan_weights(tmp_path):
    m = minifc.TwoLayerNet(input_dim=12, hidden_dim=5, num_classes=4)
    m.params["W1"][0, 0] = float("inf")
    with pytest.raises(CheckpointError, match="W1"):
        m.save(tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_check_runs_layers_in_float32_too():
    from minifc.verify.checks import check_components

    class Widening(nn.Module):  # returns float64 from float32 input: passes a float64-only check
        def forward(self, x):
            return x.double()

        def backward(self, dout):
            return dout.double()

    class Plugin:
        @staticmethod
        @hookimpl
        def minifc_register_layers(register):
            register("widening", Widening)

    reg = Registry(entry_points=False)
    reg.add_plugin(Plugin, "widening-plugin")
    rows = check_components(["widening"], registry=reg)
    bad = [r for r in rows if r.check.startswith("float32")]
    assert bad and not bad[0].passed and "float64" in bad[0].detail


def test_divergence_is_still_reported_clearly():
    t = trainer(update_rule="sgd", optim_config={"learning_rate": 1e30})
    with pytest.raises(DivergenceError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.train()
