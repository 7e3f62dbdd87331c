"""The optimized paths give the results of the reference ones.

* ``rule.foreach`` (all parameters at once) against ``rule`` called per parameter: bit-identical on CPU;
  ``rule.fused`` (one kernel) equal up to rounding, and the Trainer's default for adam.
* The Trainer's foreach update against the per-parameter loop: identical training runs.
* ``softmax_loss`` (one log_softmax, gather/scatter) against the textbook formula; any integer labels.
* ``relu_backward`` (threshold_backward) and the dropout mask against their plain definitions.
* ``functional.no_grad``: no autograd graph, the caller's grad mode restored.
"""

import pytest
import torch

import minifc
from minifc import functional as F
from minifc import optim
from minifc.errors import DivergenceError
from minifc.training.update import InProduct

RULES = {
    "sgd": (optim.sgd, {"learning_rate": 1e-2}),
    "sgd_momentum": (optim.sgd_momentum, {"learning_rate": 1e-2, "momentum": 0.9}),
    "rmsprop": (optim.rmsprop, {"learning_rate": 1e-3, "decay_rate": 0.99, "epsilon": 1e-8}),
    "adam": (optim.adam, {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
}
SHAPES = [(7, 5), (5,), (5, 3), (3,)]


def assert_same(a, b, device):
    if device.type == "cpu":
        assert torch.equal(a, b)
    else:  # CUDA's foreach kernels may contract multiply-adds differently from the per-tensor ones
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", list(RULES))
def test_foreach_matches_per_parameter_rule(name, device, dtype):
    rule, hyper = RULES[name]
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(s, generator=g, dtype=dtype).to(device) for s in SHAPES]
    ref_ws = [w.clone() for w in ws]
    configs = [dict(hyper) for _ in ws]
    ref_configs = [dict(hyper) for _ in ws]
    for _ in range(4):
        dws = [torch.randn(s, generator=g, dtype=dtype).to(device) for s in SHAPES]
        assert rule.foreach(ws, dws, configs) is True
        for i, (w, dw) in enumerate(zip(ref_ws, dws, strict=True)):
            next_w, ref_configs[i] = rule(w, dw, ref_configs[i])
            assert next_w is w  # the rules work in place
    for w, ref in zip(ws, ref_ws, strict=True):
        assert_same(w, ref, device)
    for config, ref in zip(configs, ref_configs, strict=True):
        assert set(config) == set(ref)
        for key, value in ref.items():
            if isinstance(value, torch.Tensor):
                assert_same(config[key], value, device)
            else:
                assert config[key] == value


@pytest.mark.parametrize("name", list(RULES))
def test_foreach_declines_different_hyperparameters(name):
    rule, hyper = RULES[name]
    ws = [torch.ones(3), torch.ones(2)]
    before = [w.clone() for w in ws]
    configs = [dict(hyper), {**hyper, "learning_rate": hyper["learning_rate"] / 2}]
    assert rule.foreach(ws, [torch.ones(3), torch.ones(2)], configs) is False
    assert all(torch.equal(w, b) for w, b in zip(ws, before, strict=True))
    assert all(not any(isinstance(v, torch.Tensor) for v in c.values()) for c in configs)


FUSED = {"adam": optim.adam, "adamw": optim.decoupled_weight_decay(optim.adam)}


@pytest.mark.parametrize("name", list(FUSED))
# float32 state: CUDA's fused kernel rounds the moment updates in another order than the rule's two
# in-place ops, so entries near zero differ by a few ulps of the larger ones (atol), not relatively.
@pytest.mark.parametrize("dtype, rtol, atol", [(torch.float64, 1e-12, 1e-30), (torch.float32, 1e-5, 1e-6)])
def test_fused_form_matches_per_parameter_rule(name, dtype, rtol, atol, device):
    rule = FUSED[name]
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(s, generator=g, dtype=dtype).to(device) for s in SHAPES]
    ref_ws = [w.clone() for w in ws]
    configs = [{"learning_rate": 1e-2} for _ in ws]
    ref_configs = [{"learning_rate": 1e-2} for _ in ws]
    for _ in range(5):
        dws = [torch.randn(s, generator=g, dtype=dtype).to(device) for s in SHAPES]
        assert rule.fused(ws, dws, configs) is True
        for i, (w, dw) in enumerate(zip(ref_ws, dws, strict=True)):
            ref_ws[i], ref_configs[i] = rule(w, dw, ref_configs[i])
    for w, ref, config, ref_config in zip(ws, ref_ws, configs, ref_configs, strict=True):
        torch.testing.assert_close(w, ref, rtol=rtol, atol=0)
        assert config["t"] == ref_config["t"] == 5
        for key in ("m", "v"):
            assert config[key].dtype == dtype and config[key].device == w.device
            torch.testing.assert_close(config[key], ref_config[key], rtol=rtol, atol=atol)
    configs[1]["learning_rate"] = 5e-3
    assert rule.fused(ws, dws, configs) is False  # different hyper-parameters: per parameter instead


