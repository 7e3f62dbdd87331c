"""minifc_recipes.report: the summary table's headers say what each accuracy measured, and the seconds
are reported against the budget, phase by phase."""

from __future__ import annotations

from minifc_recipes.report import Timeline, budget_line, column_headers


def test_headers_say_how_many_images_and_views_each_accuracy_measured():
    headers = column_headers(1000, 2000, 10000, 10000, 2, 20.0)
    assert list(headers) == [
        "name", "final_train_acc", "final_val_acc", "best_val_acc", "val_acc_tta", "test_acc", "epochs", "seconds"
    ]
    assert headers["final_val_acc"] == "val acc (2,000 images, 1 view)"
    assert headers["best_val_acc"] == "best val acc (2,000 images, 1 view)"
    assert headers["val_acc_tta"] == "val acc (10,000 images, 2 views)"
    assert headers["test_acc"] == "test acc (10,000 images, 2 views)"
    assert headers["seconds"] == "seconds (budget 20)"
    assert column_headers(1000, 64, 64, 64, 1, 900.0)["test_acc"] == "test acc (64 images, 1 view)"


def test_an_overrun_is_named_with_where_the_seconds_went():
    timeline = Timeline(started_at=100.0, train_start=106.0, train_end=117.0, eval_end=120.4, end=120.9)
    assert abs(timeline.seconds - 20.9) < 1e-9
    assert timeline.phases() == {"before_training": 6.0, "training": 11.0, "final_evaluation": 3.4, "saving": 0.5}
    line = budget_line(timeline, 20.0)
    assert line.startswith("20.9 s in all, over the budget of 20 s by 0.9 s: 6.0 s before training")
    assert "11.0 s training, 3.4 s final evaluation, 0.5 s writing the model and the plot" in line


def test_a_run_inside_its_budget_says_so():
    timeline = Timeline(0.0, 5.0, 15.0, 17.5, 18.0)
    assert budget_line(timeline, 20.0).startswith("18.0 s in all, within its 20 s budget: 5.0 s before training")
    assert "over" not in budget_line(Timeline(0.0, 1.0, 2.0, 3.0, 20.04), 20.0)
