"""The course notebook's cells (EECS 498-007 A3: fully-connected nets and dropout), in order, with the
course's own helpers kept and only the layer/model/solver imports changed to minifc's.

The helpers below are written from the course's documented behaviour: ``compute_numeric_gradient``
perturbs ``x`` in place through ``x.contiguous().flatten()`` (a view only for a contiguous tensor) and
writes into ``torch.zeros_like(x).flatten()``; ``rel_error`` and ``reset_seed`` as in the course.
"""

from __future__ import annotations

import io
import random

import pytest
import torch

from minifc import Solver
from minifc.functional import Dropout, Linear, Linear_ReLU, ReLU, softmax_loss, svm_loss
from minifc.models import FullyConnectedNet, TwoLayerNet
from minifc.optim import adam, rmsprop, sgd, sgd_momentum

F64 = torch.float64


# -- the course's helpers, as a student keeps them ----------------------------------------------------
def reset_seed(number: int) -> None:
    random.seed(number)
    torch.manual_seed(number)


def compute_numeric_gradient(f, x, dLdf=None, h=1e-7):
    flat_x = x.contiguous().flatten()
    grad = torch.zeros_like(x)
    flat_grad = grad.flatten()
    y = f(x)
    if dLdf is None:
        dLdf = 1.0 if y.dim() == 0 else torch.ones_like(y)
    for i in range(flat_x.shape[0]):
        oldval = flat_x[i].item()
        flat_x[i] = oldval + h
        fxph = f(x).clone()
        flat_x[i] = oldval - h
        fxmh = f(x).clone()
        flat_x[i] = oldval
        dydx = (fxph - fxmh) / (2 * h)
        flat_grad[i] = (dydx * dLdf).sum().item()
    return grad


def rel_error(x, y, eps=1e-10):
    top = (x - y).abs().max().item()
    bot = (x.abs() + y.abs()).clamp(min=eps).max().item()
    return top / bot


def cifar_like(num_train=200, num_val=50, dtype=F64):
    """Float64 data as the notebook's loader returns it (the models themselves are float32)."""
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(10, 48, generator=g, dtype=dtype)
    def split(n):
        y = torch.randint(10, (n,), generator=g)
        return centers[y] + 0.8 * torch.randn(n, 48, generator=g, dtype=dtype), y
    X_train, y_train = split(num_train)
    X_val, y_val = split(num_val)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


# -- gradient-check cells ----------------------------------------------------------------------------
def test_two_layer_net_gradient_check_with_the_course_helper():
    reset_seed(0)
    N, D, H, C = 3, 5, 50, 7
    X = torch.randn(N, D, dtype=F64)
    y = torch.randint(C, size=(N,))
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3, dtype=F64)
    for reg in [0.0, 0.7]:
        model.reg = reg
        loss, grads = model.loss(X, y)
        for name in sorted(grads):
            f = lambda _: model.loss(X, y)[0]  # noqa: E731  (the notebook's way)
            grad_num = compute_numeric_gradient(f, model.params[name])
            assert rel_error(grad_num, grads[name]) < 1e-5, (reg, name)  # "around e-6 or less"
    model.params["W1"].view(-1)  # ordinary contiguous tensors
    grads["W2"].view(-1)


@pytest.mark.parametrize("reg", [0.0, 3.14])
def test_fully_connected_net_gradient_check(reg):
    reset_seed(0)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = torch.randn(N, D, dtype=F64)
    y = torch.randint(C, size=(N,))
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2, dtype=F64)
    loss, grads = model.loss(X, y)
    for name in sorted(grads):
        f = lambda _: model.loss(X, y)[0]  # noqa: E731
        grad_num = compute_numeric_gradient(f, model.params[name])
        assert rel_error(grad_num, grads[name]) < 1e-5, name


@pytest.mark.parametrize("dropout", [0.25, 0.5])
def test_dropout_gradient_check(dropout):
    reset_seed(0)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = torch.randn(N, D, dtype=F64)
    y = torch.randint(C, size=(N,))
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2, dropout=dropout, seed=0,
                              dtype=F64)
    loss, grads = model.loss(X, y)
    for name in sorted(grads):
        f = lambda _: model.loss(X, y)[0]  # noqa: E731
        grad_num = compute_numeric_gradient(f, model.params[name])
        assert rel_error(grad_num, grads[name]) < 1e-5, name


