"""minifc.builder: nets from layer specs, widths, dtype/device, plugin layers, errors."""

from __future__ import annotations

import types

import pytest
import torch

from minifc import nn
from minifc.builder import build_layer, build_net, mlp, mlp_layers
from minifc.errors import UnknownComponentError
from minifc.gradcheck import check_module
from minifc.registry.core import Registry
from minifc.registry.hookspecs import hookimpl


class Repeat(nn.Module):
    """Concatenates x with itself: changes the width and says so with out_features."""

    def __init__(self, in_features: int, times: int = 2) -> None:
        super().__init__()
        self.in_features, self.times = in_features, times
        self.out_features = in_features * times

    def forward(self, x):
        return x.repeat(1, self.times)

    def backward(self, dout):
        return dout.reshape(dout.shape[0], self.times, -1).sum(1)


def not_a_module(in_features: int):
    return lambda x: x


@pytest.fixture
def reg():
    def layers(register):
        register("repeat", Repeat)
        register("bad_factory", not_a_module)

    r = Registry(entry_points=False)
    r.add_plugin(types.SimpleNamespace(minifc_register_layers=hookimpl(layers)), "test_layers")
    return r


def test_specs_widths_and_the_output_layer(reg):
    net = build_net(
        ["linear:8", "relu", "dropout:0.25", {"name": "linear", "out_features": 4, "weight_scale": 0.1}, "repeat:3"],
        input_dim=5,
        num_classes=3,
        registry=reg,
    )
    assert isinstance(net, nn.Sequential) and len(net) == 6
    assert (net[0].in_features, net[0].out_features) == (5, 8)
    assert net[2].p == 0.25
    assert (net[3].in_features, net[3].out_features) == (8, 4)
    assert net[4].out_features == 12
    assert (net[5].in_features, net[5].out_features) == (12, 3)
    assert net.forward(torch.randn(2, 5)).shape == (2, 3)
    assert net.forward(torch.randn(2, 1, 5)).shape == (2, 3)  # flattened by the first linear


def test_no_hidden_layers_is_a_linear_classifier():
    net = build_net([], 7, 2)
    assert len(net) == 1 and (net[0].in_features, net[0].out_features) == (7, 2)


def test_dtype_and_device_and_gradients(reg):
    specs = ["linear:6", "relu", "repeat", "linear_relu:out_features=4"]
    net = build_net(specs, 5, 3, dtype=torch.float64, registry=reg)
    assert all(p.data.dtype == torch.float64 for p in net.parameters())
    errors = check_module(net, torch.randn(4, 5, dtype=torch.float64))
    assert max(errors.values()) < 1e-6, errors


def test_mlp_shorthand():
    assert mlp_layers([4, 3], norm="layernorm", dropout=0.5) == [
        {"name": "linear", "out_features": 4},
        "layernorm",
        "relu",
        {"name": "dropout", "p": 0.5},
        {"name": "linear", "out_features": 3},
        "layernorm",
        "relu",
        {"name": "dropout", "p": 0.5},
    ]
    net = mlp([10, 6], input_dim=4, num_classes=2, dropout=0.1)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    with pytest.raises(TypeError):
        mlp_layers(10)


def test_unknown_layer_suggests_the_closest(reg):
    with pytest.raises(UnknownComponentError) as e:
        build_net(["linear:8", "rpeat"], 5, 3, registry=reg)
    msg = str(e.value)
    assert "layers[1]" in msg and "did you mean 'repeat'?" in msg and "linear_relu" in msg


def test_bad_arguments_name_the_spec(reg):
    with pytest.raises(TypeError, match=r"layers\[0\] 'linear:out=3'.*linear takes \(in_features, out_features"):
        build_net(["linear:out=3"], 5, 3, registry=reg)
    with pytest.raises(ValueError, match="too many values"):
        build_net(["relu:3"], 5, 3, registry=reg)
    with pytest.raises(ValueError, match="in_features=4 but its input has 5"):
        build_net(["linear:in_features=4,out_features=3"], 5, 3, registry=reg)
    with pytest.raises(TypeError, match="not a minifc.nn.Module"):
        build_net(["bad_factory"], 5, 3, registry=reg)
    with pytest.raises(ValueError, match="input_dim"):
        build_net([], 0, 3)
    with pytest.raises(TypeError, match="list of specs"):
        build_net("linear:3", 5, 3)


def test_build_layer_alone():
    layer = build_layer("dropout:p=0.3", in_features=4)
    assert isinstance(layer, nn.Dropout) and layer.p == 0.3
