"""Gradient transforms from the command line and configuration files: ``--clip-grad-norm``, ``--grad-transform``,
the ``gradient_transforms`` key, the run's history, ``minifc check`` and ``--resume``."""

from __future__ import annotations

import csv
import json
import math
import types
from pathlib import Path

import pytest
import torch

from minifc import hookimpl
from minifc.optim import gradient_transform
from minifc.registry.core import Registry
from minifc.testing import entry_point_installed, invoke_cli, plugin_registry


class _Scale:
    """A third party's transform: every gradient times ``factor``; counts its steps."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def init(self, params):
        return {"steps": torch.zeros((), dtype=torch.int64)}

    def update(self, grads, state, params):
        return {n: g * self.factor for n, g in grads.items()}, {"steps": state["steps"] + 1}


@gradient_transform({"factor": 1.0}, {"factor": (0.0, 10.0)})
def scale(factor: float = 1.0) -> _Scale:
    return _Scale(factor)


@hookimpl
def minifc_register_gradient_transforms(register) -> None:
    register("scale", scale, description="gradients times a factor")


PLUGIN = types.SimpleNamespace(
    __name__="scaler", minifc_register_gradient_transforms=minifc_register_gradient_transforms
)


def _base(root: Path, out: Path) -> list[str]:
    return ["train", "--data", str(root), "--out", str(out), "--hidden", "20", "--num-train", "100",
            "--batch-size", "50", "--epochs", "2", "--device", "cpu", "--quiet"]  # fmt: skip


def test_clip_grad_norm_records_the_pre_clip_norm_in_the_history(tiny_cifar, tmp_path) -> None:
    out = tmp_path / "run"
    result = invoke_cli(*_base(tiny_cifar, out), "--clip-grad-norm", "1.0", "--lr", "0.5")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["gradient_transforms"] == [{"name": "clip_norm", "max_norm": 1.0}]
    norms = json.loads((out / "history.json").read_text())["grad_norm_history"]
    assert len(norms) == 4 and all(v > 0 for v in norms)
    rows = list(csv.DictReader((out / "history.csv").open()))
    means = [(norms[0] + norms[1]) / 2, (norms[2] + norms[3]) / 2]
    assert [float(r["grad_norm"]) for r in rows] == pytest.approx(means)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["gradient_transforms"] == [{"name": "clip_norm", "max_norm": 1.0}]
    assert math.isclose(float(state["transform_states"][0]["grad_norm"]), norms[-1], rel_tol=1e-6)

    changed = invoke_cli("train", "--out", str(out), "--resume", "--epochs", "3", "--clip-grad-norm", "2.0")
    assert changed.exit_code != 0 and "--grad-transform" in changed.output, changed.output
    same = invoke_cli("train", "--out", str(out), "--resume", "--epochs", "3")
    assert same.exit_code == 0, same.output
    assert len(json.loads((out / "history.json").read_text())["grad_norm_history"]) == 6


def test_without_a_transform_the_history_has_no_norm(tiny_cifar, tmp_path) -> None:
    out = tmp_path / "run"
    result = invoke_cli(*_base(tiny_cifar, out), "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "grad_norm" not in (out / "history.csv").read_text()
    assert "grad_norm_history" not in json.loads((out / "history.json").read_text())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--clip-grad-norm", "0"], "--clip-grad-norm must be a finite number > 0"),
        (["--grad-transform", "clip_value:value=-1"], "--grad-transform: gradient transform 'clip_value'"),
        (["--grad-transform", "clipnorm"], "did you mean 'clip_norm'"),
        (["--grad-transform", "scale:factor=11"], "factor must be a finite number in [0, 10]"),
    ],
)
def test_unknown_or_out_of_range_transforms_are_one_error_line(args, words) -> None:
    result = invoke_cli("train", *args, "--print-config", registry=plugin_registry(PLUGIN, "scaler"))
    assert result.exit_code == 2 and words in result.output, result.output
    assert "Traceback" not in result.output


def test_a_plugin_transform_by_name_from_the_command_line_and_a_config_file(tiny_cifar, tmp_path) -> None:
    registry = plugin_registry(PLUGIN, "scaler")
    printed = invoke_cli("train", "--grad-transform", "scale:factor=0.5", "--clip-grad-norm", "3", "--print-config",
                         "json", registry=registry)  # fmt: skip
    assert printed.exit_code == 0, printed.output
    chain = json.loads(printed.output)["gradient_transforms"]
    assert chain == [{"name": "scale", "factor": 0.5}, {"name": "clip_norm", "max_norm": 3.0}]
    toml = tmp_path / "run.toml"
    toml.write_text('gradient_transforms = ["scale:factor=0.25"]\n')
    out = tmp_path / "run"
    result = invoke_cli(*_base(tiny_cifar, out), "--config", str(toml), registry=registry)
    assert result.exit_code == 0, result.output
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["gradient_transforms"] == [{"name": "scale", "factor": 0.25}]
    assert int(state["transform_states"][0]["steps"]) == 4
    checked = invoke_cli("check", "scale", registry=registry)
    assert checked.exit_code == 0 and "gradient transform" in checked.output, checked.output


def test_a_plugin_package_transform_not_installed_names_its_package() -> None:
    if entry_point_installed("minifc-transforms"):
        pytest.skip("minifc-transforms is installed here")
    result = invoke_cli("train", "--grad-transform", "adaptive_clip", "--print-config", registry=Registry())
    assert result.exit_code == 2 and "provided by the plugin package minifc-transforms" in result.output, result.output
