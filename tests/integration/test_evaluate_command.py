"""`minifc evaluate RUN`: accuracy per class and the confusion matrix of a trained run, on the data it was
trained on, written without following links; one-line errors for what is not a run (tiny fake CIFAR-10)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import minifc
from minifc.cli import main
from minifc.data import CLASSES, load_cifar10
from minifc.io.plots import have_matplotlib
from minifc.training.metrics import confusion_matrix


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def run(tiny_cifar, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("evaluate") / "run"
    result = invoke("train", "--data", str(tiny_cifar), "--out", str(out), "--hidden", "20", "--num-train", "120",
                    "--batch-size", "40", "--epochs", "2", "--device", "cpu", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def copy(run, tmp_path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


def test_evaluate_reports_the_test_accuracy_train_measured_per_class_and_a_confusion_matrix(copy) -> None:
    result = invoke("evaluate", str(copy), "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads((copy / "evaluate_test.json").read_text())
    assert report["accuracy"] == pytest.approx(json.loads((copy / "result.json").read_text())["test_acc"])
    assert report["images"] == 20 and report["classes"] == list(CLASSES)
    matrix = torch.tensor(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and int(matrix.sum()) == 20 and int(matrix.trace()) == report["correct"]
    assert [row["class"] for row in report["per_class"]] == list(CLASSES)
    assert [row["images"] for row in report["per_class"]] == matrix.sum(1).tolist()
    assert f"test accuracy {report['accuracy']:.4f}" in result.output
    assert "airplane" in result.output and "truck" in result.output
    if have_matplotlib():
        assert (copy / "confusion_test.png").read_bytes()[:4] == b"\x89PNG"


def test_the_validation_split_is_the_one_train_held_out(copy, tiny_cifar) -> None:
    out = copy.parent / "reports"
    result = invoke("evaluate", str(copy), "--split", "val", "--out", str(out), "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "evaluate_val.json").read_text())
    data = load_cifar10(str(tiny_cifar))
    assert report["images"] == data["X_val"].shape[0] == 40
    assert not (copy / "evaluate_val.json").exists()  # --out: nothing written into the run folder
    best = max(json.loads((copy / "history.json").read_text())["val_acc_history"])
    assert report["accuracy"] == pytest.approx(best)  # the best weights are those of the best validation accuracy
    assert minifc.load_run(copy).loss(data["X_val"]).shape == (40, 10)


def test_without_matplotlib_evaluate_says_what_to_install_and_still_prints_the_numbers(copy, monkeypatch) -> None:
    import minifc.io.plots

    monkeypatch.setattr(minifc.io.plots, "have_matplotlib", lambda: False)
    result = invoke("evaluate", str(copy), "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "pip install 'minifc[plots]'" in result.output and "test accuracy" in result.output
    assert not (copy / "confusion_test.png").exists() and (copy / "evaluate_test.json").exists()


def test_a_link_where_a_report_goes_is_refused_and_its_target_kept(copy, tmp_path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("mine")
    (copy / "confusion_test.png").symlink_to(victim)
    result = invoke("evaluate", str(copy), "--device", "cpu")
    assert_one_line_error(result, "confusion_test.png: it is a symbolic link")
    assert victim.read_text() == "mine" and not (copy / "evaluate_test.json").exists()


def test_what_is_not_a_run_is_one_line_naming_it(copy, tmp_path) -> None:
    assert_one_line_error(invoke("evaluate", str(tmp_path / "nowhere")), "does not exist")
    assert_one_line_error(invoke("evaluate", str(tmp_path)), "holds no config.json")
    (copy / "checkpoint.pt").write_bytes(b"\0" * 64)
    assert_one_line_error(invoke("evaluate", str(copy), "--device", "cpu"), str(copy / "checkpoint.pt"))
    (copy / "checkpoint.pt").unlink()
    assert_one_line_error(invoke("evaluate", str(copy), "--device", "cpu"), "checkpoint.pt does not exist")


def test_a_bad_data_folder_split_or_device_is_refused(run, tmp_path) -> None:
    assert_one_line_error(invoke("evaluate", str(run), "--data", str(tmp_path), "--device", "cpu"), "--data")
    assert_one_line_error(invoke("evaluate", str(run), "--split", "train"), "'train' is not one of 'test', 'val'")
    assert_one_line_error(invoke("evaluate", str(run), "--device", "meta"), "--device")


def test_confusion_matrix_counts_true_rows_against_predicted_columns() -> None:
    class Fixed:
        def loss(self, X: torch.Tensor) -> torch.Tensor:
            return X  # the scores are the input itself

    X = torch.eye(3)[[0, 1, 2, 2]]  # predicts 0, 1, 2, 2
    y = torch.tensor([0, 2, 2, 1])
    assert confusion_matrix(Fixed(), X, y, 3, batch_size=3).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        confusion_matrix(Fixed(), X, torch.tensor([0, 1, 2, 3]), 3)
    with pytest.raises(ValueError, match="4 rows but y has 3"):
        confusion_matrix(Fixed(), X, y[:3], 3)
    with pytest.raises(ValueError, match="scores 3 classes, not 4"):
        confusion_matrix(Fixed(), X, y, 4)
