"""Every classic example end to end in a quick mode on a slice of CIFAR-10, producing its plots (the
command's own rules, with no data: test_example_command.py)."""

from __future__ import annotations

import json

import pytest
from cifar import cifar_root
from click.testing import CliRunner

from minifc.cli import main
from minifc.experiments.classic_examples import CLASSIC_EXAMPLES
from minifc.experiments.example_options import ExampleOptions
from minifc.experiments.examples import run_example

pytestmark = pytest.mark.cifar


@pytest.fixture(scope="module")
def cifar():
    from minifc.data import load_cifar10

    return load_cifar10(cifar_root())


@pytest.mark.parametrize("name", sorted(CLASSIC_EXAMPLES))
def test_example_quick_mode_writes_plots(name, cifar, tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install 'minifc[plots]')")
    options = ExampleOptions(out=tmp_path, epochs=1, num_train=200, verbose=False)
    summary = run_example(name, cifar, options)
    assert summary["rows"] and summary["plots"]
    for row in summary["rows"]:
        assert 0.0 <= row["final_val_acc"] <= 1.0
    for plot in summary["plots"]:
        with open(plot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_overfit_reaches_full_training_accuracy(cifar, tmp_path) -> None:
    summary = run_example("overfit", cifar, ExampleOptions(out=tmp_path, verbose=False))
    assert [row["final_train_acc"] for row in summary["rows"]] == [1.0, 1.0]


def test_example_command_prints_the_classic_lines_and_a_summary(tmp_path) -> None:
    root = cifar_root()
    result = CliRunner().invoke(
        main, ["example", "overfit", "--epochs", "2", "--data", str(root), "--out", str(tmp_path), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "(Epoch 2 / 2) train acc:" in result.output
    assert "overfit: summary" in result.output
    assert json.loads((tmp_path / "summary.json").read_text())["rows"][0]["name"].startswith("3-layer")


@pytest.mark.slow
def test_two_layer_passes_50_percent_validation(cifar, tmp_path) -> None:
    summary = run_example("two-layer", cifar, ExampleOptions(out=tmp_path, verbose=False))
    assert summary["rows"][0]["best_val_acc"] > 0.5
