"""Where a data folder given as a relative path is relative to: the current folder on the command line,
the file's folder in a configuration file; config.json keeps it relative (to the run folder), so a run
resumes, repeats (`--config runs/x/config.json`) and evaluates from any folder (tiny fake CIFAR-10)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_cifar import write_tiny_cifar

import minifc
from minifc.cli import main

FAST = ["--hidden", "10", "--num-train", "80", "--batch-size", "40", "--device", "cpu", "--quiet"]


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_tiny_cifar(tmp_path_factory.mktemp("project") / "data")


@pytest.fixture
def project(data_root, tmp_path, monkeypatch) -> Path:
    """The current folder: ``project/`` beside a link ``project/data`` to the data set."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "data").symlink_to(data_root, target_is_directory=True)
    monkeypatch.chdir(root)
    return root


def saved_data(run: Path) -> str:
    return json.loads((run / "config.json").read_text())["data"]


def test_a_relative_data_folder_stays_relative_and_the_run_resumes_from_elsewhere(project, tmp_path) -> None:
    invoke("train", "--data", "data", "--out", "runs/mlp", "--epochs", "1", *FAST)
    assert saved_data(project / "runs/mlp") == os.path.join("..", "..", "data")
    os.chdir(tmp_path)  # another folder: the run folder's own config.json still finds the data
    invoke("train", "--out", str(project / "runs/mlp"), "--resume", "--epochs", "2")
    assert saved_data(project / "runs/mlp") == os.path.join("..", "..", "data")
    assert minifc.load_run(project / "runs/mlp").hidden_dims == [10]


def test_an_absolute_data_folder_stays_absolute(project, data_root) -> None:
    invoke("train", "--data", str(data_root), "--out", "runs/abs", "--epochs", "1", *FAST)
    assert saved_data(project / "runs/abs") == str(data_root)


def test_data_in_a_configuration_file_is_relative_to_the_file(project) -> None:
    (project / "exp").mkdir()
    (project / "exp/run.toml").write_text('data = "../data"\nepochs = 1\n')
    printed = invoke("train", "--config", "exp/run.toml", "--print-config", "json", *FAST).output
    assert json.loads(printed)["data"] == str(project / "data")  # not <project>/../data
    os.chdir(project / "exp")  # from the file's own folder the same file means the same folder
    printed = invoke("train", "--config", "run.toml", "--print-config", "json", *FAST).output
    assert json.loads(printed)["data"] == str(project / "data")
    os.chdir(project)
    invoke("train", "--config", "exp/run.toml", "--out", "runs/toml", *FAST)
    assert saved_data(project / "runs/toml") == os.path.join("..", "..", "data")


def test_a_run_repeated_from_its_config_json_finds_the_data(project, tmp_path) -> None:
    invoke("train", "--data", "data", "--out", "runs/mlp", "--epochs", "1", *FAST)
    invoke("train", "--config", "runs/mlp/config.json", "--out", "runs/again/deeper")
    assert saved_data(project / "runs/again/deeper") == os.path.join("..", "..", "..", "data")
    os.chdir(tmp_path)
    invoke("train", "--config", str(project / "runs/mlp/config.json"), "--out", str(tmp_path / "elsewhere"))
    assert saved_data(tmp_path / "elsewhere") == os.path.join("..", "project", "data")


def test_evaluate_from_another_folder_loads_the_runs_data(project, tmp_path) -> None:
    invoke("train", "--data", "data", "--out", "runs/mlp", "--epochs", "1", *FAST)
    os.chdir(tmp_path)
    result = invoke("evaluate", str(project / "runs/mlp"), "--device", "cpu")
    assert "test accuracy" in result.output
