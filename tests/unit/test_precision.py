"""bf16-mixed precision: the policy (auto, validation), the layers' gradients against float64, the working
copies, and the Trainer's step under it."""

from __future__ import annotations

import warnings

import pytest
import torch

from minifc.errors import PrecisionError
from minifc.models import Classifier, FullyConnectedNet
from minifc.nn import modules as M
from minifc.nn.mixed import apply_compute_dtype
from minifc.training import precision as P
from minifc.training.trainer import Trainer
from minifc.training.update import Foreach, InProduct

#: bfloat16 keeps 8 bits of mantissa: one product within about 1e-2 (relative, as a norm)
BF16_RTOL = 2e-2
#: a gradient through several bfloat16 layers: each layer's dx is rounded again and the batch sum cancels
BF16_DEEP_RTOL = 6e-2


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-12))


def data(n: int = 200, d: int = 12, c: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X @ torch.randn(d, c, generator=g)).argmax(1)
    return {"X_train": X[: n - 40], "y_train": y[: n - 40], "X_val": X[n - 40 :], "y_val": y[n - 40 :]}


def nets() -> dict[str, M.Module]:
    torch.manual_seed(0)
    return {
        "Linear": M.Sequential(M.Linear(12, 32)),
        "LinearReLU": M.Sequential(M.Linear(12, 16), M.LinearReLU(16, 32), M.Linear(32, 4)),
        "ReLU": M.Sequential(M.Linear(12, 32), M.ReLU(), M.Linear(32, 4)),
        "Dropout": M.Sequential(M.Linear(12, 32), M.ReLU(), M.Dropout(0.3, seed=5), M.Linear(32, 4)),
        "image input": M.Sequential(M.Linear(12, 32), M.ReLU(), M.Linear(32, 4)),
    }


@pytest.mark.parametrize("name", list(nets()))
def test_bf16_mixed_gradients_of_every_builtin_layer_match_float64(name):
    net = nets()[name]
    # a dropout mask is drawn in float32 under bf16-mixed: the float32 run's mask is the one to compare with
    reference = Classifier(_clone(net).to(torch.float32 if name == "Dropout" else torch.float64))
    model = Classifier(net)
    copies = P.resolve_precision("bf16-mixed", torch.device("cpu"), model).apply(model)
    assert copies and all(c.dtype == torch.bfloat16 for c in copies)
    X, y = data()["X_train"][:64], data()["y_train"][:64] % 4
    if name == "image input":
        X = X.reshape(64, 3, 4)
    for p in reference.param_objects.values():
        p.sink = None
    first = next(m for m in net.modules() if isinstance(m, M.Linear))
    first.input_grad = True  # dx of the first layer too
    loss, grads = model.loss(X, y)
    loss64, grads64 = reference.loss(X.to(reference.dtype), y)
    assert abs(float(loss) - float(loss64)) < BF16_RTOL * abs(float(loss64))
    last = list(grads)[-2:]  # the last layer's: one product from float32 dscores
    assert all(rel_error(grads[k], grads64[k]) < BF16_RTOL for k in last)
    for k, g in grads.items():
        assert g.dtype == torch.float32 and g.is_contiguous(), k  # what the update and regularizers see
        assert rel_error(g, grads64[k]) < BF16_DEEP_RTOL, (k, rel_error(g, grads64[k]))
    assert all(t.dtype == torch.float32 and t.is_contiguous() for t in model.params.values())


def _clone(net: M.Module) -> M.Module:
    import copy

    return copy.deepcopy(net)


def test_linear_dx_in_bf16_matches_float64():
    torch.manual_seed(0)
    layer = M.Linear(20, 10)
    ref = _clone(layer).to(torch.float64)
    layer.use_compute_dtype(torch.bfloat16)
    x, dout = torch.randn(8, 20), torch.randn(8, 10)
    out = layer.forward(x)
    assert out.dtype == torch.bfloat16
    assert rel_error(out, ref.forward(x.double())) < BF16_RTOL
    dx = layer.backward(dout)
    dx64 = ref.backward(dout.double())
    assert dx.dtype == torch.float32 and rel_error(dx, dx64) < BF16_RTOL  # dx comes back like its input
    assert layer.weight.grad.dtype == torch.float32
    assert rel_error(layer.weight.grad, ref.weight.grad) < BF16_RTOL
    assert rel_error(layer.bias.grad, ref.bias.grad) < 1e-6  # summed in float32
    layer.forward(x.bfloat16())
    assert layer.backward(dout).dtype == torch.bfloat16


