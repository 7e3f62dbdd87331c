"""minifc.plots: accuracy histories drawn at the right epochs, legends only where they name runs, titles."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install 'minifc[plots]')")

from minifc.plots import history_figure, plot_histories  # noqa: E402

HIST = {"loss_history": [2.3, 2.2, 2.1, 2.0], "train_acc_history": [0.2, 0.3], "val_acc_history": [0.15, 0.25]}


def test_trainer_histories_start_at_epoch_one_without_a_legend_for_one_run() -> None:
    import matplotlib.pyplot as plt

    fig = history_figure({"run": HIST}, title="run: hidden 100", first_epoch=1)
    try:
        loss, train, val = fig.axes
        assert list(loss.lines[0].get_xdata()) == [1, 2, 3, 4]
        assert list(train.lines[0].get_xdata()) == [1, 2] and list(val.lines[0].get_xdata()) == [1, 2]
        assert val.get_title() == "validation accuracy" and val.get_legend() is None
        assert fig.get_suptitle() == "run: hidden 100"
    finally:
        plt.close(fig)


def test_solver_histories_start_at_epoch_zero_and_several_runs_get_a_legend() -> None:
    import matplotlib.pyplot as plt

    fig = history_figure({"sgd": HIST, "adam": HIST})
    try:
        val = fig.axes[2]
        assert list(val.lines[0].get_xdata()) == [0, 1]
        assert [t.get_text() for t in val.get_legend().get_texts()] == ["sgd", "adam"]
    finally:
        plt.close(fig)


def test_plot_histories_writes_a_png(tmp_path) -> None:
    path = plot_histories({"run": HIST}, tmp_path / "h.png", title="t", first_epoch=1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_learning_rate_has_its_own_panel_per_epoch() -> None:
    import matplotlib.pyplot as plt

    hist = {**HIST, "lr_history": [1e-3, 5e-4]}
    panels = ("loss_history", "train_acc_history", "val_acc_history", "lr_history")
    fig = history_figure({"run": hist}, panels=panels, first_epoch=1)
    try:
        lr = fig.axes[3]
        assert lr.get_title().startswith("learning rate")
        assert list(lr.lines[0].get_xdata()) == [1, 2] and list(lr.lines[0].get_ydata()) == [1e-3, 5e-4]
    finally:
        plt.close(fig)
