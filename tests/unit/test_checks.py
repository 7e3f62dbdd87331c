"""minifc.verify.checks: built-ins pass, and each kind of wrong component is caught."""

from __future__ import annotations

import types

import pytest
import torch

from minifc import nn
from minifc.errors import UnknownComponentError
from minifc.functional import softmax_loss
from minifc.optim import sgd
from minifc.registry.core import Registry
from minifc.registry.hookspecs import hookimpl
from minifc.verify.checks import check_components

HOOKS = {
    "layer": "minifc_register_layers",
    "loss": "minifc_register_losses",
    "update_rule": "minifc_register_update_rules",
    "regularizer": "minifc_register_regularizers",
}


def registry_with(kind: str, name: str, obj, **metadata) -> Registry:
    def hook(register):
        register(name, obj, **metadata)

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(**{HOOKS[kind]: hookimpl(hook)}), "thirdparty", "minifc-third", "9.9")
    return reg


def failures(reg: Registry, name: str):
    rows = check_components([name], registry=reg)
    assert rows and all(r.component == name for r in rows)
    return [r for r in rows if not r.passed]


def test_builtins_pass():
    rows = check_components(registry=Registry(entry_points=False))
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]
    names = {r.component for r in rows}
    builtin = "linear relu linear_relu dropout softmax svm sgd sgd_momentum rmsprop adam l2 clip_norm clip_value"
    builtin += " constant warmup_cosine step exponential early_stopping ema tensorboard"
    assert names == set(builtin.split())
    linear_checks = {r.check for r in rows if r.component == "linear"}
    assert {"train: dx", "train: grad weight", "train: grad bias", "eval: dx"} <= linear_checks
    assert all(r.provider.startswith("builtins (minifc") for r in rows)


def test_checks_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_components(["dropout"], registry=Registry(entry_points=False))
    torch.testing.assert_close(torch.rand(3), expected)


def test_filter_by_component_plugin_and_distribution():
    reg = registry_with("loss", "mine", softmax_loss)
    assert {r.component for r in check_components(["mine"], registry=reg)} == {"mine"}
    assert {r.component for r in check_components(["thirdparty"], registry=reg)} == {"mine"}
    assert {r.component for r in check_components(["minifc-third", "adam"], registry=reg)} == {"mine", "adam"}
    with pytest.raises(UnknownComponentError, match="did you mean 'mine'"):
        check_components(["mien"], registry=reg)


class WrongDx(nn.Linear):
    def backward(self, dout):
        dx = super().backward(dout)
        return dx * 1.01


class WrongWeightGrad(nn.Linear):
    def backward(self, dout):
        dx = super().backward(dout)
        self.weight.grad = self.weight.grad.t().t() * 0.5
        return dx


class NoGrad(nn.Module):
    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(in_features))

    def forward(self, x):
        return x * self.scale.data

    def backward(self, dout):
        return dout * self.scale.data


class RandomFresh(nn.Module):
    """Noise from torch's global RNG on every forward: correct only when the check re-seeds."""

    def forward(self, x):
        self._mask = torch.rand(x.shape, dtype=x.dtype) + 0.5
        return x * self._mask

    def backward(self, dout):
        return dout * self._mask


