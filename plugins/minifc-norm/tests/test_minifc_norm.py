"""minifc-norm: forward against torch.nn.functional, backward against numeric gradients and an
autograd oracle, running statistics, dtype/device, build_net, `minifc check`."""

from __future__ import annotations

import minifc_norm
import pytest
import torch
import torch.nn.functional as TF
from minifc_norm import BatchNorm1d, LayerNorm

from minifc.builder import build_net, mlp
from minifc.errors import ShapeError
from minifc.gradcheck import check_module
from minifc.testing import check_plugin, entry_point_installed, invoke_cli, plugin_registry

F64 = torch.float64


def _x(n=8, d=5, scale=3.0, shift=1.5):
    gen = torch.Generator().manual_seed(3)
    return torch.randn(n, d, dtype=F64, generator=gen) * scale + shift


def _affine(layer):
    gen = torch.Generator().manual_seed(4)
    layer.gamma.data = torch.rand(layer.in_features, dtype=F64, generator=gen) + 0.5
    layer.beta.data = torch.randn(layer.in_features, dtype=F64, generator=gen)
    return layer


@pytest.mark.parametrize("cls", [BatchNorm1d, LayerNorm])
@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_numeric(cls, training):
    layer = _affine(cls(5, dtype=F64))
    if cls is BatchNorm1d:
        layer.running_mean.fill_(0.3)
        layer.running_var.fill_(2.0)
    layer.train(training)
    errors = check_module(layer, _x())
    assert set(errors) == {"dx", "gamma", "beta"}
    assert max(errors.values()) < 1e-6, errors


def test_batchnorm_forward_and_backward_match_torch_oracle():
    x = _x()
    layer = _affine(BatchNorm1d(5, eps=1e-5, dtype=F64))
    out = layer.forward(x)
    xr = x.clone().requires_grad_(True)
    g, b = layer.gamma.data.clone().requires_grad_(True), layer.beta.data.clone().requires_grad_(True)
    ref = TF.batch_norm(xr, None, None, g, b, training=True, eps=1e-5)
    torch.testing.assert_close(out, ref.detach())
    dout = torch.randn_like(out)
    ref.backward(dout)
    dx = layer.backward(dout)
    torch.testing.assert_close(dx, xr.grad)
    torch.testing.assert_close(layer.gamma.grad, g.grad)
    torch.testing.assert_close(layer.beta.grad, b.grad)


def test_layernorm_forward_and_backward_match_torch_oracle():
    x = _x()
    layer = _affine(LayerNorm(5, dtype=F64))
    out = layer.forward(x)
    xr = x.clone().requires_grad_(True)
    g, b = layer.gamma.data.clone().requires_grad_(True), layer.beta.data.clone().requires_grad_(True)
    ref = TF.layer_norm(xr, (5,), g, b, eps=1e-5)
    torch.testing.assert_close(out, ref.detach())
    dout = torch.randn_like(out)
    ref.backward(dout)
    torch.testing.assert_close(layer.backward(dout), xr.grad)
    torch.testing.assert_close(layer.gamma.grad, g.grad)
    torch.testing.assert_close(layer.beta.grad, b.grad)


def test_batchnorm_running_statistics_and_eval():
    layer = BatchNorm1d(5, momentum=0.8, dtype=F64)
    x1, x2 = _x(shift=2.0), _x(n=6, shift=-1.0)
    layer.forward(x1)
    layer.forward(x2)
    mean = 0.2 * x2.mean(0) + 0.8 * 0.2 * x1.mean(0)
    var = 0.8 * (0.8 * 1.0 + 0.2 * x1.var(0, unbiased=False)) + 0.2 * x2.var(0, unbiased=False)
    torch.testing.assert_close(layer.running_mean, mean)
    torch.testing.assert_close(layer.running_var, var)
    assert set(layer.state_dict()) == {"gamma", "beta", "running_mean", "running_var"}
    layer.eval()
    x = _x(n=3)
    torch.testing.assert_close(layer.forward(x), (x - mean) / torch.sqrt(var + 1e-5))
    before = layer.running_mean.clone()
    layer.forward(x)
    torch.testing.assert_close(layer.running_mean, before)  # eval leaves the statistics alone


@pytest.mark.parametrize("cls", [BatchNorm1d, LayerNorm])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_and_to_moves_buffers(cls, dtype):
    layer = cls(4, dtype=dtype)
    x = torch.randn(3, 4, dtype=dtype)
    out = layer.forward(x)
    assert out.dtype == dtype and layer.backward(torch.ones_like(out)).dtype == dtype
    layer.to(dtype=F64)
    assert all(t.dtype == F64 for t in layer.state_dict().values())


@pytest.mark.parametrize("cls", [BatchNorm1d, LayerNorm])
def test_errors(cls):
    layer = cls(4)
    with pytest.raises(ShapeError, match="expected 4 features"):
        layer.forward(torch.randn(3, 5))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(torch.randn(3, 4))
    with pytest.raises(ValueError):
        cls(0)


def _registry():
    return plugin_registry(minifc_norm, "norm", "minifc-norm", "0.1.0")


def test_build_net_by_name():
    reg = _registry()
    net = build_net(["linear:7", "batchnorm1d", "relu", "linear:6", "layernorm:eps=1e-3", "relu"], 5, 3, registry=reg)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "LayerNorm", "ReLU", "Linear"]
    assert net[1].in_features == 7 and net[4].in_features == 6 and net[4].eps == 1e-3
    assert net.forward(torch.randn(4, 5)).shape == (4, 3)
    net64 = mlp([6], 5, 3, norm="batchnorm1d", dtype=F64, registry=reg)
    assert all(t.dtype == F64 for t in net64.state_dict().values())
    errors = check_module(net64, _x(d=5))
    # batchnorm removes the mean, so the bias before it has a zero gradient: compare absolutely
    assert float(net64[0].bias.grad.abs().max()) < 1e-12
    errors.pop("0.bias")
    assert max(errors.values()) < 1e-6, errors


def test_check_passes_in_process():
    rows = check_plugin(minifc_norm, "norm")  # raises, listing the failures, when a check fails
    assert {r.component for r in rows} == {"batchnorm1d", "layernorm", "syncbatchnorm"}


def test_cli_check_on_installed_entry_point():
    if not entry_point_installed("minifc-norm"):
        pytest.skip("minifc-norm is not installed (pip install ./plugins/minifc-norm)")
    result = invoke_cli("check", "batchnorm1d", "layernorm", "syncbatchnorm")
    assert result.exit_code == 0, result.output
    assert "batchnorm1d" in result.output and "syncbatchnorm" in result.output and "FAIL" not in result.output
