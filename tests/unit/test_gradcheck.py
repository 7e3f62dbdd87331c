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
        assert set(errors) == {"d0", "d1", "d2"} and max(errors.values()) < 1e-8
    assert check_layer(F.ReLU.forward, F.ReLU.backward, x)["d0"] < 1e-8
    dropout = {"mode": "train", "p": 0.3, "seed": 1}
    assert check_layer(F.Dropout.forward, F.Dropout.backward, x, extra=(dropout,))["d0"] < 1e-8


def test_check_layer_catches_a_wrong_backward():
    def wrong_backward(dout, cache):
        dx, dw, db = F.Linear.backward(dout, cache)
        return dx, 2 * dw, db

    x, w, b = torch.randn(3, 4, dtype=F64), torch.randn(4, 2, dtype=F64), torch.randn(2, dtype=F64)
    errors = check_layer(F.Linear.forward, wrong_backward, x, w, b)
    assert errors["d0"] < 1e-8 and errors["d1"] > 0.1


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
