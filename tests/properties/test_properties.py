"""Property tests: the explicit backward passes against torch autograd, used here only as an oracle."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minifc.functional import Dropout, Linear, Linear_ReLU, ReLU, softmax_loss, svm_loss

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64
FEW = settings(max_examples=25, deadline=None)

dims = st.integers(1, 5)
feature_shapes = st.lists(dims, min_size=1, max_size=3).map(tuple)
scales = st.sampled_from([1e-3, 1.0, 30.0])
seeds = st.integers(0, 2**31 - 1)


def randn(gen, *shape, scale=1.0):
    return (scale * torch.randn(*shape, dtype=F64, generator=gen)).requires_grad_()


def autograd(out, inputs, dout):
    return torch.autograd.grad(out, inputs, dout)


def assert_close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-12)


@FEW
@given(n=dims, shape=feature_shapes, m=dims, scale=scales, seed=seeds)
def test_linear_backward_matches_autograd(n, shape, m, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    d = math.prod(shape)
    x, w, b = randn(gen, n, *shape, scale=scale), randn(gen, d, m), randn(gen, m)
    dout = randn(gen, n, m).detach()

    out, cache = Linear.forward(x, w, b)
    expected_out = x.reshape(n, d) @ w + b

    assert_close(out, expected_out.detach())
    for ours, ref in zip(Linear.backward(dout, cache), autograd(expected_out, [x, w, b], dout), strict=True):
        assert_close(ours, ref)


@FEW
@given(n=dims, shape=feature_shapes, m=dims, scale=scales, seed=seeds)
def test_linear_relu_backward_matches_autograd(n, shape, m, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    d = math.prod(shape)
    x, w, b = randn(gen, n, *shape, scale=scale), randn(gen, d, m), randn(gen, m)
    dout = randn(gen, n, m).detach()

    out, cache = Linear_ReLU.forward(x, w, b)
    expected_out = torch.relu(x.reshape(n, d) @ w + b)

    assert_close(out, expected_out.detach())
    for ours, ref in zip(Linear_ReLU.backward(dout, cache), autograd(expected_out, [x, w, b], dout), strict=True):
        assert_close(ours, ref)


@FEW
@given(n=dims, shape=feature_shapes, scale=scales, seed=seeds)
def test_relu_backward_matches_autograd(n, shape, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    x = randn(gen, n, *shape, scale=scale)
    dout = randn(gen, n, *shape).detach()

    out, cache = ReLU.forward(x)
    expected_out = torch.relu(x)

    assert_close(out, expected_out.detach())
    assert_close(ReLU.backward(dout, cache), autograd(expected_out, [x], dout)[0])


@FEW
@given(n=dims, shape=feature_shapes, p=st.floats(0.0, 0.95), seed=seeds)
def test_dropout_mask_values_and_backward(n, shape, p, seed):
    gen = torch.Generator().manual_seed(seed)
    x = randn(gen, n, *shape)
    dout = randn(gen, n, *shape).detach()

    out, cache = Dropout.forward(x, {"mode": "train", "p": p, "seed": seed})
    mask = cache[1]
    expected_out = x * mask

    assert torch.all((mask == 0) | torch.isclose(mask, torch.tensor(1 / (1 - p), dtype=F64)))
    assert_close(out, expected_out.detach())
    assert_close(Dropout.backward(dout, cache), autograd(expected_out, [x], dout)[0])


def svm_reference(x, y):
    n = x.shape[0]
    correct = x.gather(1, y[:, None])
    margins = torch.clamp(x - correct + 1, min=0)
    is_label = torch.nn.functional.one_hot(y, x.shape[1]).bool()
    return torch.where(is_label, torch.zeros_like(margins), margins).sum() / n


def softmax_reference(x, y):
    log_probs = x - torch.logsumexp(x, dim=1, keepdim=True)
    return -log_probs.gather(1, y[:, None]).mean()


losses = st.sampled_from([(svm_loss, svm_reference), (softmax_loss, softmax_reference)])


@FEW
@given(n=dims, c=st.integers(2, 6), scale=scales, seed=seeds, pair=losses)
def test_loss_gradient_matches_autograd_of_a_reference(n, c, scale, seed, pair):
    loss_fn, reference = pair
    gen = torch.Generator().manual_seed(seed)
    x = randn(gen, n, c, scale=scale)
    y = torch.randint(c, (n,), generator=gen)

    loss, dx = loss_fn(x, y)
    expected = reference(x, y)

    assert_close(loss, expected.detach())
    assert_close(dx, autograd(expected, [x], None)[0])


@FEW
@given(n=dims, c=st.integers(2, 6), sign=st.sampled_from([1.0, -1.0]), seed=seeds, pair=losses)
def test_losses_finite_for_large_scores(n, c, sign, seed, pair):
    loss_fn, _ = pair
    gen = torch.Generator().manual_seed(seed)
    for dtype in (torch.float32, F64):
        x = (sign * 1e4 * torch.randn(n, c, generator=gen, dtype=F64)).to(dtype)
        y = torch.randint(c, (n,), generator=gen)
        loss, dx = loss_fn(x, y)
        assert torch.isfinite(loss) and torch.all(torch.isfinite(dx))
        assert loss.item() >= 0


@FEW
@given(n=dims, c=st.integers(2, 6), scale=st.sampled_from([1e-3, 1.0, 1e4]), seed=seeds)
def test_softmax_gradient_rows_sum_to_zero(n, c, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(n, c, dtype=F64, generator=gen)
    _, dx = softmax_loss(x, torch.randint(c, (n,), generator=gen))
    assert torch.allclose(dx.sum(dim=1), torch.zeros(n, dtype=F64), atol=1e-15)


@FEW
@given(n=dims, c=st.integers(2, 6), seed=seeds)
def test_svm_gradient_rows_sum_to_zero(n, c, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, dtype=F64, generator=gen)
    _, dx = svm_loss(x, torch.randint(c, (n,), generator=gen))
    assert torch.allclose(dx.sum(dim=1), torch.zeros(n, dtype=F64), atol=1e-15)