def test_layer_cells_with_the_course_helper():
    reset_seed(0)
    x, w, b = torch.randn(10, 2, 3, dtype=F64), torch.randn(6, 5, dtype=F64), torch.randn(5, dtype=F64)
    dout = torch.randn(10, 5, dtype=F64)
    dx_num = compute_numeric_gradient(lambda x: Linear_ReLU.forward(x, w, b)[0], x, dout)
    dw_num = compute_numeric_gradient(lambda w: Linear_ReLU.forward(x, w, b)[0], w, dout)
    _, cache = Linear_ReLU.forward(x, w, b)
    dx, dw, db = Linear_ReLU.backward(dout, cache)
    assert rel_error(dx_num, dx) < 1e-8 and rel_error(dw_num, dw) < 1e-8
    fc_cache, relu_cache = cache  # ReLU's own cache: the pre-activation
    assert torch.equal(relu_cache, Linear.forward(x, w, b)[0])
    assert torch.equal(ReLU.forward(relu_cache)[1], relu_cache)


def test_seeded_dropout_seeds_the_global_rng():
    x = torch.randn(50, 50)
    out1, _ = Dropout.forward(x, {"mode": "train", "p": 0.4, "seed": 123})
    a = torch.rand(4)
    reset_seed(123)
    torch.rand(x.shape)
    assert torch.equal(a, torch.rand(4))
    out2, _ = Dropout.forward(x, {"mode": "train", "p": 0.4, "seed": 123})
    assert torch.equal(out1, out2)


# -- losses with labels on another device ------------------------------------------------------------
@pytest.mark.parametrize("loss_fn", [softmax_loss, svm_loss])
def test_losses_take_labels_from_another_device(loss_fn):
    device = "cuda" if torch.cuda.is_available() else "meta"
    x = torch.randn(6, 4, dtype=F64)
    y = torch.randint(4, (6,))  # built on the CPU, as the layer-test cells do
    loss, dx = loss_fn(x.to(device), y)
    assert loss.device.type == device and dx.shape == x.shape
    if device == "cuda":
        ref_loss, ref_dx = loss_fn(x, y)
        assert rel_error(loss.cpu(), ref_loss) < 1e-12 and rel_error(dx.cpu(), ref_dx) < 1e-12


# -- model state as the notebook handles it ------------------------------------------------------------
def test_params_is_a_plain_dict():
    model = FullyConnectedNet([20], input_dim=48)
    saved = model.params.copy()
    assert type(saved) is dict and saved.keys() == model.params.keys()
    buf = io.BytesIO()
    torch.save(model.params, buf)
    buf.seek(0)
    loaded = torch.load(buf)  # weights_only by default
    assert all(torch.equal(loaded[k], v) for k, v in model.params.items())
    assert all(t.is_contiguous() for t in model.params.values())


def test_float64_data_with_a_float32_model_and_a_settable_dtype():
    data = cifar_like()
    model = FullyConnectedNet([20], input_dim=48, dtype=torch.float32)
    assert model.loss(data["X_val"]).dtype == torch.float32
    model.dtype = F64
    assert model.params["W1"].dtype == F64 and model.loss(data["X_val"]).dtype == F64


def test_course_format_checkpoints_load_without_touching_the_rng(tmp_path):
    two = TwoLayerNet(input_dim=48, hidden_dim=30, num_classes=10)
    path = tmp_path / "two.pth"
    torch.save({"reg": 0.1, "params": dict(two.params)}, path)  # the course's TwoLayerNet.save
    fc = FullyConnectedNet([20, 10], input_dim=48, dropout=0.5, seed=3)
    fc_path = tmp_path / "fc.pth"
    torch.save({"reg": 0.0, "dtype": torch.float32, "params": dict(fc.params), "num_layers": 3, "use_dropout": True,
                "dropout_param": dict(fc.dropout_param)}, fc_path)
    state = torch.get_rng_state()
    restored = TwoLayerNet()
    state = torch.get_rng_state()
    restored.load(path, dtype=torch.float32, device="cpu")
    assert torch.equal(state, torch.get_rng_state())
    assert restored.reg == 0.1 and restored.hidden_dim == 30
    assert all(torch.equal(restored.params[k], v) for k, v in two.params.items())
    restored_fc = FullyConnectedNet([5])
    restored_fc.load(fc_path, dtype=torch.float32, device="cpu")
    assert restored_fc.num_layers == 3 and restored_fc.dropout_param["p"] == 0.5
    X = torch.randn(4, 48)
    assert torch.equal(restored_fc.loss(X), fc.loss(X))


