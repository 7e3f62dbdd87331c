"""minifc.load_run: a run folder written by `minifc train` back as a model for inference, and a clear
error naming the file for a folder that is not a run (on a tiny fake CIFAR-10)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import minifc
from minifc.cli import main
from minifc.config.train_config import ConfigError
from minifc.data import load_cifar10
from minifc.errors import CheckpointError
from minifc.training.integrity import CHECKSUM_KEY, state_checksum


@pytest.fixture(scope="module")
def run(tiny_cifar, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("load") / "run"
    args = ["train", "--data", str(tiny_cifar), "--out", str(out), "--hidden", "20", "--dropout", "0.3",
            "--num-train", "120", "--batch-size", "40", "--epochs", "2", "--device", "cpu", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def copy(run, tmp_path) -> Path:
    """A copy of the run that a test may break."""
    return Path(shutil.copytree(run, tmp_path / "copy"))


def test_the_loaded_model_scores_the_test_set_as_train_measured_it(run, tiny_cifar) -> None:
    model = minifc.load_run(run)
    assert isinstance(model, minifc.FullyConnectedNet) and model.hidden_dims == [20] and model.dropout == 0.3
    assert model.device == torch.device("cpu") and not model.net.training
    data = load_cifar10(str(tiny_cifar))
    scores = model.loss(data["X_test"])
    assert scores.shape == (data["X_test"].shape[0], 10)
    accuracy = (scores.argmax(1) == data["y_test"]).double().mean().item()
    assert accuracy == pytest.approx(json.loads((run / "result.json").read_text())["test_acc"])


def test_best_and_last_weights_come_from_the_checkpoint(run) -> None:
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    best, last = minifc.load_run(run), minifc.load_run(run, weights="last")
    assert all(torch.equal(best.params[k], state["best_params"][k]) for k in state["best_params"])
    assert all(torch.equal(last.params[k], state["params"][k]) for k in state["params"])


def test_loading_leaves_the_random_streams_alone(run) -> None:
    rng = torch.get_rng_state()
    minifc.load_run(run)
    assert torch.equal(torch.get_rng_state(), rng)


def test_a_missing_folder_a_file_and_a_folder_without_config_are_not_runs(run, tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        minifc.load_run(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="is a file, not a run folder"):
        minifc.load_run(run / "checkpoint.pt")
    with pytest.raises(ConfigError, match=r"holds no config\.json"):
        minifc.load_run(tmp_path)


def test_a_missing_or_corrupt_checkpoint_is_named(copy) -> None:
    (copy / "checkpoint.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=str(copy / "checkpoint.pt")):
        minifc.load_run(copy)
    (copy / "checkpoint.pt").unlink()
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt does not exist"):
        minifc.load_run(copy)


def test_a_config_that_no_longer_fits_the_checkpoint_is_refused(copy) -> None:
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "hidden": [30]}))
    with pytest.raises(CheckpointError, match=r"best_params\['W1'\] has shape \(3072, 20\).*\(3072, 30\)"):
        minifc.load_run(copy)
    (copy / "config.json").write_text(json.dumps({**config, "dropout": "half"}))
    with pytest.raises(ConfigError, match="dropout"):
        minifc.load_run(copy)


def _save_signed(state: dict, path: Path) -> None:
    """Save an edited checkpoint with a checksum that fits it, so the field checks behind it are reached."""
    state[CHECKSUM_KEY] = state_checksum(state)
    torch.save(state, path)


def test_an_edited_checkpoint_is_refused_by_its_checksum(copy) -> None:
    state = torch.load(copy / "checkpoint.pt", weights_only=True)
    state["best_params"]["W1"][0, 0] += 1.0
    torch.save(state, copy / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt: its contents do not match the checksum"):
        minifc.load_run(copy)


def test_a_checkpoint_holding_nan_or_integers_is_refused(copy) -> None:
    state = torch.load(copy / "checkpoint.pt", weights_only=True)
    state["best_params"]["W1"][0, 0] = float("nan")
    _save_signed(state, copy / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="NaN or Inf in W1"):
        minifc.load_run(copy)
    state["params"]["b1"] = state["params"]["b1"].long()
    _save_signed(state, copy / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"params\['b1'\] has dtype torch.int64"):
        minifc.load_run(copy, weights="last")


def test_a_bad_device_or_weights_choice_is_refused_before_reading_anything(tmp_path) -> None:
    with pytest.raises(ValueError, match="device: 'meta'"):
        minifc.load_run(tmp_path, device="meta")
    with pytest.raises(ValueError, match="weights must be 'best' or 'last'"):
        minifc.load_run(tmp_path, weights="first")
