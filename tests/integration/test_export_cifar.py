"""On real CIFAR-10 test images (200 of the offline image folder, 20 per class): the torch module, the ONNX
file run in onnxruntime and the safetensors model file give minifc's logits within 1e-5 (float32), for
the classic models and a build_net model with batchnorm and GELU (when the plugins are importable)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch
from cifar import cifar_root

import minifc
from minifc.builder import build_net
from minifc.data.image_decode import decode_images
from minifc.interop import load_model, model_file_bytes, to_torch
from minifc.registry.core import Registry
from minifc.testing import use_registry

pytestmark = pytest.mark.cifar
PER_CLASS = 20


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    test = cifar_root() / "test"
    if not test.is_dir():
        pytest.skip(f"no image folder {test} (the test/ class folders of CIFAR-10)")
    files = [str(f) for folder in sorted(test.iterdir()) for f in sorted(folder.iterdir())[:PER_CLASS]]
    X = decode_images(files, "test images").reshape(len(files), -1).float().div_(255)
    return X - X.mean(0)


def _plugin_registry() -> Registry:
    registry = Registry(entry_points=False)
    for name in ("minifc_norm", "minifc_recipes"):
        try:
            registry.add_plugin(importlib.import_module(name), name)
        except ImportError:
            pytest.skip(f"the plugin {name} is not importable here (the tox env 'plugins' installs it)")
    registry.load()
    return registry


def _model(kind: str, images: torch.Tensor) -> tuple[minifc.Classifier, Registry | None]:
    torch.manual_seed(0)
    if kind == "TwoLayerNet":
        return minifc.TwoLayerNet(hidden_dim=64, weight_scale=0.02), None
    if kind == "FullyConnectedNet":
        return minifc.FullyConnectedNet([64, 32], dropout=0.5, weight_scale=None), None
    registry = _plugin_registry()
    net = build_net(["linear:64", "batchnorm1d", "gelu", "dropout:0.2", "linear:32", "batchnorm1d", "gelu"],
                    3072, 10, registry=registry)  # fmt: skip
    model = minifc.Classifier(net)
    for start in range(0, 200, 50):  # running statistics of real images
        model.loss(images[start : start + 50], torch.zeros(50, dtype=torch.long))
    model.net.eval()
    return model, registry


@pytest.mark.parametrize("kind", ["TwoLayerNet", "FullyConnectedNet", "build_net batchnorm GELU"])
def test_exports_give_minifcs_logits_on_cifar10_test_images(kind: str, images: torch.Tensor, tmp_path: Path) -> None:
    model, registry = _model(kind, images)
    expected = model.loss(images)
    with use_registry(registry):
        module = to_torch(model)
        with torch.no_grad():
            assert float((module(images) - expected).abs().max()) < 1e-5
        if importlib.util.find_spec("safetensors") is not None:
            path = tmp_path / "m.safetensors"
            path.write_bytes(model_file_bytes(model))
            assert float((load_model(path).loss(images) - expected).abs().max()) < 1e-5
        if importlib.util.find_spec("onnxruntime") is not None:
            from minifc.interop.onnx_export import onnx_bytes, run_onnx

            got = run_onnx(onnx_bytes(module, 3072), images)
            assert float((got - expected).abs().max()) < 1e-5
