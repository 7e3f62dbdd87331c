"""The minifc command: help everywhere, and `minifc train` with its output folder rules."""

from __future__ import annotations

import json

import pytest
from cifar import cifar_root
from click.testing import CliRunner

from minifc.cli import COMMANDS, main


@pytest.mark.parametrize("command", [[], *[[name] for name in COMMANDS]])
def test_help_everywhere(command) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_unknown_update_rule_names_the_closest(tmp_path) -> None:
    root = cifar_root()
    args = ["train", "--data", str(root), "--out", str(tmp_path / "r"), "--update-rule", "adamm", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert "did you mean 'adam'" in result.output


def test_train_writes_a_run_refuses_to_overwrite_and_resumes(tmp_path) -> None:
    root = cifar_root()
    out = tmp_path / "run"
    base = [
        "train",
        "--data",
        str(root),
        "--out",
        str(out),
        "--hidden",
        "50",
        "--num-train",
        "300",
        "--batch-size",
        "50",
        "--update-rule",
        "adam",
        "--lr",
        "1e-3",
        "--device",
        "cpu",
        "--quiet",
    ]
    result = CliRunner().invoke(main, [*base, "--epochs", "1"])
    assert result.exit_code == 0, result.output
    for name in ("checkpoint.pt", "config.json", "history.json", "history.csv", "result.json"):
        assert (out / name).exists(), name
    assert "test_acc" in result.output
    before = (out / "checkpoint.pt").read_bytes()

    again = CliRunner().invoke(main, [*base, "--epochs", "1"])
    assert again.exit_code != 0 and "--force" in again.output
    assert (out / "checkpoint.pt").read_bytes() == before

    resumed = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--epochs", "2"])
    assert resumed.exit_code == 0, resumed.output
    history = json.loads((out / "history.json").read_text())
    assert len(history["val_acc_history"]) == 2
    assert len(history["loss_history"]) == 2 * 6


def test_train_with_a_norm_layer_and_plugin_components_by_name(tmp_path) -> None:
    from minifc.registry import default_registry

    known = default_registry().names("layer"), default_registry().names("update_rule")
    if "batchnorm1d" not in known[0] or "adamw" not in known[1]:
        pytest.skip("needs the minifc-norm and minifc-optim-extra plugin packages (tox -e plugins installs them)")
    args = ["train", "--data", str(cifar_root()), "--out", str(tmp_path / "r"), "--hidden", "32", "--norm",
            "batchnorm1d", "--update-rule", "adamw", "--regularizer", "max_norm:max_norm=3", "--num-train", "200",
            "--batch-size", "50", "--epochs", "1", "--device", "cpu", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "checkpoint.pt").exists()
