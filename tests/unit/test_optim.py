import math

import pytest
import torch

from minifc.gradcheck import rel_error
from minifc.optim import adam, rmsprop, sgd, sgd_momentum

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64
N, D = 4, 5


def lin(lo, hi, device):
    return torch.linspace(lo, hi, N * D, dtype=F64, device=device).reshape(N, D)


def per_element(fn, *tensors):
    """Apply a scalar reference ``fn(*floats) -> tuple of floats`` element by element."""
    columns = zip(*(t.cpu().flatten().tolist() for t in tensors), strict=True)
    rows = [fn(*values) for values in columns]
    return [torch.tensor(list(out), dtype=F64).reshape(N, D) for out in zip(*rows, strict=True)]


def test_sgd(device):
    w, dw = lin(-0.4, 0.6, device), lin(-0.6, 0.4, device)
    expected = w.cpu() - 1e-2 * dw.cpu()
    next_w, config = sgd(w, dw)
    assert config == {"learning_rate": 1e-2}
    assert rel_error(next_w, expected) < 1e-12


def test_sgd_momentum(device):
    w, dw, v = lin(-0.4, 0.6, device), lin(-0.6, 0.4, device), lin(0.6, 0.9, device)
    lr, mu = 1e-3, 0.9

    def reference(w, dw, v):
        v = mu * v - lr * dw
        return w + v, v

    expected_w, expected_v = per_element(reference, w, dw, v)
    next_w, config = sgd_momentum(w, dw, {"learning_rate": lr, "velocity": v})

    assert rel_error(next_w, expected_w) < 1e-8
    assert rel_error(config["velocity"], expected_v) < 1e-8


def test_rmsprop(device):
    w, dw, cache = lin(-0.4, 0.6, device), lin(-0.6, 0.4, device), lin(0.7, 0.8, device)
    lr, decay, eps = 1e-2, 0.99, 1e-8

    def reference(w, dw, cache):
        cache = decay * cache + (1 - decay) * dw * dw
        return w - lr * dw / (math.sqrt(cache) + eps), cache

    expected_w, expected_cache = per_element(reference, w, dw, cache)
    next_w, config = rmsprop(w, dw, {"learning_rate": lr, "cache": cache})

    assert rel_error(next_w, expected_w) < 1e-7
    assert rel_error(config["cache"], expected_cache) < 1e-7


def test_adam(device):
    w, dw = lin(-0.4, 0.6, device), lin(-0.6, 0.4, device)
    m, v = lin(0.6, 0.9, device), lin(0.7, 0.5, device)
    lr, b1, b2, eps, t = 1e-2, 0.9, 0.999, 1e-8, 6

    def reference(w, dw, m, v):
        m = b1 * m + (1 - b1) * dw
        v = b2 * v + (1 - b2) * dw * dw
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        return w - lr * m_hat / (math.sqrt(v_hat) + eps), m, v

    expected_w, expected_m, expected_v = per_element(reference, w, dw, m, v)
    next_w, config = adam(w, dw, {"learning_rate": lr, "m": m, "v": v, "t": 5})

    assert config["t"] == 6
    assert rel_error(next_w, expected_w) < 1e-6
    assert rel_error(config["m"], expected_m) < 1e-8
    assert rel_error(config["v"], expected_v) < 1e-8


@pytest.mark.parametrize(
    "rule, expected",
    [
        (sgd_momentum, {"learning_rate": 1e-2, "momentum": 0.9}),
        (rmsprop, {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}),
        (adam, {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 1}),
    ],
    ids=["sgd_momentum", "rmsprop", "adam"],
)
def test_classic_defaults(rule, expected):
    _, config = rule(torch.zeros(3), torch.ones(3))
    assert {k: config[k] for k in expected} == expected


def scalar_steps(rule_name, w, dws):
    """The classic rules with their default hyper-parameters, from zero state, on one float."""
    v = m = cache = 0.0
    for t, dw in enumerate(dws, start=1):
        if rule_name == "sgd":
            w -= 1e-2 * dw
        elif rule_name == "sgd_momentum":
            v = 0.9 * v - 1e-2 * dw
            w += v
        elif rule_name == "rmsprop":
            cache = 0.99 * cache + 0.01 * dw * dw
            w -= 1e-2 * dw / (math.sqrt(cache) + 1e-8)
        else:
            m = 0.9 * m + 0.1 * dw
            v = 0.999 * v + 0.001 * dw * dw
            w -= 1e-3 * (m / (1 - 0.9**t)) / (math.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return w


@pytest.mark.parametrize("rule", [sgd, sgd_momentum, rmsprop, adam], ids=lambda r: r.__name__)
def test_several_steps_from_zero_state(rule, device):
    w = torch.randn(N, D, dtype=F64, device=device)
    dws = torch.randn(5, N, D, dtype=F64, device=device)
    per_element = zip(w.flatten().tolist(), dws.flatten(1).t().tolist(), strict=True)
    expected = torch.tensor([scalar_steps(rule.__name__, w0, steps) for w0, steps in per_element], dtype=F64)
    config = None
    for dw in dws:
        w, config = rule(w, dw, config)
    assert rel_error(w, expected.reshape(N, D)) < 1e-10


@pytest.mark.parametrize("rule", [sgd, sgd_momentum, rmsprop, adam], ids=lambda r: r.__name__)
def test_state_and_next_w_follow_w(rule, device, dtype):
    w = torch.randn(N, D, dtype=dtype, device=device, requires_grad=True)
    dw = torch.randn(N, D, dtype=dtype, device=device, requires_grad=True)
    config = None
    for _ in range(2):
        next_w, config = rule(w, dw, config)
    state = [v for v in config.values() if isinstance(v, torch.Tensor)]
    assert len(state) == {"sgd": 0, "sgd_momentum": 1, "rmsprop": 1, "adam": 2}[rule.__name__]
    for t in [next_w, *state]:
        assert t.dtype == dtype and t.device.type == device.type and t.shape == w.shape
        assert t.grad_fn is None


def test_config_is_not_shared_between_calls():
    _, a = adam(torch.zeros(2), torch.ones(2))
    _, b = adam(torch.zeros(2), torch.ones(2))
    assert a["m"] is not b["m"]