def test_dropout_param_is_live():
    model = FullyConnectedNet([30], input_dim=48, dropout=0.5, seed=1, dtype=F64)
    X, y = torch.randn(8, 48, dtype=F64), torch.randint(10, (8,))
    model.loss(X)
    assert model.dropout_param["mode"] == "test"
    model.loss(X, y)
    assert model.dropout_param["mode"] == "train"
    model.dropout_param["p"] = 0.0001  # nearly no unit dropped: close to the no-dropout loss
    nearly = model.loss(X, y)[0]
    model.use_dropout, keep = False, model.dropout_param
    model.dropout_param = {}
    plain = FullyConnectedNet([30], input_dim=48, dtype=F64)
    plain.params = {k: v.clone() for k, v in model.params.items()}
    model.dropout_param = keep
    assert abs(nearly.item() - plain.loss(X, y)[0].item()) < 1e-2


# -- Solver cells ----------------------------------------------------------------------------------------
def test_solver_cells(capsys):
    reset_seed(0)
    data = cifar_like()
    model = TwoLayerNet(input_dim=48, hidden_dim=40, weight_scale=1e-2, dtype=torch.float32)
    solver = Solver(model, data, device="cpu", num_epochs=2, batch_size=50, update_rule=sgd,
                    optim_config={"learning_rate": 0.5}, print_every=2)
    solver.train()
    assert solver.device == "cpu"
    assert solver.X_train.shape == (200, 48) and solver.y_val.shape == (50,)
    val = solver.check_accuracy(solver.X_val, solver.y_val)
    assert val == solver.check_accuracy(data["X_val"].float(), data["y_val"]) and val > 0.5
    out = capsys.readouterr().out
    assert "Iteration 1 / 8) loss:" in out and "(Epoch 2 / 2) train acc:" in out
    # accuracy after the first iteration and after every epoch
    assert len(solver.train_acc_history) == 3
    # a second train() trains num_epochs more, as the course's loop does
    solver.train()
    assert len(solver.loss_history) == 16 and solver.epoch == 4
    assert "Iteration 1 / 8) loss:" in capsys.readouterr().out


def test_solver_minibatches_are_distinct_samples_from_the_global_rng():
    data = cifar_like(num_train=30)
    model = FullyConnectedNet([20], input_dim=48, dtype=F64)
    reference = FullyConnectedNet([20], input_dim=48, dtype=F64)
    reference.params = {k: v.clone() for k, v in model.params.items()}
    solver = Solver(model, data, num_epochs=1, batch_size=10, verbose=False, optim_config={"learning_rate": 0.0})
    reset_seed(5)
    solver.train()
    reset_seed(5)
    mask = torch.randperm(30)[:10]
    expected = reference.loss(data["X_train"][mask], data["y_train"][mask])[0].item()
    assert solver.loss_history[0] == pytest.approx(expected, rel=1e-12)


def test_solver_batch_larger_than_the_set_takes_all_and_checks_accuracy_once_per_epoch():
    data = cifar_like(num_train=20)
    model = FullyConnectedNet([20], input_dim=48)
    solver = Solver(model, data, num_epochs=3, batch_size=64, verbose=False)
    solver.train()
    assert len(solver.loss_history) == 3
    assert len(solver.train_acc_history) == 3  # one iteration per epoch: no repeated check


@pytest.mark.parametrize("rule", [sgd_momentum, rmsprop, adam])
def test_optimizer_state_is_contiguous_in_the_classic_layout(rule):
    data = cifar_like()
    model = FullyConnectedNet([20, 20], input_dim=48, dtype=torch.float32)
    solver = Solver(model, data, num_epochs=1, batch_size=50, update_rule=rule, verbose=False)
    solver.train()
    for name, config in solver.optim_configs.items():
        for key, value in config.items():
            if isinstance(value, torch.Tensor) and value.dim():
                assert value.is_contiguous() and value.shape == model.params[name].shape, (name, key)
