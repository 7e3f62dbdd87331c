import math

import pytest
import torch

from minifc.errors import LabelError, ShapeError
from minifc.functional import Dropout, Linear, Linear_ReLU, ReLU, softmax_loss, svm_loss
from minifc.gradcheck import compute_numeric_gradient, rel_error

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64


def tensors_in(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from tensors_in(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from tensors_in(item)


def randn(*shape, device="cpu", dtype=F64, requires_grad=False):
    return torch.randn(*shape, dtype=dtype, device=device).requires_grad_(requires_grad)


# -- Linear --------------------------------------------------------------------------------------


def test_linear_forward(device):
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    d = math.prod(input_shape)
    x = torch.linspace(-0.1, 0.5, num_inputs * d, dtype=F64, device=device).reshape(num_inputs, *input_shape)
    w = torch.linspace(-0.2, 0.3, d * output_dim, dtype=F64, device=device).reshape(d, output_dim)
    b = torch.linspace(-0.3, 0.1, output_dim, dtype=F64, device=device)
    x_before = x.clone()

    out, _ = Linear.forward(x, w, b)

    expected = (x.reshape(num_inputs, d, 1) * w.reshape(1, d, output_dim)).sum(dim=1) + b
    classic = torch.tensor([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.51413270, 3.77273342]], dtype=F64)
    assert out.shape == (num_inputs, output_dim)
    assert rel_error(out, expected) < 1e-7
    assert rel_error(out.cpu(), classic) < 1e-7
    assert torch.equal(x, x_before)


def test_linear_backward(device):
    x, w, b = randn(10, 2, 3, device=device), randn(6, 5, device=device), randn(5, device=device)
    dout = randn(10, 5, device=device)

    dx_num = compute_numeric_gradient(lambda x: Linear.forward(x, w, b)[0], x, dout)
    dw_num = compute_numeric_gradient(lambda w: Linear.forward(x, w, b)[0], w, dout)
    db_num = compute_numeric_gradient(lambda b: Linear.forward(x, w, b)[0], b, dout)
    _, cache = Linear.forward(x, w, b)
    dx, dw, db = Linear.backward(dout, cache)

    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert rel_error(dx_num, dx) < 1e-8
    assert rel_error(dw_num, dw) < 1e-8
    assert rel_error(db_num, db) < 1e-8


def test_linear_wrong_feature_size_names_both_sizes():
    with pytest.raises(ShapeError, match=r"Linear.*\b12\b.*\b10\b"):
        Linear.forward(randn(4, 3, 4), randn(10, 2), randn(2))


# -- ReLU ----------------------------------------------------------------------------------------


def test_relu_forward(device):
    x = torch.linspace(-0.5, 0.5, 12, dtype=F64, device=device).reshape(3, 4)
    x_before = x.clone()

    out, _ = ReLU.forward(x)

    expected = torch.where(x > 0, x, torch.zeros_like(x))
    assert rel_error(out, expected) < 1e-7
    assert torch.equal(x, x_before)


def test_relu_backward(device):
    x, dout = randn(10, 10, device=device), randn(10, 10, device=device)

    dx_num = compute_numeric_gradient(lambda x: ReLU.forward(x)[0], x, dout)
    _, cache = ReLU.forward(x)
    dx = ReLU.backward(dout, cache)

    assert rel_error(dx_num, dx) < 1e-8


def test_linear_relu_forward_matches_composition_and_keeps_input(device):
    x, w, b = randn(2, 3, 4, device=device), randn(12, 10, device=device), randn(10, device=device)
    x_before = x.clone()

    out, _ = Linear_ReLU.forward(x, w, b)

    assert rel_error(out, (x.reshape(2, 12) @ w + b).clamp(min=0)) < 1e-12
    assert torch.equal(x, x_before)


def test_linear_relu_backward(device):
    x, w, b = randn(2, 3, 4, device=device), randn(12, 10, device=device), randn(10, device=device)
    dout = randn(2, 10, device=device)

    dx_num = compute_numeric_gradient(lambda x: Linear_ReLU.forward(x, w, b)[0], x, dout)
    dw_num = compute_numeric_gradient(lambda w: Linear_ReLU.forward(x, w, b)[0], w, dout)
    db_num = compute_numeric_gradient(lambda b: Linear_ReLU.forward(x, w, b)[0], b, dout)
    _, cache = Linear_ReLU.forward(x, w, b)
    dx, dw, db = Linear_ReLU.backward(dout, cache)

    assert dx.shape == x.shape
    assert rel_error(dx_num, dx) < 1e-8
    assert rel_error(dw_num, dw) < 1e-8
    assert rel_error(db_num, db) < 1e-8


# -- losses --------------------------------------------------------------------------------------


def classic_scores(device, num_classes=10, num_inputs=50):
    x = 0.001 * randn(num_inputs, num_classes, device=device)
    y = torch.randint(num_classes, size=(num_inputs,), dtype=torch.int64, device=device)
    return x, y


def test_svm_loss(device):
    x, y = classic_scores(device)

    dx_num = compute_numeric_gradient(lambda x: svm_loss(x, y)[0], x)
    loss, dx = svm_loss(x, y)

    assert loss.dim() == 0
    assert abs(loss.item() - 9) < 0.05
    assert rel_error(dx_num, dx) < 1e-7


def test_softmax_loss(device):
    x, y = classic_scores(device)

    dx_num = compute_numeric_gradient(lambda x: softmax_loss(x, y)[0], x)
    loss, dx = softmax_loss(x, y)

    assert loss.dim() == 0
    assert abs(loss.item() - math.log(10)) < 0.01
    assert rel_error(dx_num, dx) < 1e-6


@pytest.mark.parametrize("loss_fn", [svm_loss, softmax_loss], ids=["svm", "softmax"])
def test_losses_average_over_n(loss_fn):
    x, y = randn(6, 4), torch.randint(4, (6,))
    loss, dx = loss_fn(x, y)
    loss2, dx2 = loss_fn(torch.cat([x, x]), torch.cat([y, y]))
    assert loss2.item() == pytest.approx(loss.item(), rel=1e-12)
    assert rel_error(dx2[:6], dx / 2) < 1e-12


BAD_LABELS = {
    "negative": (torch.tensor([0, -1, 2]), r"\[0, 4\).*-1"),
    "too large": (torch.tensor([0, 4, 2]), r"\[0, 4\).*4"),
    "float": (torch.tensor([0.0, 1.0, 2.0]), r"integers.*float"),
    "wrong length": (torch.tensor([0, 1]), r"expected 3 labels.*\(2,\)"),
}


@pytest.mark.parametrize("case", BAD_LABELS, ids=list(BAD_LABELS))
@pytest.mark.parametrize("loss_fn", [svm_loss, softmax_loss], ids=["svm", "softmax"])
def test_losses_reject_bad_labels(loss_fn, case):
    y, pattern = BAD_LABELS[case]
    with pytest.raises(LabelError, match=loss_fn.__name__ + ".*" + pattern):
        loss_fn(randn(3, 4), y)


@pytest.mark.parametrize("num_classes", [4, 40])  # the by-class (few classes) and by-row CPU paths
@pytest.mark.parametrize(
    "labels", [[0, -1, 2], [0, 40, 2], [0, 2**40, 1], torch.tensor([0, 200, 1], dtype=torch.uint8)],
    ids=["negative", "too large", "huge", "uint8"],
)
def test_softmax_loss_names_labels_its_kernels_refuse(labels, num_classes):
    # on the CPU the range is left to gather's own bounds check; the error must still name the labels
    y = labels if isinstance(labels, torch.Tensor) else torch.tensor(labels)
    with pytest.raises(LabelError, match=rf"softmax_loss: labels must be in \[0, {num_classes}\)"):
        softmax_loss(randn(3, num_classes), y)


@pytest.mark.parametrize("loss_fn", [svm_loss, softmax_loss], ids=["svm", "softmax"])
def test_losses_reject_non_matrix_scores(loss_fn):
    with pytest.raises(ShapeError, match=r"\(N, C\)"):
        loss_fn(randn(3), torch.tensor([0, 1, 2]))


# -- Dropout -------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_dropout_forward(device, p):
    x = randn(500, 500, device=device) + 10

    out, _ = Dropout.forward(x, {"mode": "train", "p": p})
    out_test, _ = Dropout.forward(x, {"mode": "test", "p": p})

    assert abs((out == 0).double().mean().item() - p) < 0.01
    assert out.mean().item() == pytest.approx(x.mean().item(), rel=0.03)
    assert torch.equal(out_test, x)
    kept = out[out != 0]
    assert rel_error(kept, x[out != 0] / (1 - p)) < 1e-12


def test_dropout_backward(device):
    x, dout = randn(10, 10, device=device) + 10, randn(10, 10, device=device)
    dropout_param = {"mode": "train", "p": 0.2, "seed": 0}

    _, cache = Dropout.forward(x, dropout_param)
    dx = Dropout.backward(dout, cache)
    dx_num = compute_numeric_gradient(lambda x: Dropout.forward(x, dropout_param)[0], x, dout)

    assert rel_error(dx, dx_num) < 1e-8


def test_dropout_test_mode_backward_is_identity():
    x, dout = randn(4, 5), randn(4, 5)
    _, cache = Dropout.forward(x, {"mode": "test", "p": 0.5})
    assert torch.equal(Dropout.backward(dout, cache), dout)


def test_dropout_seed_gives_reproducible_mask(device):
    x = randn(20, 30, device=device)
    a, _ = Dropout.forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    b, _ = Dropout.forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    c, _ = Dropout.forward(x, {"mode": "train", "p": 0.5, "seed": 8})
    d, _ = Dropout.forward(x, {"mode": "train", "p": 0.5})
    e, _ = Dropout.forward(x, {"mode": "train", "p": 0.5})
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(d, e)


def test_seeded_dropout_seeds_the_global_rng_as_the_course_does():
    x = randn(5, 5)
    out, _ = Dropout.forward(x, {"mode": "train", "p": 0.5, "seed": 1})
    after = torch.rand(3)
    torch.manual_seed(1)
    mask = (torch.rand(x.shape, dtype=x.dtype) >= 0.5).to(x.dtype) / 0.5
    assert torch.equal(out, x * mask)
    assert torch.equal(after, torch.rand(3))  # the global RNG continues from the seeded draw


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, "half"])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"Dropout: p .*\[0, 1\)"):
        Dropout.forward(randn(3, 3), {"mode": "train", "p": p})