def test_working_copies_follow_the_masters_however_they_change():
    layer = M.Linear(6, 3)
    (w, _) = layer.use_compute_dtype(torch.bfloat16)
    layer.forward(torch.randn(2, 6))
    layer.weight.data.mul_(2)  # in place (an EMA swap, a user's edit)
    assert torch.equal(w.get(), layer.weight.data.bfloat16())
    layer.weight.data = torch.ones(6, 3)  # replaced (a restored checkpoint)
    assert torch.equal(w.get(), torch.ones(6, 3, dtype=torch.bfloat16))


def test_auto_picks_float32_without_bf16_flags_and_bf16_mixed_with_them(monkeypatch):
    model = FullyConnectedNet([8], input_dim=4, num_classes=3)
    monkeypatch.setattr(P, "cpu_bf16_flags", lambda: [])
    chosen = P.resolve_precision("auto", torch.device("cpu"), model)
    assert chosen.name == "32" and chosen.compute_dtype is None
    assert "neither amx_bf16 nor avx512_bf16" in chosen.note
    monkeypatch.setattr(P, "cpu_bf16_flags", lambda: ["avx512_bf16"])
    chosen = P.resolve_precision("auto", torch.device("cpu"), model)
    assert chosen.name == "bf16-mixed" and chosen.compute_dtype == torch.bfloat16
    assert chosen.note == "precision auto: bf16-mixed (this CPU has avx512_bf16)"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu sse avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert P.cpu_bf16_flags(info) == ["amx_bf16", "avx512_bf16"]
    info.write_text("flags : fpu sse avx2\n")
    assert P.cpu_bf16_flags(info) == []


def test_an_unknown_precision_is_refused_naming_the_argument_and_the_model_is_untouched():
    model = FullyConnectedNet([8], input_dim=12, num_classes=4, dtype=torch.float64)
    before = {k: v.clone() for k, v in model.params.items()}
    with pytest.raises(PrecisionError, match="precision: unknown precision 'bf17'; choose one of 32, 64"):
        Trainer(model, data(), precision="bf17", verbose=False)
    with pytest.raises(PrecisionError, match="needs a model built of minifc.nn layers"):
        P.resolve_precision("bf16-mixed", torch.device("cpu"), _ClassicOnly())
    assert all(torch.equal(model.params[k], v) and v.dtype == torch.float64 for k, v in before.items())


class _ClassicOnly:
    def __init__(self) -> None:
        self.params = {"W": torch.zeros(2, 2)}


def test_trainer_in_bf16_mixed_trains_and_keeps_float32_masters():
    torch.manual_seed(0)
    model = FullyConnectedNet([32, 32], input_dim=12, num_classes=4, dropout=0.1, weight_scale=0.1)
    trainer = Trainer(model, data(), update_rule="adam", optim_config={"learning_rate": 5e-3}, num_epochs=8,
                      batch_size=40, seed=0, verbose=False, precision="bf16-mixed")
    trainer.train(return_best_params=False)
    losses = trainer.loss_history
    assert sum(losses[-4:]) / 4 < 0.6 * sum(losses[:4]) / 4
    assert trainer.best_val_acc > 0.5  # chance: 0.25
    assert all(t.dtype == torch.float32 and t.is_contiguous() for t in model.params.values())
    for layer in model.net.modules():  # refreshed by the update: equal to the masters rounded
        if isinstance(layer, M.Linear):
            w, b = layer.working
            assert torch.equal(w.copy, layer.weight.data.bfloat16()) and torch.equal(b.copy, layer.bias.data.bfloat16())


def test_in_product_updates_are_off_under_bf16_mixed_and_float32_is_unchanged():
    def trainer(precision):
        torch.manual_seed(0)
        model = FullyConnectedNet([16], input_dim=12, num_classes=4)
        return Trainer(model, data(), update_rule="sgd_momentum", verbose=False, precision=precision)

    plain = trainer(None)
    assert type(plain.updater) is InProduct and plain.working_copies == []
    assert type(trainer("32").updater) is InProduct
    mixed = trainer("bf16-mixed")
    assert isinstance(mixed.updater, P.RefreshingUpdate) and type(mixed.updater.inner) is Foreach
    mixed.step()  # the gradient reaches the update in float32; no sink is armed


