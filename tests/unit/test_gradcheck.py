import warnings

import pytest
import torch

from minifc import functional as F
from minifc.gradcheck import check_layer, check_loss, check_model, check_module, compute_numeric_gradient, rel_error
from minifc.models import TwoLayerNet
from minifc.nn import Linear, ReLU, Sequential

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64


def test_numeric_gradient_of_a_scalar_function(device):
    x = torch.randn(3, 4, dtype=F64, device=device)
    grad = compute_numeric_gradient(lambda x: (x**3).sum(), x)
    assert rel_error(grad, 3 * x**2) < 1e-7


def test_numeric_gradient_with_upstream_gradient():
    x, w = torch.randn(5, dtype=F64), torch.randn(5, 3, dtype=F64)
    dLdf = torch.randn(3, dtype=F64)
    grad = compute_numeric_gradient(lambda x: x @ w, x, dLdf)
    assert rel_error(grad, w @ dLdf) < 1e-8


def test_numeric_gradient_restores_x():
    x = torch.randn(4, 4, dtype=F64)
    before = x.clone()
    compute_numeric_gradient(lambda x: x.sin().sum(), x)
    assert torch.equal(x, before)


def test_numeric_gradient_of_a_function_returning_its_input():
    x = torch.randn(3, dtype=F64)
    assert rel_error(compute_numeric_gradient(lambda x: x, x), torch.ones(3)) < 1e-8


def test_numeric_gradient_of_a_column_major_x():
    """Linear keeps its weight column-major; the check perturbs it in place all the same."""
    base = torch.randn(3, 4, dtype=F64)
    x = base.t()  # (4, 3), strides (1, 4)
    grad = compute_numeric_gradient(lambda x: (x * x).sum(), x)
    assert torch.allclose(grad, 2 * x, atol=1e-6)
    assert grad.stride() == x.stride()
    assert torch.equal(x, base.t())  # restored


def test_numeric_gradient_rejects_a_strided_slice():
    with pytest.raises(ValueError, match="not a dense tensor"):
        compute_numeric_gradient(lambda x: x.sum(), torch.randn(3, 4, dtype=F64)[:, ::2])


def test_rel_error():
    assert rel_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])) == 0.0
    assert rel_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 3.0])) == pytest.approx(1 / 5)
    assert rel_error(0.0, 0.0) == 0.0
    assert rel_error(1e-12, 0.0) == pytest.approx(1e-12 / 1e-10)
    assert rel_error(1e-12, 0.0, eps=1e-14) == pytest.approx(1.0)
    assert isinstance(rel_error(torch.ones(2, dtype=torch.float32), torch.ones(2, dtype=F64)), float)


def test_check_layer_on_the_classic_layers(device):
    x = torch.randn(3, 2, 2, dtype=F64, device=device)
    w, b = torch.randn(4, 5, dtype=F64, device=device), torch.randn(5, dtype=F64, device=device)
    for layer in (F.Linear, F.Linear_ReLU):
        errors = check_layer(layer.forward, layer.backward, x, w, b)
        assert set(errors) == {"dx", "dw", "db"} and max(errors.values()) < 1e-8
    assert check_layer(F.ReLU.forward, F.ReLU.backward, x)["dx"] < 1e-8
    dropout = {"mode": "train", "p": 0.3, "seed": 1}
    assert set(check_layer(F.Dropout.forward, F.Dropout.backward, x, extra=(dropout,))) == {"dx"}
    assert check_layer(F.Dropout.forward, F.Dropout.backward, x, extra=(dropout,))["dx"] < 1e-8


def test_check_layer_catches_a_wrong_backward():
    def wrong_backward(dout, cache):
        dx, dw, db = F.Linear.backward(dout, cache)
        return dx, 2 * dw, db

    x, w, b = torch.randn(3, 4, dtype=F64), torch.randn(4, 2, dtype=F64), torch.randn(2, dtype=F64)
    errors = check_layer(F.Linear.forward, wrong_backward, x, w, b)
    assert errors["dx"] < 1e-8 and errors["dw"] > 0.1 and errors["db"] < 1e-8


