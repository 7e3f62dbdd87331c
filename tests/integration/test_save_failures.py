"""A full disk while torch writes a checkpoint: torch reports it as a RuntimeError from its zip writer
(``[enforce fail at inline_container.cc] ... file write failed``); minifc raises the OSError it is,
naming the file, so the command line prints one line, and the earlier checkpoint survives."""

from __future__ import annotations

import errno

import pytest
import torch

import minifc.io.checkpoint
from minifc.io.checkpoint import atomic_save
from minifc.testing import invoke_cli

ENFORCE = (
    "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/0: file write failed"
)


def _failing_save(message: str, after: int = 0):
    real_save, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) > after:
            f.write(b"x" * 1000)
            raise RuntimeError(message)
        return real_save(obj, f, *args, **kwargs)

    return save


@pytest.mark.parametrize("message", [ENFORCE, "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"])
def test_torchs_write_failure_is_an_os_error_naming_the_file(tmp_path, monkeypatch, message):
    path = tmp_path / "checkpoint.pt"
    atomic_save({"epoch": 1}, path)
    monkeypatch.setattr(minifc.io.checkpoint.torch, "save", _failing_save(message))
    with pytest.raises(OSError) as info:
        atomic_save({"epoch": 2}, path, keep_previous=tmp_path / "checkpoint.prev.pt")
    assert info.value.errno in (errno.ENOSPC, errno.EIO) and info.value.filename == str(path)
    assert info.value.__cause__ is None and "enforce fail" not in str(info.value)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
    assert torch.load(path, weights_only=True) == {"epoch": 1}


def test_other_runtime_errors_of_torch_save_pass_through(tmp_path, monkeypatch):
    monkeypatch.setattr(minifc.io.checkpoint.torch, "save", _failing_save("cannot pickle 'generator' object"))
    with pytest.raises(RuntimeError, match="cannot pickle"):
        atomic_save({"epoch": 2}, tmp_path / "checkpoint.pt")
    assert list(tmp_path.iterdir()) == []


def test_the_cli_prints_one_line_and_keeps_the_last_checkpoint(tiny_cifar, tmp_path, monkeypatch):
    out = tmp_path / "r"
    monkeypatch.setattr(minifc.io.checkpoint.torch, "save", _failing_save(ENFORCE, after=1))
    args = ["--data", str(tiny_cifar), "--out", str(out), "--batch-size", "40", "--device", "cpu", "--quiet"]
    result = invoke_cli("train", *args, "--epochs", "3")
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "enforce fail" not in result.output
    assert str(out / "checkpoint.pt") in result.output
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1
