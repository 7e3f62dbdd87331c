"""minifc-norm's layers declare their torch equivalents: a build_net model with batchnorm, layernorm and
(minifc-recipes') GELU gives the same logits through minifc.interop.to_torch, ONNX in onnxruntime and
the safetensors model file, and comes back from torch with from_torch."""

from __future__ import annotations

import minifc_norm
import pytest
import torch
from minifc_norm import BatchNorm1d, LayerNorm

import minifc
from minifc.builder import build_net
from minifc.errors import ExportError
from minifc.interop import from_torch, load_model, model_file_bytes, to_torch
from minifc.registry.core import Registry
from minifc.testing import plugin_registry, use_registry

D, C = 12, 4


def _registry() -> Registry:
    recipes = pytest.importorskip("minifc_recipes", reason="GELU comes from the minifc-recipes plugin")
    registry = Registry(entry_points=False)
    registry.add_plugin(minifc_norm, "minifc_norm")
    registry.add_plugin(recipes, "minifc_recipes")
    registry.load()
    return registry


def _model(registry: Registry, dtype: torch.dtype = torch.float32) -> minifc.Classifier:
    torch.manual_seed(0)
    specs = ["linear:16", "batchnorm1d", "gelu", "dropout:0.3", "linear:8", "layernorm", "relu"]
    model = minifc.Classifier(build_net(specs, D, C, dtype=dtype, registry=registry))
    gen = torch.Generator().manual_seed(2)
    for _ in range(3):  # running statistics and affine parameters away from their initial values
        model.loss(torch.randn(32, D, generator=gen, dtype=dtype) * 2 + 1, torch.randint(C, (32,), generator=gen))
    for p in model.net.parameters():
        if p.data.dim() == 1:
            p.data = p.data + 0.1 * torch.randn(p.data.shape, generator=gen, dtype=dtype)
    model.net.eval()
    return model


def _x(n: int = 9, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(n, D, generator=torch.Generator().manual_seed(1), dtype=dtype) * 2 + 1


def test_to_torch_gives_batchnorm_layernorm_and_gelu_with_the_same_logits() -> None:
    registry = _registry()
    model = _model(registry)
    module = to_torch(model, registry=registry)
    kinds = [type(m) for m in module]
    assert torch.nn.BatchNorm1d in kinds and torch.nn.LayerNorm in kinds and torch.nn.GELU in kinds
    bn = next(m for m in module if isinstance(m, torch.nn.BatchNorm1d))
    ours = next(m for m in model.net if isinstance(m, BatchNorm1d))
    assert torch.equal(bn.running_mean, ours.running_mean) and bn.momentum == pytest.approx(1 - ours.momentum)
    x = _x()
    with torch.no_grad():
        assert float((module(x) - model.loss(x)).abs().max()) < 1e-5


def test_from_torch_round_trips_the_plugin_layers() -> None:
    registry = _registry()
    model = _model(registry)
    net = from_torch(to_torch(model, registry=registry), registry=registry)
    assert any(isinstance(m, BatchNorm1d) for m in net) and any(isinstance(m, LayerNorm) for m in net)
    x = _x()
    assert float((minifc.Classifier(net).loss(x) - model.loss(x)).abs().max()) < 1e-5


def test_settings_minifc_cannot_represent_are_named() -> None:
    registry = _registry()
    with pytest.raises(ExportError, match=r"module '1' \(GELU\).*approximate='none'"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(D, 3), torch.nn.GELU(approximate="tanh")), registry=registry)
    with pytest.raises(ExportError, match=r"module 'BatchNorm1d' \(BatchNorm1d\).*affine=True"):
        from_torch(torch.nn.BatchNorm1d(D, affine=False), registry=registry)
    with pytest.raises(ExportError, match="BatchNorm1d"):  # without the plugin there is no minifc layer for it
        from_torch(torch.nn.BatchNorm1d(D), registry=Registry(entry_points=False))


def test_a_plugin_layer_without_a_torch_equivalent_names_itself() -> None:
    registry = _registry()
    model = minifc.Classifier(build_net(["linear:8", "residual_mlp"], D, C, registry=registry))
    with pytest.raises(ExportError, match=r"layer 1, ResidualMLP \(layer 'residual_mlp' of minifc_recipes"):
        to_torch(model, registry=registry)


def test_the_safetensors_model_file_keeps_the_plugin_layers(tmp_path) -> None:
    pytest.importorskip("safetensors", reason="the model file needs safetensors (pip install 'minifc[export]')")
    registry = _registry()
    model = _model(registry, torch.float64)
    path = tmp_path / "m.safetensors"
    with use_registry(registry):
        path.write_bytes(model_file_bytes(model))
    back = load_model(path, registry=registry)
    x = _x(dtype=torch.float64)
    assert back.dtype == torch.float64 and float((back.loss(x) - model.loss(x)).abs().max()) < 1e-12
    assert torch.equal(next(m for m in back.net if isinstance(m, BatchNorm1d)).running_var,
                       next(m for m in model.net if isinstance(m, BatchNorm1d)).running_var)  # fmt: skip


def test_the_onnx_export_runs_in_onnxruntime_with_the_same_logits() -> None:
    pytest.importorskip("onnxruntime", reason="running the ONNX file needs onnxruntime (pip install 'minifc[export]')")
    from minifc.interop.onnx_export import onnx_bytes, run_onnx

    registry = _registry()
    model = _model(registry)
    data = onnx_bytes(to_torch(model, registry=registry), D)
    for n in (1, 6):
        x = _x(n)
        assert float((run_onnx(data, x) - model.loss(x)).abs().max()) < 1e-5


def test_batchnorm_alone_round_trips_with_plugin_registry() -> None:
    registry = plugin_registry(minifc_norm)
    layer = BatchNorm1d(D)
    layer.running_mean.fill_(0.5)
    module = layer.to_torch()
    back = from_torch(module, registry=registry)[0]
    assert isinstance(back, BatchNorm1d) and torch.equal(back.running_mean, layer.running_mean)
