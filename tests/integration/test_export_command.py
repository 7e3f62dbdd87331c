"""`minifc export RUN_OR_CHECKPOINT --to torch|onnx|safetensors`: files that give minifc's logits, the ONNX
file checked in onnxruntime on the run's own test images, written atomically, never over an existing
file without --force nor through a link; one-line errors (tiny fake CIFAR-10)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

import minifc
from minifc.data import load_cifar10
from minifc.testing import invoke_cli


@pytest.fixture(scope="module")
def run(tiny_cifar, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    result = invoke_cli("train", "--data", str(tiny_cifar), "--out", str(out), "--hidden", "20", "--num-train", "120",
                        "--batch-size", "40", "--epochs", "1", "--device", "cpu", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def copy(run, tmp_path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and result.output.startswith("Error: "), result.output
    for needle in needles:
        assert needle in result.output, result.output


def _test_images(tiny_cifar) -> torch.Tensor:
    return load_cifar10(str(tiny_cifar))["X_test"]


def test_safetensors_export_of_a_run_loads_back_with_the_same_logits(copy, tiny_cifar) -> None:
    pytest.importorskip("safetensors", reason="needs the export extra")
    result = invoke_cli("export", str(copy), "--to", "safetensors")
    assert result.exit_code == 0, result.output
    path = copy / "model.safetensors"
    assert f"minifc.load_model('{path.name}')" in result.output
    X = _test_images(tiny_cifar)
    expected = minifc.load_run(copy).loss(X)
    assert float((minifc.load_model(path).loss(X) - expected).abs().max()) < 1e-5


def test_onnx_export_is_checked_on_the_runs_test_images(copy, tiny_cifar) -> None:
    pytest.importorskip("onnxruntime", reason="needs the export extra")
    from minifc.interop.onnx_export import run_onnx

    out = copy / "exported" / "net.onnx"
    result = invoke_cli("export", str(copy), "--to", "onnx", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "checked in onnxruntime on 20 test images of the run's data" in result.output
    X = _test_images(tiny_cifar)
    got = run_onnx(out.read_bytes(), X)
    assert float((got - minifc.load_run(copy).loss(X)).abs().max()) < 1e-5
    assert [p.name for p in out.parent.iterdir()] == ["net.onnx"]  # no temporary file left


def test_torch_export_is_a_state_dict_the_printed_line_rebuilds(copy, tiny_cifar, monkeypatch) -> None:
    result = invoke_cli("export", str(copy), "--to", "torch")
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("net = torch.nn.Sequential(torch.nn.Flatten("), line
    monkeypatch.chdir(copy)
    scope: dict = {"torch": torch}
    exec(line, scope)  # noqa: S102 - the line the command prints for the user
    X = _test_images(tiny_cifar)
    with torch.no_grad():
        got = scope["net"](X)
    assert float((got - minifc.load_run(copy).loss(X)).abs().max()) < 1e-5
    state = torch.load(copy / "model.pt", weights_only=True)
    assert set(state) == set(scope["net"].state_dict())


def test_a_classic_checkpoint_exports_and_onnx_says_it_used_random_inputs(tmp_path) -> None:
    pytest.importorskip("onnxruntime", reason="needs the export extra")
    model = minifc.TwoLayerNet(30, 8, 5, weight_scale=0.1)
    model.save(tmp_path / "two.pt")
    result = invoke_cli("export", str(tmp_path / "two.pt"), "--to", "onnx")
    assert result.exit_code == 0, result.output
    assert "256 random inputs of shape (N, 30) (a model file names no data)" in result.output
    assert (tmp_path / "two.onnx").is_file()
    assert invoke_cli("export", str(tmp_path / "two.pt"), "--to", "torch").exit_code == 0
    assert (tmp_path / "two.torch.pt").is_file() and (tmp_path / "two.pt").is_file()


def test_an_existing_file_is_kept_without_force_and_a_link_is_never_followed(copy, tmp_path) -> None:
    target = copy / "model.pt"
    target.write_bytes(b"keep me")
    assert_one_line_error(invoke_cli("export", str(copy), "--to", "torch"), "model.pt exists; pass --force")
    assert target.read_bytes() == b"keep me"
    assert invoke_cli("export", str(copy), "--to", "torch", "--force").exit_code == 0
    assert target.read_bytes() != b"keep me"
    elsewhere = tmp_path / "elsewhere.pt"
    elsewhere.write_bytes(b"not yours")
    link = copy / "link.pt"
    os.symlink(elsewhere, link)
    assert_one_line_error(invoke_cli("export", str(copy), "--to", "torch", "--out", str(link), "--force"), "link.pt")
    assert elsewhere.read_bytes() == b"not yours" and link.is_symlink()


def test_what_cannot_be_exported_is_a_one_line_error(tmp_path, copy, monkeypatch) -> None:
    assert_one_line_error(invoke_cli("export", str(tmp_path / "nothing"), "--to", "torch"), "nothing")
    assert_one_line_error(invoke_cli("export", str(copy / "checkpoint.pt"), "--to", "torch"),
                          "is the checkpoint of a run: pass its folder")  # fmt: skip
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the export extra were not installed
    result = invoke_cli("export", str(copy), "--to", "onnx")
    assert_one_line_error(result, "--to onnx", "pip install 'minifc[export]'")
    assert len(result.output.strip().splitlines()) == 1
    assert not (copy / "model.onnx").exists()
