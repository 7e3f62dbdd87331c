"""Python API inputs that used to be accepted and then give wrong results or torch tracebacks: model
construction arguments, parameter dtypes, training data, ``model.loss`` and ``check_accuracy`` inputs,
``model.params`` entries and learning rates that callbacks set. Each is refused naming the culprit."""

from __future__ import annotations

import pytest
import torch
from small_runs import C, D, N, make_data, make_model, make_trainer, with_data

from minifc import FullyConnectedNet, Solver, TwoLayerNet
from minifc.builder import build_net
from minifc.errors import LabelError, ShapeError
from minifc.nn import Linear
from minifc.testing import invoke_cli

BAD_SCALES = [-1e-3, float("nan"), float("inf"), "0.01"]


@pytest.mark.parametrize("scale", BAD_SCALES)
def test_bad_weight_scale_is_refused(scale):
    with pytest.raises(ValueError, match="TwoLayerNet weight_scale must be a finite number >= 0"):
        TwoLayerNet(D, 4, C, weight_scale=scale)
    with pytest.raises(ValueError, match="FullyConnectedNet weight_scale must be a finite number >= 0"):
        FullyConnectedNet([4], input_dim=D, num_classes=C, weight_scale=scale)
    with pytest.raises(ValueError, match="Linear weight_scale"):
        Linear(D, 4, weight_scale=scale)
    with pytest.raises(ValueError, match=r"layers\[0\] .*: Linear weight_scale"):
        build_net([{"name": "linear", "out_features": 4, "weight_scale": scale}], D, C)


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool, torch.complex64, torch.int64])
def test_non_float_model_dtype_is_refused_and_the_model_kept(dtype):
    model = make_model()
    before = {k: v.clone() for k, v in model.params.items()}
    with pytest.raises(TypeError, match=r"FullyConnectedNet.dtype must be a floating-point dtype"):
        model.dtype = dtype
    assert model.dtype == torch.float32
    assert all(torch.equal(before[k], v) for k, v in model.params.items())
    with pytest.raises(TypeError, match="TwoLayerNet dtype must be a floating-point dtype"):
        TwoLayerNet(D, 4, C, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_float_model_dtypes_are_accepted(dtype):
    model = make_model()
    model.dtype = dtype
    assert model.loss(torch.randn(2, D)).dtype == dtype


@pytest.mark.parametrize(
    ("make_bad", "pattern"),
    [
        (lambda X: X > 0, "bool tensor"),
        (lambda X: X.to(torch.complex64), "complex"),
        (lambda X: X.to_sparse(), "sparse"),
        (lambda X: X.to("meta"), "meta device"),
    ],
    ids=["bool", "complex", "sparse", "meta"],
)
@pytest.mark.parametrize("key", ["X_train", "X_val"])
def test_unusable_training_data_is_refused_naming_the_key(make_bad, pattern, key):
    data = make_data()
    with pytest.raises(TypeError, match=rf"data\['{key}'\].*{pattern}"):
        make_trainer(data=with_data(**{key: make_bad(data[key])}))


@pytest.mark.parametrize(
    ("make_bad", "pattern"), [(lambda y: y.to_sparse(), "sparse"), (lambda y: y.to("meta"), "meta")]
)
def test_unusable_labels_are_refused_naming_the_key(make_bad, pattern):
    with pytest.raises(TypeError, match=rf"data\['y_train'\].*{pattern}"):
        make_trainer(data=with_data(y_train=make_bad(make_data()["y_train"])))


def test_data_that_requires_grad_is_used_detached():
    data = make_data()
    leaf = data["X_train"].clone().requires_grad_()
    trainer = make_trainer(data=with_data(X_train=leaf), num_epochs=1).train()
    assert trainer.step_count > 0 and not trainer.data["X_train"].requires_grad
    assert leaf.grad is None


def test_empty_or_non_finite_X_to_model_loss():
    model = make_model()
    with pytest.raises(ShapeError, match=r"FullyConnectedNet.loss: X is empty"):
        model.loss(torch.randn(0, D), torch.zeros(0, dtype=torch.long))
    X = torch.randn(4, D)
    X[2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"FullyConnectedNet.loss: X contains NaN or Inf in 1 sample.*first at row 2"):
        model.loss(X, torch.zeros(4, dtype=torch.long))
    assert model.loss(torch.randn(0, D)).shape == (0, C)  # scores of no samples stay valid


def test_check_accuracy_refuses_bad_inputs():
    trainer = make_trainer()
    X, y = make_data()["X_val"], make_data()["y_val"]
    with pytest.raises(LabelError, match=rf"check_accuracy: labels must be in \[0, {C}\)"):
        trainer.check_accuracy(X, y + C)
    with pytest.raises(LabelError, match="check_accuracy: expected one label per row"):
        trainer.check_accuracy(X, y[:5])
    bad = X.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"check_accuracy: X contains NaN or Inf .* first at row 0"):
        trainer.check_accuracy(bad, y)
    assert 0.0 <= trainer.check_accuracy(X, y) <= 1.0