def _plain(rule):
    """The same rule without its foreach form: the Trainer then loops over parameters."""

    def per_parameter(w, dw, config=None):
        return rule(w, dw, config)

    per_parameter.defaults = rule.defaults
    per_parameter.state_keys = rule.state_keys
    return per_parameter


def _train(update_rule, optim_config, dropout, steps=12, dtype=torch.float32, reg=0.0, **kwargs):
    g = torch.Generator().manual_seed(1)
    data = {"X_train": torch.randn(64, 12, generator=g, dtype=dtype), "y_train": torch.randint(4, (64,), generator=g),
            "X_val": torch.randn(16, 12, generator=g, dtype=dtype), "y_val": torch.randint(4, (16,), generator=g)}
    torch.manual_seed(0)
    model = minifc.FullyConnectedNet([10, 8], input_dim=12, num_classes=4, dropout=dropout, weight_scale=0.1,
                                     reg=reg, dtype=dtype)
    trainer = minifc.Trainer(model, data, update_rule=update_rule, optim_config=optim_config, batch_size=16,
                             device="cpu", seed=3, verbose=False, **kwargs)
    torch.manual_seed(5)  # dropout masks come from the global RNG
    losses = [trainer.step() for _ in range(steps)]
    return losses, {k: v.clone() for k, v in model.params.items()}, trainer


@pytest.mark.parametrize("name", list(RULES))
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_trainer_foreach_update_identical_to_per_parameter_loop(name, dropout):
    rule, hyper = RULES[name]
    fast_losses, fast_params, fast = _train(name, hyper, dropout, fuse_updates=False)
    ref_losses, ref_params, ref = _train(_plain(rule), hyper, dropout)
    assert fast_losses == ref_losses
    for k in ref_params:
        assert torch.equal(fast_params[k], ref_params[k]), k


def test_trainer_uses_the_fused_adam_kernel_unless_told_not_to():
    hyper = RULES["adam"][1]
    losses, params, trainer = _train("adam", hyper, 0.0, dtype=torch.float64)
    ref_losses, ref_params, _ = _train(_plain(optim.adam), hyper, 0.0, dtype=torch.float64)
    assert trainer.updater.batched is optim.adam.fused
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(ref_losses), rtol=1e-12, atol=0)
    for k in ref_params:
        torch.testing.assert_close(params[k], ref_params[k], rtol=1e-10, atol=1e-13)
    _, _, exact = _train("adam", hyper, 0.0, steps=1, fuse_updates=False)
    assert exact.updater.batched is optim.adam.foreach


def test_the_one_kernel_and_the_in_product_flags_are_separate():
    hyper = RULES["adam"][1]
    _, _, adam_no_product = _train("adam", hyper, 0.0, steps=1, update_in_product=False)
    assert adam_no_product.updater.batched is optim.adam.fused  # one kernel still on
    _, _, adam_unfused = _train("adam", hyper, 0.0, steps=1, fused=False)
    assert adam_unfused.updater.batched is optim.adam.foreach
    _, _, sgd_unfused = _train("sgd", {"learning_rate": 1e-2}, 0.0, steps=1, fused=False)
    assert isinstance(sgd_unfused.updater, InProduct)  # in the product still on
    _, _, old_spelling = _train("sgd", {"learning_rate": 1e-2}, 0.0, steps=1, fuse_updates=False)
    assert not isinstance(old_spelling.updater, InProduct) and old_spelling.updater.batched is optim.sgd.foreach


def test_trainer_uses_foreach_only_after_the_validated_first_step(monkeypatch):
    calls = []
    foreach = optim.sgd.foreach
    monkeypatch.setattr(optim.sgd, "foreach", lambda *a: calls.append(1) or foreach(*a))
    _, _, trainer = _train("sgd", {"learning_rate": 1e-2}, 0.0, steps=3)
    assert len(calls) == 2 and trainer.step_count == 3


def _softmax_reference(x, y):
    n = x.shape[0]
    shifted = x - x.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    loss = -log_probs[torch.arange(n), y].sum() / n
    dx = log_probs.exp()
    dx[torch.arange(n), y] -= 1
    return loss, dx / n


