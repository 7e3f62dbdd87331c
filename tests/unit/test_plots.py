"""minifc.io.plots: accuracy histories drawn at the right epochs, legends only where they name runs, titles."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install 'minifc[plots]')")

from minifc.io.plots import history_figure, plot_histories, smoothed  # noqa: E402

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


def test_the_accuracy_panel_holds_training_and_validation_accuracy_with_a_legend() -> None:
    import matplotlib.pyplot as plt

    fig = history_figure({"run": HIST}, panels=("loss_history", "accuracy"), first_epoch=1)
    try:
        loss, acc = fig.axes
        assert [list(line.get_ydata()) for line in acc.lines] == [[0.2, 0.3], [0.15, 0.25]]
        assert [list(line.get_xdata()) for line in acc.lines] == [[1, 2], [1, 2]]
        assert [t.get_text() for t in acc.get_legend().get_texts()] == ["train", "val"]
        assert acc.lines[0].get_color() != acc.lines[1].get_color()
    finally:
        plt.close(fig)


def test_several_runs_on_the_accuracy_panel_are_named() -> None:
    import matplotlib.pyplot as plt

    fig = history_figure({"sgd": HIST, "adam": HIST}, panels=("accuracy",))
    try:
        names = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert names == ["sgd train", "sgd val", "adam train", "adam val"]
        sgd_train, sgd_val, adam_train, _ = fig.axes[0].lines
        assert sgd_train.get_color() == sgd_val.get_color() != adam_train.get_color()
        assert sgd_val.get_linestyle() == "--"
    finally:
        plt.close(fig)


def test_a_long_loss_is_drawn_raw_in_a_light_colour_under_its_running_mean() -> None:
    import matplotlib.pyplot as plt

    values = [float(i % 2) for i in range(100)]  # 0, 1, 0, 1, ...: noise around 0.5
    fig = history_figure({"run": {"loss_history": values}}, panels=("loss_history",))
    try:
        raw, smooth = fig.axes[0].lines
        assert list(raw.get_ydata()) == values and raw.get_alpha() < 0.5
        assert smooth.get_alpha() in (None, 1.0) and smooth.get_color() == raw.get_color()
        assert list(smooth.get_ydata()) == smoothed(values)
        assert all(abs(v - 0.5) <= 0.1 for v in smooth.get_ydata()[2:-2])
    finally:
        plt.close(fig)


def test_smoothed_is_a_centred_running_mean_that_shrinks_at_the_ends() -> None:
    assert smoothed([1.0, 2.0, 3.0, 4.0, 5.0], window=3) == [1.5, 2.0, 3.0, 4.0, 4.5]
    assert smoothed([3.0, 1.0], window=1) == [3.0, 1.0]
    assert smoothed([]) == []
    with pytest.raises(ValueError, match="window"):
        smoothed([1.0], window=0)


def test_a_plot_is_never_written_through_a_link(tmp_path) -> None:
    from minifc.errors import UnsafePathError

    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    (tmp_path / "history.png").symlink_to(victim)
    with pytest.raises(UnsafePathError, match=str(tmp_path / "history.png")):
        plot_histories({"run": HIST}, tmp_path / "history.png")
    assert victim.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["history.png", "victim.txt"]


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
