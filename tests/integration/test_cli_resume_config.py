"""`minifc train --resume` holds config.json (a file anyone can edit) against the configuration the run was
trained with, which its checkpoint keeps: an edit is a refused resume naming the keys, or for the keys a
resume may change (epochs, lr, device) a change with a note; never a silent one (on a tiny fake CIFAR-10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from minifc.cli import main
from minifc.io.checkpoint import safe_load
from minifc.training.integrity import CHECKSUM_KEY


def invoke(args: list[str]):
    return CliRunner().invoke(main, args)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def edit_config(run: Path, **changes) -> None:
    path = run / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config, indent=2))


@pytest.fixture
def run(tiny_cifar, tmp_path) -> Path:
    out = tmp_path / "run"
    args = ["train", "--data", str(tiny_cifar), "--out", str(out), "--batch-size", "40", "--device", "cpu",
            "--quiet", "--epochs", "2", "--num-train", "120"]  # fmt: skip
    result = invoke(args)
    assert result.exit_code == 0, result.output
    return out


def test_the_checkpoint_keeps_the_configuration_of_the_run(run: Path) -> None:
    assert safe_load(run / "checkpoint.pt")["run_config"] == json.loads((run / "config.json").read_text())


def test_an_edited_config_json_is_a_refused_resume_naming_the_keys(run: Path) -> None:
    edit_config(run, num_train=100, dtype="float64", dropout=0.5, reg=0.5)
    before = snapshot(run)
    result = invoke(["train", "--out", str(run), "--resume", "--epochs", "3"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "config.json differs from the configuration the run was trained with" in result.output
    for line in ("num_train: 120 in the checkpoint, 100 in config.json", 'dtype: "float32" in the checkpoint',
                 "dropout: 0.0 in the checkpoint, 0.5", "reg: 0.0 in the checkpoint, 0.5"):
        assert line in result.output, result.output
    assert snapshot(run) == before


def test_an_edited_epochs_in_config_json_is_applied_with_a_note(run: Path) -> None:
    edit_config(run, epochs=3)
    result = invoke(["train", "--out", str(run), "--resume"])
    assert result.exit_code == 0, result.output
    assert "note: epochs in " in result.output and "changes from 2 to 3" in result.output
    assert safe_load(run / "checkpoint.pt")["epoch"] == 3
    assert safe_load(run / "checkpoint.pt")["run_config"]["epochs"] == 3


def test_a_checkpoint_without_a_stored_configuration_resumes_from_config_json(run: Path) -> None:
    state = safe_load(run / "checkpoint.pt")
    for key in ("run_config", CHECKSUM_KEY):  # as an older minifc wrote it
        del state[key]
    torch.save(state, run / "checkpoint.pt")
    with pytest.warns(UserWarning, match="records no checksum"):
        result = invoke(["train", "--out", str(run), "--resume", "--epochs", "3"])
    assert result.exit_code == 0, result.output
    assert "--epochs changes from 2 to 3" in result.output
    assert safe_load(run / "checkpoint.pt")["run_config"] == json.loads((run / "config.json").read_text())