@pytest.mark.parametrize("label_dtype", [torch.int64, torch.int32, torch.uint8])
def test_softmax_loss_matches_textbook_formula(label_dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 6, generator=g, dtype=torch.float64) * 5
    y = torch.randint(6, (9,), generator=g)
    loss, dx = F.softmax_loss(x, y.to(label_dtype))
    ref_loss, ref_dx = _softmax_reference(x, y)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(dx, ref_dx, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("num_classes", [2, 10, 15, 16, 40])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_loss_few_and_many_classes_match_the_textbook_formula(num_classes, dtype):
    # below 16 classes the CPU loss works on the transposed scores; both forms must give the textbook values
    g = torch.Generator().manual_seed(num_classes)
    x = torch.randn(37, num_classes, generator=g, dtype=dtype) * 4
    y = torch.randint(num_classes, (37,), generator=g)
    loss, dx = F.softmax_loss(x, y)
    ref_loss, ref_dx = _softmax_reference(x, y)
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    torch.testing.assert_close(loss, ref_loss, rtol=tol, atol=tol)
    torch.testing.assert_close(dx, ref_dx, rtol=tol, atol=tol)
    assert dx.is_contiguous() and dx.shape == x.shape and dx.dtype == dtype


def test_relu_backward_and_dropout_mask_match_their_definitions():
    g = torch.Generator().manual_seed(0)
    x, dout = torch.randn(6, 7, generator=g), torch.randn(6, 7, generator=g)
    x[0, :3] = 0.0
    assert torch.equal(F.relu_backward(dout, x), dout.masked_fill(x <= 0, 0))
    mask = F.dropout_mask(x, 0.3, torch.Generator().manual_seed(4))
    keep = torch.rand(x.shape, generator=torch.Generator().manual_seed(4)) >= 0.3
    assert torch.equal(mask, keep.to(x.dtype) / 0.7)


def test_functional_no_grad_builds_no_graph_and_restores_grad_mode():
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(3, 2, requires_grad=True)
    out, _ = F.Linear.forward(x, w, torch.zeros(2))
    assert not out.requires_grad and torch.is_grad_enabled()
    with torch.no_grad():
        out, _ = F.Linear.forward(x, w, torch.zeros(2))
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    assert F.Linear.forward.__name__ == "forward" and F.Linear.forward.__doc__.startswith("Inputs")


# -- updates inside the weight-gradient product (rule.sink) ---------------------------------------------
@pytest.mark.parametrize("name", ["sgd", "sgd_momentum"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_trainer_fused_updates_match_the_rule(name, dropout):
    rule, hyper = RULES[name]
    fused_losses, fused_params, fused = _train(name, hyper, dropout, dtype=torch.float64)
    ref_losses, ref_params, ref = _train(_plain(rule), hyper, dropout, dtype=torch.float64)
    assert isinstance(fused.updater, InProduct) and not isinstance(ref.updater, InProduct)
    torch.testing.assert_close(torch.tensor(fused_losses), torch.tensor(ref_losses), rtol=1e-12, atol=0)
    for k in ref_params:
        torch.testing.assert_close(fused_params[k], ref_params[k], rtol=1e-10, atol=1e-13)
    if name == "sgd_momentum":
        for k in ref_params:
            torch.testing.assert_close(fused.optim_configs[k]["velocity"], ref.optim_configs[k]["velocity"],
                                       rtol=1e-10, atol=1e-13)


def test_fused_step_forms_no_weight_gradient():
    _, _, trainer = _train("sgd", {"learning_rate": 1e-2}, 0.0, steps=2)
    objects = trainer.model.param_objects
    assert all(objects[k].grad is None for k in ("W1", "W2", "W3"))  # updated inside the dw product
    assert all(objects[k].grad is not None for k in ("b1", "b2", "b3"))  # biases take the plain path
    assert all(p.sink is None for p in objects.values())  # no sink outlives its step


@pytest.mark.parametrize(
    "setup",
    [
        {"update_rule": "adam", "optim_config": {}},
        {"fuse_updates": False},
        {"update_in_product": False},
        {"reg": 0.1},
        {"regularizers": ["l2"]},
    ],
    ids=["adam-has-no-sink", "switched-off", "in-product-off", "model-reg", "regularizer"],
)
def test_fusion_only_where_it_is_the_same_update(setup):
    setup = dict(setup)
    rule = setup.pop("update_rule", "sgd")
    config = setup.pop("optim_config", {"learning_rate": 1e-2})
    _, _, trainer = _train(rule, config, 0.0, steps=2, **setup)
    assert not isinstance(trainer.updater, InProduct)
    assert all(p.grad is not None for p in trainer.model.param_objects.values())


def test_fused_step_stops_on_a_non_finite_loss_before_any_weight_changes():
    _, _, trainer = _train("sgd", {"learning_rate": 1e-2}, 0.0, steps=2)
    model = trainer.model
    before = {k: v.clone() for k, v in model.params.items()}
    model.loss_fn = lambda scores, y: (scores.sum() * float("nan"), torch.ones_like(scores))
    with pytest.raises(DivergenceError, match="nan"):
        trainer.step()
    assert all(torch.equal(model.params[k], before[k]) for k in before)


def test_a_classifier_subclass_with_its_own_loss_signature_trains_unfused():
    class Plain(minifc.models.Classifier):
        def loss(self, X, y=None):  # the classic signature, no trainer keywords
            return super().loss(X, y)

    g = torch.Generator().manual_seed(1)
    data = {"X_train": torch.randn(64, 12, generator=g), "y_train": torch.randint(4, (64,), generator=g),
            "X_val": torch.randn(16, 12, generator=g), "y_val": torch.randint(4, (16,), generator=g)}
    net = minifc.FullyConnectedNet([8], input_dim=12, num_classes=4).net
    trainer = minifc.Trainer(Plain(net), data, update_rule="sgd", batch_size=16, device="cpu", seed=0, verbose=False)
    trainer.step()
    trainer.step()
    assert not isinstance(trainer.updater, InProduct) and trainer.step_count == 2
