"""The classic ``model.load``: a bad file or a device not present here is refused with a clear error,
and the model keeps its parameters and attributes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from minifc import FullyConnectedNet, TwoLayerNet
from minifc.errors import CheckpointError


def _two() -> TwoLayerNet:
    return TwoLayerNet(input_dim=12, hidden_dim=5, num_classes=4)


def _fc() -> FullyConnectedNet:
    return FullyConnectedNet([5], input_dim=12, num_classes=4, dropout=0.5, seed=3)


def _course_file(model: TwoLayerNet | FullyConnectedNet) -> dict:
    """What the course's ``save`` writes (FullyConnectedNet's keys included)."""
    state = {"reg": 0.0, "params": {k: v.clone() for k, v in model.params.items()}}
    if isinstance(model, FullyConnectedNet):
        state.update(dtype=torch.float32, num_layers=2, use_dropout=True, dropout_param=dict(model.dropout_param))
    return state


def _retype(state: dict, dtype: torch.dtype) -> None:
    state["params"] = {k: (v * 1000).to(dtype) for k, v in state["params"].items()}


ATTRIBUTES = ("input_dim", "hidden_dim", "hidden_dims", "num_classes", "num_layers", "weight_scale", "dropout",
              "use_dropout", "dropout_param", "seed", "reg", "dtype")


def _snapshot(model) -> tuple[dict, dict]:
    params = {k: v.clone() for k, v in model.params.items()}
    return params, {name: copy.deepcopy(getattr(model, name, None)) for name in ATTRIBUTES}


def _assert_unchanged(model, before: tuple[dict, dict]) -> None:
    params, attrs = before
    assert set(model.params) == set(params)
    assert all(torch.equal(model.params[k], v) and model.params[k].device.type == "cpu" for k, v in params.items())
    assert {name: getattr(model, name, None) for name in ATTRIBUTES} == attrs


def _target(make: Callable) -> TwoLayerNet | FullyConnectedNet:
    """A model with other sizes (and no dropout) than the file's: a half-applied load would show."""
    if make is _two:
        return TwoLayerNet(input_dim=12, hidden_dim=7, num_classes=4)
    return FullyConnectedNet([7, 6], input_dim=12, num_classes=4)


CASES = {
    "1-D W1": (_two, lambda s: s["params"].update(W1=s["params"]["W1"][0]), r"W1 \(5,\) and b1 \(5,\) do not chain"),
    "non-string key": (_two, lambda s: s["params"].update({1: s["params"].pop("b1")}), "params keys must be names"),
    "int64": (_two, lambda s: _retype(s, torch.int64), r"params\['W1'\] has dtype torch.int64"),
    "int32": (_two, lambda s: _retype(s, torch.int32), r"params\['W1'\] has dtype torch.int32"),
    "bool": (_two, lambda s: _retype(s, torch.bool), r"params\['W1'\] has dtype torch.bool"),
    "complex": (_two, lambda s: _retype(s, torch.complex64), r"params\['W1'\] has dtype torch.complex64"),
    "weight_scale": (_two, lambda s: s.update(config={"weight_scale": "big"}), r"config\['weight_scale'\]"),
    "meta": (_two, lambda s: s.update(params={k: v.to("meta") for k, v in s["params"].items()}), "meta device"),
    "sparse": (_two, lambda s: s["params"].update(W2=s["params"]["W2"].to_sparse()), r"params\['W2'\] is a"),
    "empty W1": (_two, lambda s: s["params"].update(W1=torch.zeros(0, 5)), r"sizes > 0"),
    "file dtype": (_fc, lambda s: s.update(dtype=torch.int64), "dtype must be a floating-point torch dtype"),
    "dropout p": (_fc, lambda s: s["dropout_param"].update(p="x"), r"dropout_param\['p'\]"),
    "dropout seed": (_fc, lambda s: s["dropout_param"].update(seed=1.5), r"dropout_param\['seed'\] must be an integer"),
    "dropout mode": (_fc, lambda s: s["dropout_param"].update(mode=3), r"dropout_param\['mode'\]"),
    "use_dropout": (_fc, lambda s: s.update(use_dropout="yes"), "use_dropout must be True or False"),
    "num_layers": (_fc, lambda s: s.update(num_layers="2"), "num_layers is '2'"),
    "overflow": (_two, lambda s: s.update(dtype=torch.float32, params=_huge(s)), r"W1 do not fit in torch.float32"),
}


def _huge(state: dict) -> dict:
    params = {k: v.double() for k, v in state["params"].items()}
    params["W1"][0, 0] = 1e300
    return params


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_course_file_is_refused_and_the_model_keeps_everything(tmp_path: Path, case: str) -> None:
    make, edit, pattern = CASES[case]
    state = _course_file(make())
    edit(state)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    model = _target(make)
    before = _snapshot(model)
    with pytest.raises(CheckpointError, match=rf"bad\.pth: .*{pattern}"):
        model.load(path, dtype=torch.float32 if case == "overflow" else None)
    _assert_unchanged(model, before)


def test_loaded_tensors_share_no_memory_with_each_other(tmp_path: Path) -> None:
    state = _course_file(_two())
    w2 = state["params"]["W2"]
    state["params"]["b2"] = w2[0]  # the bias is a view of the weight's first row
    torch.save(state, tmp_path / "view.pth")
    model = TwoLayerNet()
    model.load(tmp_path / "view.pth")
    model.params["W2"][0, 0] += 1.0
    assert model.params["b2"][0] == w2[0, 0]


@pytest.mark.parametrize("device", ["cuda", "cuda:7", "tpu", "meta", "nonsense"])
def test_load_onto_a_device_not_present_here_names_it_and_keeps_the_model(tmp_path: Path, device: str) -> None:
    if device.startswith("cuda") and torch.cuda.device_count() > (7 if device == "cuda:7" else 0):
        pytest.skip(f"{device} exists here")
    _two().save(tmp_path / "good.pt")
    model = TwoLayerNet(input_dim=12, hidden_dim=7, num_classes=4)
    before = _snapshot(model)
    with pytest.raises(ValueError, match=rf"TwoLayerNet.load: device: '{device}'.*model is unchanged"):
        model.load(tmp_path / "good.pt", device=device)
    _assert_unchanged(model, before)
    model.load(tmp_path / "good.pt", device="cpu")  # the same file still loads
    assert model.hidden_dim == 5


def test_load_refuses_a_non_float_dtype_argument(tmp_path: Path) -> None:
    _two().save(tmp_path / "good.pt")
    model = TwoLayerNet(input_dim=12, hidden_dim=7, num_classes=4)
    before = _snapshot(model)
    with pytest.raises(ValueError, match="TwoLayerNet.load: dtype must be a floating-point dtype"):
        model.load(tmp_path / "good.pt", dtype=torch.int64)
    _assert_unchanged(model, before)