def test_solver_check_accuracy_refuses_bad_inputs():
    data = make_data()
    solver = Solver(make_model(), data, verbose=False, num_epochs=1, batch_size=10)
    with pytest.raises(LabelError, match=r"check_accuracy: labels must be in \[0, 3\)"):
        solver.check_accuracy(data["X_val"], data["y_val"] + C)
    with pytest.raises(TypeError, match="check_accuracy: X and y must be tensors"):
        solver.check_accuracy(data["X_val"].tolist(), data["y_val"])


def test_a_param_that_is_not_a_tensor_is_named():
    model = make_model()
    model.params["W1"] = [[0.0] * 8] * D
    with pytest.raises(TypeError, match=r"params\['W1'\] must be a torch.Tensor, got list"):
        model.loss(torch.randn(2, D))
    model.params["W1"] = torch.zeros(D, 8, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"params\['W1'\] is torch.float64"):
        model.loss(torch.randn(2, D))


class _SetsLearningRate:
    def __init__(self, hook: str, value: float) -> None:
        self.value = value
        setattr(self, hook, self.set)

    def set(self, trainer) -> None:
        trainer.optim_configs["W1"]["learning_rate"] = self.value


@pytest.mark.parametrize("hook", ["on_epoch_begin", "on_step_end", "on_epoch_end"])
@pytest.mark.parametrize("value", [-0.1, float("nan"), 1e39])
def test_a_callback_that_sets_a_bad_learning_rate_is_named(hook, value):
    trainer = make_trainer(callbacks=[_SetsLearningRate(hook, value)])
    with pytest.raises(ValueError, match=rf"callback _SetsLearningRate.{hook} set .*'W1'.*learning_rate"):
        trainer.train()
    assert trainer.step_count <= (N // 10 if hook == "on_epoch_end" else 1)


# -- learning rates beyond the parameters' dtype ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"optim_config": {"learning_rate": 1e300}}, r"optim_config\['learning_rate'\] must be at most the largest"),
        (
            {"update_rule": "sgd_momentum", "optim_config": {"learning_rate": 1e39}},
            r"optim_config\['learning_rate'\] must be at most the largest float32",
        ),
        ({"lr_decay": 1e308, "optim_config": {"learning_rate": 1e-2}}, r"lr_decay 1e\+308 takes the learning rate"),
        ({"lr_decay": 1e20, "num_epochs": 3, "optim_config": {"learning_rate": 1.0}}, "within 3 epochs"),
    ],
    ids=["lr-1e300", "momentum-lr-1e39", "decay-1e308", "decay-product"],
)
def test_learning_rates_that_overflow_float32_are_refused_up_front(kwargs, pattern):
    model = make_model()
    before = {k: v.clone() for k, v in model.params.items()}
    with pytest.raises(ValueError, match=pattern):
        make_trainer(model=model, **kwargs)
    assert all(torch.equal(before[k], v) for k, v in model.params.items())


def test_the_solver_refuses_them_too():
    with pytest.raises(ValueError, match=r"lr_decay 1e\+300 takes the learning rate"):
        Solver(make_model(), make_data(), optim_config={"learning_rate": 1.0}, lr_decay=1e300, verbose=False)


def test_learning_rates_finite_in_float64_are_accepted():
    make_trainer(model=make_model(dtype=torch.float64), optim_config={"learning_rate": 1e39}, num_epochs=0)
    make_trainer(lr_decay=1e10, num_epochs=2, optim_config={"learning_rate": 1e-3})


def test_a_schedule_that_overflows_the_dtype_is_named():
    trainer = make_trainer(schedule=lambda step, total: 1e30, optim_config={"learning_rate": 1e10})
    with pytest.raises(ValueError, match="schedule .* learning rate of W1 at step 0"):
        trainer.train()
    assert trainer.step_count == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--lr", "1e300"], "--lr: the learning rate must be at most the largest float32"),
        (["--update-rule", "sgd_momentum", "--lr", "1e39"], "--lr: the learning rate must be at most the largest"),
        (["--lr-decay", "1e308"], "--lr-decay: lr_decay 1e+308 takes the learning rate"),
    ],
)
def test_cli_learning_rates_that_overflow_float32_are_refused(args, needle):
    result = invoke_cli("train", *args, "--print-config")
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert invoke_cli("train", "--lr", "1e300", "--dtype", "float64", "--print-config").exit_code == 0