def test_check_layer_names_fall_back_to_positions_without_named_parameters():
    x = torch.randn(3, 4, dtype=F64)

    def forward(*inputs):
        return F.ReLU.forward(inputs[0])

    assert set(check_layer(forward, F.ReLU.backward, x)) == {"d0"}
    assert set(check_layer(lambda a: F.ReLU.forward(a), F.ReLU.backward, x)) == {"da"}


def test_float32_checks_warn_naming_the_dtype_and_float64():
    x, w, b = (torch.randn(*s) for s in [(4, 5, 6), (30, 3), (3,)])  # the README snippet without float64
    with pytest.warns(UserWarning, match=r"check_layer: x is torch.float32, w is torch.float32.*need float64"):
        errors = check_layer(F.Linear.forward, F.Linear.backward, x, w, b)
    assert set(errors) == {"dx", "dw", "db"}
    scores, y = torch.randn(6, 4), torch.randint(4, (6,))
    with pytest.warns(UserWarning, match=r"check_loss: scores is torch.float32.*float64"):
        check_loss(F.softmax_loss, scores, y)
    with pytest.warns(UserWarning, match=r"check_module: x is torch.float32.*float64"):
        check_module(Linear(5, 3, dtype=torch.float32), torch.randn(2, 5))
    model = TwoLayerNet(input_dim=5, hidden_dim=4, num_classes=3, dtype=torch.float32)
    with pytest.warns(UserWarning, match=r"check_model: X is torch.float32, W1 is torch.float32.*float64"):
        check_model(model, torch.randn(2, 5), torch.tensor([0, 2]))


def test_float64_checks_do_not_warn():
    x, w, b = (torch.randn(*s, dtype=F64) for s in [(4, 5, 6), (30, 3), (3,)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_layer(F.Linear.forward, F.Linear.backward, x, w, b)
        check_loss(F.softmax_loss, torch.randn(6, 4, dtype=F64), torch.randint(4, (6,)))


def test_check_layer_rejects_missing_gradients():
    x, w, b = torch.randn(3, 4, dtype=F64), torch.randn(4, 2, dtype=F64), torch.randn(2, dtype=F64)
    with pytest.raises(ValueError, match="returned 1 gradient.*3 input"):
        check_layer(F.Linear.forward, lambda dout, cache: F.Linear.backward(dout, cache)[0], x, w, b)


@pytest.mark.parametrize("loss_fn", [F.svm_loss, F.softmax_loss], ids=["svm", "softmax"])
def test_check_loss(loss_fn, device):
    scores, y = torch.randn(6, 4, dtype=F64, device=device), torch.randint(4, (6,), device=device)
    assert check_loss(loss_fn, scores, y) < 1e-7


def test_check_loss_catches_a_wrong_gradient():
    def wrong(scores, y):
        loss, dx = F.softmax_loss(scores, y)
        return loss, -dx

    assert check_loss(wrong, torch.randn(5, 3, dtype=F64), torch.randint(3, (5,))) > 0.5


def test_check_model(device):
    model = TwoLayerNet(input_dim=4, hidden_dim=6, num_classes=3, weight_scale=0.5, reg=0.1, dtype=F64, device=device)
    X, y = torch.randn(3, 4, dtype=F64, device=device), torch.randint(3, (3,), device=device)
    errors = check_model(model, X, y)
    assert set(errors) == {"W1", "b1", "W2", "b2"} and max(errors.values()) < 1e-7


def test_check_module_restores_input_grad_flags():
    model = TwoLayerNet(input_dim=4, hidden_dim=6, num_classes=3, dtype=F64)
    first = model.net[0]
    assert first.input_grad is False
    errors = check_module(model.net, torch.randn(2, 4, dtype=F64))
    assert errors["dx"] < 1e-7
    assert first.input_grad is False


def test_check_module_catches_a_wrong_backward():
    class Doubled(ReLU):
        def backward(self, dout):
            return 2 * super().backward(dout)

    net = Sequential(Linear(3, 4, dtype=F64), Doubled())
    errors = check_module(net, torch.randn(5, 3, dtype=F64))
    assert errors["dx"] > 0.1 and errors["0.weight"] > 0.1
