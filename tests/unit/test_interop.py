"""minifc.interop: to_torch / from_torch give the same logits (classic models, build_net stacks), every
layer without a torch equivalent (or torch module without a minifc layer) is named, and the
safetensors model file and the ONNX export give back minifc's logits (optional packages skipped)."""

from __future__ import annotations

import types

import pytest
import torch

import minifc
from minifc.builder import build_net
from minifc.errors import CheckpointError, ExportError
from minifc.interop import from_torch, load_model, model_file_bytes, to_torch, torch_code
from minifc.nn import Module
from minifc.testing import plugin_registry, use_registry

D, C = 12, 4


def _x(n: int = 9, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(n, D, generator=torch.Generator().manual_seed(1), dtype=dtype)


def _models() -> dict[str, minifc.Classifier]:
    torch.manual_seed(0)
    net = build_net(["linear:16", "relu", "dropout:0.4", "linear_relu:8"], D, C)
    return {
        "TwoLayerNet": minifc.TwoLayerNet(D, 10, C, weight_scale=0.3),
        "FullyConnectedNet": minifc.FullyConnectedNet([10, 7], input_dim=D, num_classes=C, dropout=0.5,
                                                      weight_scale=0.3),  # fmt: skip
        "FullyConnectedNet-float64": minifc.FullyConnectedNet([10], input_dim=D, num_classes=C, dtype=torch.float64),
        "build_net": minifc.Classifier(net, "svm"),
    }


MODELS = list(_models())


@pytest.mark.parametrize("name", MODELS)
def test_to_torch_gives_the_same_logits_with_transposed_weights(name: str) -> None:
    model = _models()[name]
    x = _x(dtype=model.dtype)
    module = to_torch(model)
    assert isinstance(module, torch.nn.Sequential) and not module.training
    linears = [m for m in module if isinstance(m, torch.nn.Linear)]
    first = next(m for m in model.net.modules() if isinstance(m, minifc.nn.Linear))
    assert torch.equal(linears[0].weight, first.weight.data.t())
    assert linears[0].weight.data_ptr() != first.weight.data.data_ptr()  # copied
    with torch.no_grad():
        got = module(x)
    assert got.dtype == model.dtype
    assert float((got - model.loss(x)).abs().max()) < 1e-5
    with torch.no_grad():  # images (N, 3, 2, 2) like minifc: Flatten first
        assert torch.allclose(module(x.reshape(-1, 3, 2, 2)), got)


@pytest.mark.parametrize("name", MODELS)
def test_from_torch_round_trips(name: str) -> None:
    model = _models()[name]
    x = _x(dtype=model.dtype)
    net = from_torch(to_torch(model))
    back = minifc.Classifier(net)
    assert float((back.loss(x) - model.loss(x)).abs().max()) < 1e-5
    assert all(type(m) in (minifc.nn.Linear, minifc.nn.ReLU, minifc.nn.Dropout) for m in net)
    again = to_torch(back)
    for a, b in zip(again.state_dict().values(), to_torch(model).state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_from_torch_of_a_hand_built_module_and_its_bias_free_linear() -> None:
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Sequential(torch.nn.Linear(D, 6, bias=False), torch.nn.ReLU()),
        torch.nn.Identity(), torch.nn.Dropout(0.2), torch.nn.Linear(6, C),
    ).eval()
    state = torch.random.get_rng_state()
    net = from_torch(module)
    assert torch.equal(torch.random.get_rng_state(), state)  # draws no random numbers
    x = _x()
    with torch.no_grad():
        assert float((minifc.Classifier(net).loss(x) - module(x)).abs().max()) < 1e-6
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Dropout", "Linear"]


def test_from_torch_names_the_first_module_it_cannot_convert_and_converts_nothing() -> None:
    module = torch.nn.Sequential(torch.nn.Linear(D, 6), torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Conv1d(1, 1, 1)))
    with pytest.raises(ExportError, match=r"module '1\.0' \(Tanh"):
        from_torch(module)
    with pytest.raises(ExportError, match="Flatten"):  # a Flatten that keeps more than the batch axis
        from_torch(torch.nn.Sequential(torch.nn.Flatten(2), torch.nn.Linear(D, 2)))
    with pytest.raises(ExportError, match=r"'Dropout'.*Dropout"):  # a setting minifc refuses, named
        from_torch(torch.nn.Dropout(1.0))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        from_torch(_models()["TwoLayerNet"])  # type: ignore[arg-type]