class NeedsWidth(nn.Module):
    def __init__(self, in_features: int, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor

    def backward(self, dout):
        return dout * self.factor


@pytest.mark.parametrize(
    "layer, bad_check",
    [(WrongDx, "train: dx"), (WrongWeightGrad, "train: grad weight"), (NoGrad, "train: backward")],
)
def test_wrong_layers_fail(layer, bad_check):
    bad = failures(registry_with("layer", "bad", layer), "bad")
    assert bad_check in {r.check for r in bad}
    assert all(r.provider == "thirdparty (minifc-third 9.9)" for r in bad)


def test_layer_randomness_is_made_deterministic():
    assert failures(registry_with("layer", "noisy", RandomFresh), "noisy") == []


def test_check_kwargs_metadata_builds_the_layer():
    assert failures(registry_with("layer", "needs", NeedsWidth, check_kwargs={"factor": 2.0}), "needs") == []
    [bad] = failures(registry_with("layer", "needs", NeedsWidth), "needs")
    assert bad.check == "setup" and "factor" in bad.detail


def test_wrong_loss_fails():
    def half_gradient(scores, y):
        loss, dscores = softmax_loss(scores, y)
        return loss, dscores * 0.5

    [bad] = failures(registry_with("loss", "half", half_gradient), "half")
    assert bad.check == "dscores" and bad.error > 1e-3


def test_wrong_regularizers_fail():
    def wrong(w, config):
        return config["reg"] * (w * w).sum(), config["reg"] * w  # should be 2 * reg * w

    def in_place(w, config):
        w.mul_(1.0)
        w.add_(1e-3)
        return (w * w).sum(), 2 * w

    def to_float32(w, config):
        return w.float()

    assert {r.check for r in failures(registry_with("regularizer", "r", wrong, defaults={"reg": 0.0}), "r")} == {
        "dpenalty (6, 5)"
    }
    assert "changed w in place" in failures(registry_with("regularizer", "r", in_place), "r")[0].detail
    bad = failures(registry_with("regularizer", "r", to_float32, stage="update"), "r")
    assert bad and "dtype torch.float32 (expected torch.float64)" in bad[0].detail


def test_applies_to_all_checks_a_bias_too():
    from minifc.optim.regularizers import l2

    rows = check_components(["r"], registry=registry_with("regularizer", "r", l2, applies_to="all"))
    assert {r.check for r in rows} == {"outputs (6, 5)", "dpenalty (6, 5)", "outputs (5,)", "dpenalty (5,)"}
    assert all(r.passed for r in rows)


def test_wrong_update_rules_fail():
    def ascent(w, dw, config=None):
        w.add_(dw, alpha=1e-2)
        return w, config or {}

    def float32_state(w, dw, config=None):
        config = config or {}
        config.setdefault("v", torch.zeros(w.shape))  # not like w
        w.sub_(dw, alpha=1e-2)
        return w, config

    def reshapes(w, dw, config=None):
        return w.reshape(-1), config or {}

    [bad] = failures(registry_with("update_rule", "u", ascent), "u")
    assert bad.check.startswith("decreases") and bad.error > 1
    [bad] = failures(registry_with("update_rule", "u", float32_state), "u")
    assert "state 'v' is torch.float32" in bad.detail
    [bad] = failures(registry_with("update_rule", "u", reshapes), "u")
    assert "shape" in bad.detail


def test_builtin_sinks_are_checked_against_their_rules():
    rows = check_components(["sgd", "sgd_momentum", "adam"], registry=Registry(entry_points=False))
    sink_rows = [r for r in rows if r.check.startswith("sink form")]
    assert {r.component for r in sink_rows} == {"sgd", "sgd_momentum"}  # adam has no sink form
    assert all(r.passed and r.error < 1e-12 for r in sink_rows)


def test_a_sink_that_is_not_its_rule_fails():
    def rule(w, dw, config=None):
        w.add_(dw, alpha=-1e-2)
        return w, config or {}

    rule.sink = lambda w, config: (w, 1.0, -2e-2, None)  # twice the rule's step
    [bad] = failures(registry_with("update_rule", "u", rule), "u")
    assert bad.check.startswith("sink form") and bad.error > 1e-3
    rule.sink = lambda w, config: (w[:2], 1.0, -1e-2, None)  # a target of the wrong shape
    [bad] = failures(registry_with("update_rule", "u", rule), "u")
    assert bad.check.startswith("sink form") and "RuntimeError" in bad.detail


def test_builtin_batched_forms_are_checked_against_their_rules():
    rows = check_components(["sgd", "adam"], registry=Registry(entry_points=False))
    forms = {(r.component, r.check.split()[0]): r for r in rows if " form matches" in r.check}
    assert set(forms) == {("sgd", "foreach"), ("sgd", "sink"), ("adam", "foreach"), ("adam", "fused")}
    assert forms["adam", "foreach"].error == 0.0  # foreach is bit-identical, fused equal up to rounding
    assert all(r.passed and r.error < 1e-12 for r in forms.values())


def test_a_fused_form_that_is_not_its_rule_fails():
    def rule(w, dw, config=None):
        w.add_(dw, alpha=-1e-2)
        return w, config or {}

    def fused(ws, dws, configs):
        torch._foreach_add_(ws, dws, alpha=-1e-3)  # a tenth of the rule's step
        return True

    rule.fused = fused
    [bad] = failures(registry_with("update_rule", "u", rule), "u")
    assert bad.check.startswith("fused form") and bad.error > 1e-3
    rule.fused = lambda ws, dws, configs: False  # declines configs that all agree
    [bad] = failures(registry_with("update_rule", "u", rule), "u")
    assert bad.check.startswith("fused form") and "declined" in bad.detail


def test_check_config_metadata_is_used_for_update_rules():
    rows = check_components(["u"], registry=registry_with("update_rule", "u", sgd, check_config={"learning_rate": 0.5}))
    [ratio] = [r.error for r in rows if r.check.startswith("decreases")]
    assert ratio < 1e-20  # lr 0.5 on 0.5||w-t||^2 halves the distance every step


def test_a_failed_plugin_is_a_failing_row():
    def boom(register):
        raise RuntimeError("broken")

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=hookimpl(boom)), "broken")
    rows = check_components(registry=reg)
    [bad] = [r for r in rows if not r.passed]
    assert bad.kind == "plugin" and bad.check == "load" and "broken" in bad.detail


def test_every_builtin_layer_and_loss_is_checked_under_bf16_mixed():
    rows = check_components(["linear", "linear_relu", "relu", "dropout", "softmax", "svm"])
    mixed = [r for r in rows if r.check.startswith("bf16-mixed")]
    assert {r.component for r in mixed} == {"linear", "linear_relu", "relu", "dropout", "softmax", "svm"}
    assert all(r.passed and r.error is not None and r.error < 2e-2 for r in mixed)
    linear = {r.check for r in mixed if r.component == "linear"}
    assert {"bf16-mixed eval: grad weight (vs float64)", "bf16-mixed train: dx (vs float32)"} <= linear


class WrongInBf16(nn.Module):
    """Declares that it computes in whatever comes in, but adds 0.5 when that is bfloat16."""

    precision = "passthrough"

    def forward(self, x):
        return x + 0.5 if x.dtype == torch.bfloat16 else x.clone()

    def backward(self, dout):
        return dout


class Undeclared(nn.Module):
    def forward(self, x):
        return x * 2

    def backward(self, dout):
        return dout * 2


def test_a_layer_wrong_in_bf16_fails_and_an_undeclared_one_is_named_as_float32():
    bad = failures(registry_with("layer", "wrong_bf16", WrongInBf16), "wrong_bf16")
    assert [r.check for r in bad] == ["bf16-mixed eval: output (vs float64)", "bf16-mixed train: output (vs float32)"]
    rows = check_components(["undeclared"], registry=registry_with("layer", "undeclared", Undeclared))
    mixed = [r for r in rows if r.check.startswith("bf16-mixed")]
    assert mixed and all(r.passed and r.detail == "declares no precision: runs in float32" for r in mixed)
