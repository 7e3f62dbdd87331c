"""What `minifc train` reports besides the checkpoint: the loss per epoch in history.csv / history.json,
the model summary printed before training, and history.png's panels (on a tiny fake CIFAR-10)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from minifc.cli import main
from minifc.training.metrics import epoch_losses


def train(data: Path, out: Path, *extra: str):
    args = ["train", "--data", str(data), "--out", str(out), "--hidden", "20", "--num-train", "120",
            "--batch-size", "40", "--epochs", "2", "--device", "cpu", *extra]  # fmt: skip
    return CliRunner().invoke(main, args)


@pytest.fixture(scope="module")
def run(tiny_cifar, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("reports") / "run"
    result = train(tiny_cifar, out)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_history_csv_and_json_hold_the_mean_training_loss_of_each_epoch(run) -> None:
    out, _ = run
    history = json.loads((out / "history.json").read_text())
    steps = history["loss_history"]
    assert len(steps) == 2 * 3  # 120 images, batches of 40, 2 epochs
    expected = [sum(steps[:3]) / 3, sum(steps[3:]) / 3]
    assert history["epoch_loss_history"] == pytest.approx(expected)
    rows = list(csv.DictReader((out / "history.csv").read_text().splitlines()))
    assert list(rows[0]) == ["epoch", "loss", "train_acc", "val_acc", "learning_rate"]
    assert [float(r["loss"]) for r in rows] == pytest.approx(expected)
    assert [int(r["epoch"]) for r in rows] == [1, 2]


def test_epoch_losses_leave_out_a_partial_epoch() -> None:
    assert epoch_losses([4.0, 2.0, 1.0, 3.0, 9.0], 2, 3) == [3.0, 2.0]
    assert epoch_losses([4.0, 2.0, 1.0, 3.0], 2, 1) == [3.0]
    assert epoch_losses([], 2, 0) == []


def test_history_png_shows_the_loss_and_both_accuracies_on_one_panel(tiny_cifar, tmp_path, monkeypatch) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install 'minifc[plots]')")
    import minifc.io.plots

    figures = []
    save = minifc.io.plots.save_figure
    monkeypatch.setattr(minifc.io.plots, "save_figure", lambda fig, path: figures.append(fig) or save(fig, path))
    result = train(tiny_cifar, tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "history.png").read_bytes()[:4] == b"\x89PNG"
    (fig,) = figures
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["training loss", "accuracy"]
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["train", "val"]


def test_train_prints_the_model_summary_before_the_first_epoch(run) -> None:
    _, output = run
    lines = output.splitlines()
    assert lines[0].split() == ["layer", "output", "shape", "parameters"]
    assert "0 LinearReLU(3072, 20)" in output and "1 Linear(20, 10)" in output
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[-1] == f"{3072 * 20 + 20 + 20 * 10 + 10:,}"
    assert output.index("total") < output.index("epoch 1/2")


def test_quiet_train_prints_no_summary(tiny_cifar, tmp_path) -> None:
    result = train(tiny_cifar, tmp_path / "run", "--quiet", "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "parameters" not in result.output
