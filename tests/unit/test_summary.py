"""minifc.summary: layers, output shapes, parameter counts and the total, without changing the model."""

from __future__ import annotations

import pytest
import torch

import minifc
from minifc.nn import Linear, Module, ReLU, Sequential


def test_a_classic_net_lists_each_layer_with_its_output_shape_and_parameters() -> None:
    model = minifc.FullyConnectedNet([30, 20], input_dim=12, num_classes=5, dropout=0.5)
    s = minifc.summary(model)
    assert [layer.name for layer in s.layers] == [
        "0 LinearReLU(12, 30)", "1 Dropout(p=0.5)", "2 LinearReLU(30, 20)", "3 Dropout(p=0.5)", "4 Linear(20, 5)",
    ]  # fmt: skip
    assert [layer.output_shape for layer in s.layers] == [(None, 30), (None, 30), (None, 20), (None, 20), (None, 5)]
    assert [layer.params for layer in s.layers] == [12 * 30 + 30, 0, 30 * 20 + 20, 0, 20 * 5 + 5]
    assert s.total_params == sum(p.numel() for p in model.params.values())
    lines = str(s).splitlines()
    assert lines[0].split() == ["layer", "output", "shape", "parameters"]
    assert lines[2].split() == ["input", "(N,", "12)"]
    assert lines[-1].split() == ["total", f"{s.total_params:,}"]


def test_the_summary_changes_neither_the_model_nor_the_random_streams() -> None:
    model = minifc.FullyConnectedNet([8], input_dim=6, dropout=0.5)
    model.net.train(True)
    before = {k: v.clone() for k, v in model.params.items()}
    rng = torch.get_rng_state()
    minifc.summary(model)
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.net.training
    assert all(torch.equal(before[k], v) for k, v in model.params.items())


def test_a_module_with_an_input_shape_and_a_layer_that_fails() -> None:
    class Broken(Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("no")

    net = Sequential(Linear(12, 4), ReLU(), Broken(), Linear(4, 2))
    s = minifc.summary(net, (3, 2, 2))
    assert s.input_shape == (None, 3, 2, 2)
    assert [layer.output_shape for layer in s.layers] == [(None, 4), (None, 4), None, None]
    assert "?" in str(s).splitlines()[5]


@pytest.mark.parametrize("bad", [0, -3, (3, 0), "12", True])
def test_a_bad_input_dim_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="input_dim"):
        minifc.summary(Sequential(Linear(12, 4)), bad)


def test_something_that_is_not_a_model_is_refused() -> None:
    with pytest.raises(TypeError, match="Classifier or nn.Module"):
        minifc.summary(object())