def test_dropout_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode.*'train' or 'test'.*'eval'"):
        Dropout.forward(randn(3, 3), {"mode": "eval", "p": 0.5})


# -- no autograd, dtype and device ---------------------------------------------------------------


def test_layers_and_losses_build_no_graph():
    x, w, b = randn(3, 2, 2, requires_grad=True), randn(4, 5, requires_grad=True), randn(5, requires_grad=True)
    dout = randn(3, 5, requires_grad=True)
    results = []
    for layer in (Linear, Linear_ReLU):
        out, cache = layer.forward(x, w, b)
        results += [out, cache, layer.backward(dout, cache)]
    out, cache = ReLU.forward(x)
    results += [out, cache, ReLU.backward(x.detach().clone().requires_grad_(), cache)]
    out, cache = Dropout.forward(x, {"mode": "train", "p": 0.3, "seed": 0})
    results += [out, cache, Dropout.backward(x.detach().clone().requires_grad_(), cache)]
    y = torch.tensor([0, 4, 2])
    scores = randn(3, 5, requires_grad=True)
    results += [svm_loss(scores, y), softmax_loss(scores, y)]

    tensors = list(tensors_in(results))
    assert len(tensors) > 15
    assert all(t.grad_fn is None for t in tensors)


def test_created_tensors_follow_input_dtype_and_device(device, dtype):
    x, w, b = (randn(*shape, device=device, dtype=dtype) for shape in [(3, 4), (4, 2), (2,)])
    out, cache = Linear_ReLU.forward(x, w, b)
    grads = Linear_ReLU.backward(torch.ones_like(out), cache)
    _, (_, mask) = Dropout.forward(x, {"mode": "train", "p": 0.5})
    y = torch.tensor([0, 1, 1], device=device)
    losses = [*svm_loss(out, y), *softmax_loss(out, y)]

    for t in [out, *grads, mask, *losses]:
        assert t.dtype == dtype and t.device.type == device.type