class Square(Module):
    """x ** 2 elementwise: a plugin layer with no torch equivalent."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x

    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _square_plugin() -> types.SimpleNamespace:
    @minifc.hookimpl
    def minifc_register_layers(register) -> None:  # noqa: ANN001
        register("square", Square, description="x ** 2")

    return types.SimpleNamespace(minifc_register_layers=minifc_register_layers)


def test_a_layer_without_a_torch_equivalent_is_named_with_its_plugin() -> None:
    registry = plugin_registry(_square_plugin(), name="squares")
    model = minifc.Classifier(build_net(["linear:6", "square"], D, C, registry=registry))
    with pytest.raises(ExportError, match=r"layer 1, Square \(layer 'square' of squares\), has no torch equivalent"):
        to_torch(model, registry=registry)


def test_a_layer_declares_its_torch_equivalent_with_a_to_torch_method() -> None:
    class Tanh(Square):
        torch_type = torch.nn.Tanh

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(x)

        def to_torch(self) -> torch.nn.Module:
            return torch.nn.Tanh()

        @classmethod
        def from_torch(cls, module: torch.nn.Module) -> Tanh:
            return cls()

    @minifc.hookimpl
    def minifc_register_layers(register) -> None:  # noqa: ANN001
        register("tanh", Tanh, description="tanh")

    registry = plugin_registry(types.SimpleNamespace(minifc_register_layers=minifc_register_layers), name="tanhs")
    model = minifc.Classifier(build_net(["linear:6", "tanh"], D, C, registry=registry))
    module = to_torch(model, registry=registry)
    assert isinstance(module[2], torch.nn.Tanh)
    x = _x()
    with torch.no_grad():
        assert float((module(x) - model.loss(x)).abs().max()) < 1e-6
    assert isinstance(from_torch(module, registry=registry)[1], Tanh)
    with pytest.raises(ExportError, match="Tanh"):  # without the plugin: no minifc layer for it
        from_torch(module, registry=plugin_registry(_square_plugin(), name="squares"))


def test_torch_code_rebuilds_the_module() -> None:
    for model in _models().values():
        module = to_torch(model)
        rebuilt = eval(torch_code(module), {"torch": torch})  # noqa: S307 - the code line the README shows
        rebuilt.load_state_dict(module.state_dict())
        rebuilt.eval()
        x = _x(dtype=model.dtype)
        with torch.no_grad():
            assert torch.equal(rebuilt(x), module(x))


@pytest.mark.parametrize("name", MODELS)
def test_the_safetensors_model_file_loads_back_with_the_same_logits(name: str, tmp_path) -> None:
    pytest.importorskip("safetensors", reason="the model file needs safetensors (pip install 'minifc[export]')")
    model = _models()[name]
    path = tmp_path / "model.safetensors"
    path.write_bytes(model_file_bytes(model))
    state = torch.random.get_rng_state()
    back = load_model(path)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert type(back) is type(model) and back.dtype == model.dtype and back.reg == model.reg
    assert back.loss_fn is model.loss_fn
    x = _x(dtype=model.dtype)
    assert float((back.loss(x) - model.loss(x)).abs().max()) < 1e-5


def test_load_model_names_a_file_that_is_not_a_minifc_model_file(tmp_path) -> None:
    st = pytest.importorskip("safetensors.torch", reason="the model file needs safetensors")
    other = tmp_path / "other.safetensors"
    other.write_bytes(st.save({"w": torch.zeros(2)}))
    with pytest.raises(CheckpointError, match="other.safetensors is not a minifc model file"):
        load_model(other)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="garbage.safetensors is not a readable safetensors file"):
        load_model(garbage)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")


def test_a_model_file_needs_registered_layers(tmp_path) -> None:
    pytest.importorskip("safetensors", reason="the model file needs safetensors")
    registry = plugin_registry(_square_plugin(), name="squares")
    model = minifc.Classifier(build_net(["linear:6", "square"], D, C, registry=registry))
    path = tmp_path / "m.safetensors"
    with use_registry(registry):
        path.write_bytes(model_file_bytes(model))
    with pytest.raises(CheckpointError, match=r"m.safetensors: layers\[1\] .*square"):
        load_model(path)  # the default registry has no layer 'square'
    assert float((load_model(path, registry=registry).loss(_x()) - model.loss(_x())).abs().max()) < 1e-6
    with pytest.raises(ExportError, match="Square, is not a registered layer"):
        model_file_bytes(model)


@pytest.mark.parametrize("name", MODELS)
def test_the_onnx_export_runs_in_onnxruntime_with_the_same_logits_at_any_batch_size(name: str) -> None:
    pytest.importorskip("onnxruntime", reason="running the ONNX file needs onnxruntime (pip install 'minifc[export]')")
    from minifc.interop.onnx_export import onnx_bytes, run_onnx

    model = _models()[name]
    data = onnx_bytes(to_torch(model), D)
    for n in (1, 7):
        x = _x(n, dtype=model.dtype)
        assert float((run_onnx(data, x) - model.loss(x)).abs().max()) < 1e-5
