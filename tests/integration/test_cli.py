"""The minifc command: help everywhere, and `minifc train` with its output folder rules."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from minifc.cli import COMMANDS, main


@pytest.mark.parametrize("command", [[], *[[name] for name in COMMANDS]])
def test_help_everywhere(command) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_unknown_update_rule_names_the_closest(tiny_cifar, tmp_path) -> None:
    root = tiny_cifar
    args = ["train", "--data", str(root), "--out", str(tmp_path / "r"), "--update-rule", "adamm", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert "did you mean 'adam'" in result.output


def test_train_writes_a_run_refuses_to_overwrite_and_resumes(tiny_cifar, tmp_path) -> None:
    root = tiny_cifar
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
        "150",
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
    assert len(history["loss_history"]) == 2 * 3


def test_train_with_a_norm_layer_and_plugin_components_by_name(tiny_cifar, tmp_path) -> None:
    from minifc.registry.core import default_registry

    known = default_registry().names("layer"), default_registry().names("update_rule")
    if "batchnorm1d" not in known[0] or "adamw" not in known[1]:
        pytest.skip("needs the minifc-norm and minifc-optim-extra plugin packages (tox -e plugins installs them)")
    args = ["train", "--data", str(tiny_cifar), "--out", str(tmp_path / "r"), "--hidden", "32", "--norm",
            "batchnorm1d", "--update-rule", "adamw", "--regularizer", "max_norm:max_norm=3", "--num-train", "150",
            "--batch-size", "50", "--epochs", "1", "--device", "cpu", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "checkpoint.pt").exists()


def test_times_under_a_second_do_not_print_like_accuracies() -> None:
    import click

    from minifc.cli.commands.common import print_table

    @click.command()
    def table() -> None:
        print_table([{"best_val_acc": 0.9, "seconds": 0.9}, {"best_val_acc": 1.0, "seconds": 12.345}],
                    ["best_val_acc", "seconds"])  # fmt: skip

    lines = CliRunner().invoke(table).output.splitlines()
    assert lines[2].split() == ["0.9000", "0.90"] and lines[3].split() == ["1.0000", "12.3"]


def test_train_refuses_float16() -> None:
    result = CliRunner().invoke(main, ["train", "--dtype", "float16", "--print-config"])
    assert result.exit_code == 2 and "'float16' is not one of 'float32', 'float64'" in result.output


@pytest.mark.parametrize("tol", ["-1", "0", "nan"])
def test_check_refuses_a_tolerance_that_is_not_positive(tol) -> None:
    result = CliRunner().invoke(main, ["check", "relu", "--tol", tol])
    assert result.exit_code == 2 and "--tol" in result.output and "> 0" in result.output


@pytest.mark.parametrize("device", ["cuda", "meta"])
def test_check_refuses_a_device_it_cannot_use(device) -> None:
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    result = CliRunner().invoke(main, ["check", "relu", "--device", device])
    assert result.exit_code == 2 and "--device" in result.output and "FAIL" not in result.output


def test_example_with_fewer_samples_than_a_batch_trains_on_all_of_them(tiny_cifar, tmp_path) -> None:
    # the classic Solver's randperm(num_train)[:batch_size] takes the whole set when the batch is larger
    args = ["example", "overfit", "--num-train", "5", "--epochs", "2", "--data", str(tiny_cifar),
            "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def test_example_errors_are_one_line(tiny_cifar, tmp_path) -> None:
    args = ["example", "overfit", "--num-train", "5", "--data", str(tiny_cifar / "missing"), "--out",
            str(tmp_path / "o")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "Error:" in result.output
