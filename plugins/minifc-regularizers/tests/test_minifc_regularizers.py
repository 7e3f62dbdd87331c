"""minifc-regularizers: penalties and gradients (numeric and autograd oracles), constraints, `minifc check`."""

from __future__ import annotations

import minifc_regularizers
import pytest
import torch
from minifc_regularizers import elastic_net, l1, max_norm, weight_decay

from minifc.gradcheck import compute_numeric_gradient, rel_error
from minifc.testing import check_plugin, entry_point_installed, invoke_cli, plugin_registry


@pytest.fixture
def w():
    return torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("reg, config", [(l1, {"reg": 0.3}), (elastic_net, {"reg": 0.2, "l1_ratio": 0.3})])
def test_loss_stage_gradient_is_numeric_gradient(reg, config, w):
    w0 = w.clone()
    penalty, dpenalty = reg(w, config)
    assert penalty.dim() == 0 and dpenalty.shape == w.shape and dpenalty.dtype == w.dtype
    assert torch.equal(w, w0)
    num = compute_numeric_gradient(lambda t: reg(t, config)[0], w)
    assert rel_error(num, dpenalty) < 1e-6


def test_values_against_autograd_oracle(w):
    x = w.clone().requires_grad_(True)
    (0.2 * (0.3 * x.abs().sum() + 0.7 * (x * x).sum())).backward()
    penalty, dpenalty = elastic_net(w, {"reg": 0.2, "l1_ratio": 0.3})
    torch.testing.assert_close(dpenalty, x.grad)
    torch.testing.assert_close(penalty, 0.2 * (0.3 * w.abs().sum() + 0.7 * (w * w).sum()))
    p1, _ = l1(w, {"reg": 0.5})
    torch.testing.assert_close(p1, 0.5 * w.abs().sum())


def test_elastic_net_ends_are_l1_and_l2(w):
    torch.testing.assert_close(elastic_net(w, {"reg": 0.1, "l1_ratio": 1.0})[1], l1(w, {"reg": 0.1})[1])
    from minifc.optim.regularizers import l2

    torch.testing.assert_close(elastic_net(w, {"reg": 0.1, "l1_ratio": 0.0})[1], l2(w, {"reg": 0.1})[1])
    with pytest.raises(ValueError, match="l1_ratio"):
        elastic_net(w, {"l1_ratio": 2.0})


def test_max_norm_caps_each_unit(w):
    w = w * 5
    w[:, 0] = 0.01  # a small unit stays as it is
    small = w[:, 0].clone()
    out = max_norm(w, {"max_norm": 2.0})
    assert out is w
    norms = out.norm(dim=0)
    assert bool((norms <= 2.0 + 1e-12).all())
    torch.testing.assert_close(out[:, 0], small)
    assert torch.allclose(norms[1:], torch.full_like(norms[1:], 2.0))
    b = torch.tensor([-5.0, 0.5, 4.0])
    torch.testing.assert_close(max_norm(b, {"max_norm": 1.0}), torch.tensor([-1.0, 0.5, 1.0]))


def test_max_norm_keeps_dtype(w):
    for dtype in (torch.float32, torch.float64):
        out = max_norm(w.to(dtype) * 10)
        assert out.dtype == dtype


def test_weight_decay_uses_learning_rate(w):
    expect = w * (1 - 0.1 * 0.5)
    out = weight_decay(w, {"learning_rate": 0.1, "weight_decay": 0.5})
    torch.testing.assert_close(out, expect)
    with pytest.raises(KeyError, match="learning_rate"):
        weight_decay(w, {"weight_decay": 0.5})


def test_registered_with_stage_and_checked():
    reg = plugin_registry(minifc_regularizers, "regularizers", "minifc-regularizers", "0.1.0")
    stages = {name: reg.component("regularizer", name).metadata["stage"] for name in ("l1", "elastic_net")}
    stages |= {name: reg.component("regularizer", name).metadata["stage"] for name in ("max_norm", "weight_decay")}
    assert stages == {"l1": "loss", "elastic_net": "loss", "max_norm": "update", "weight_decay": "update"}
    assert reg.component("regularizer", "max_norm").metadata["applies_to"] == "weights"
    assert reg.component("regularizer", "max_norm").metadata["defaults"] == {"max_norm": 3.0}
    rows = check_plugin(minifc_regularizers, "regularizers")  # raises, listing the failures, when a check fails
    assert {r.component for r in rows} == {"l1", "elastic_net", "max_norm", "weight_decay"}


def test_cli_check_on_installed_entry_point():
    if not entry_point_installed("minifc-regularizers"):
        pytest.skip("minifc-regularizers is not installed (pip install ./plugins/minifc-regularizers)")
    result = invoke_cli("check", "minifc-regularizers")
    assert result.exit_code == 0, result.output
    assert "max_norm" in result.output and "FAIL" not in result.output