def test_bf16_mixed_with_a_per_parameter_rule_refreshes_replaced_masters():
    def sgd(w, dw, config):
        return w - 0.1 * dw, config

    torch.manual_seed(0)
    model = FullyConnectedNet([16], input_dim=12, num_classes=4)
    trainer = Trainer(model, data(), update_rule=sgd, verbose=False, precision="bf16-mixed")
    for _ in range(3):
        trainer.step()
    for c in trainer.working_copies:
        assert torch.equal(c.copy, c.param.data.bfloat16())


def test_64_converts_a_float32_model_and_32_a_float64_one():
    model = FullyConnectedNet([8], input_dim=12, num_classes=4)
    Trainer(model, data(), verbose=False, precision="64").step()
    assert model.dtype == torch.float64
    Trainer(model, data(), verbose=False, precision="32").step()
    assert model.dtype == torch.float32


class Undeclared(M.Module):
    """A plugin-style layer that declares no precision: identity, recording the dtype it sees."""

    def forward(self, x):
        self.seen = x.dtype
        return x

    def backward(self, dout):
        self.seen_back = dout.dtype
        return dout


def test_an_undeclared_layer_runs_in_float32_with_a_warning_naming_it():
    odd = Undeclared()
    net = M.Sequential(M.Linear(12, 16), odd, M.Linear(16, 4))
    with pytest.warns(UserWarning, match="layer Undeclared declares no precision"):
        apply_compute_dtype(net, torch.bfloat16)
    out = net.forward(torch.randn(5, 12))
    assert odd.seen == torch.float32 and out.dtype == torch.bfloat16
    dx = net[1].backward(torch.ones(5, 16, dtype=torch.bfloat16))
    assert odd.seen_back == torch.float32 and dx.dtype == torch.bfloat16  # back in the dtype it came in
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per layer class
        apply_compute_dtype(net, torch.bfloat16)
    apply_compute_dtype(net, None)  # off again: the layer's own methods, products in float32
    assert net.forward(torch.randn(5, 12)).dtype == torch.float32 and "forward" not in odd.__dict__


def test_an_unknown_reduce_precision_is_refused_naming_the_argument():
    with pytest.raises(PrecisionError, match="reduce_precision: unknown value 'fp8'; choose one of 32, bf16"):
        Trainer(FullyConnectedNet([8], input_dim=12, num_classes=4), data(), reduce_precision="fp8", verbose=False)


def test_auto_says_what_it_chose(monkeypatch, capsys):
    monkeypatch.setattr(P, "cpu_bf16_flags", lambda: [])
    trainer = Trainer(FullyConnectedNet([8], input_dim=12, num_classes=4), data(), precision="auto", progress=False)
    assert trainer.precision.name == "32" and trainer.working_copies == []
    assert "precision auto: 32 (this CPU has neither amx_bf16 nor avx512_bf16" in capsys.readouterr().out


def test_a_float32_layer_between_bf16_products_passes_the_first_step_checks():
    """The first step checks that each layer's dx has its input's dtype: a Linear after a float32 layer
    takes float32 in and gives float32 dx back."""
    torch.manual_seed(0)
    net = M.Sequential(M.Linear(12, 16), M.ReLU(), Float32Identity(), M.Linear(16, 4))
    trainer = Trainer(net, data(), update_rule="adam", verbose=False, precision="bf16-mixed")
    assert trainer.step() > 0
    assert trainer.step() > 0


class Float32Identity(M.Module):
    precision = "float32"

    def forward(self, x):
        assert x.dtype == torch.float32
        return x.clone()

    def backward(self, dout):
        assert dout.dtype == torch.float32
        return dout


def test_a_deep_copy_of_a_net_under_the_policy_runs_its_own_layers():
    import copy

    odd = Undeclared()
    net = M.Sequential(M.Linear(12, 16), odd, M.Linear(16, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        apply_compute_dtype(net, torch.bfloat16)
    twin = copy.deepcopy(net)
    twin.forward(torch.randn(5, 12))
    assert twin[1].seen == torch.float32 and not hasattr(odd, "seen")


def test_a_refused_trainer_leaves_the_model_in_its_dtype():
    model = FullyConnectedNet([8], input_dim=12, num_classes=4, dtype=torch.float64)
    bad = data()
    bad["y_train"] = bad["y_train"] + 10  # labels beyond the classes
    with pytest.raises(ValueError, match="y_train"):
        Trainer(model, bad, precision="bf16-mixed", verbose=False)
    assert model.dtype == torch.float64 and all(
        not isinstance(m, M.Linear) or m.working is None for m in model.net.modules()
    )
