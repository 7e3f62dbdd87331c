"""What ``best`` reports: the table's column headers, which say what each accuracy measured (how many
images, how many views), and where the run's seconds went, against the budget."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Timeline", "column_headers", "budget_line"]


@dataclass(frozen=True)
class Timeline:
    """``time.time()`` at each boundary of a run of ``best``: the budget's start (the process's start by
    default), the training's start and end, the final evaluation's end, and the end (model and plot
    written)."""

    started_at: float
    train_start: float
    train_end: float
    eval_end: float
    end: float

    @property
    def seconds(self) -> float:
        """Seconds in all, from the budget's start to the end."""
        return self.end - self.started_at

    def phases(self) -> dict[str, float]:
        """Seconds of each phase, rounded to 0.1 s: ``before_training`` (start-up, data, speed check,
        preprocessing), ``training``, ``final_evaluation``, ``saving``."""
        t = asdict(self)
        keys = ("started_at", "train_start", "train_end", "eval_end", "end")
        names = ("before_training", "training", "final_evaluation", "saving")
        return {name: round(t[b] - t[a], 1) for name, a, b in zip(names, keys, keys[1:], strict=False)}


def _views(n: int) -> str:
    return f"{n} view" if n == 1 else f"{n} views"


def column_headers(
    train_samples: int, val_each_epoch: int, n_val: int, n_test: int, views: int, budget_s: float
) -> dict[str, str]:
    """``{row key: header}`` of the summary table, in order (``minifc example`` prints these columns):
    the epoch-end accuracies say their sample and one view, the final ones the whole split and the views
    chosen on validation, the seconds the budget."""
    return {
        "name": "name",
        "final_train_acc": f"train acc ({train_samples:,} images, 1 view)",
        "final_val_acc": f"val acc ({val_each_epoch:,} images, 1 view)",
        "best_val_acc": f"best val acc ({val_each_epoch:,} images, 1 view)",
        "val_acc_tta": f"val acc ({n_val:,} images, {_views(views)})",
        "test_acc": f"test acc ({n_test:,} images, {_views(views)})",
        "epochs": "epochs",
        "seconds": f"seconds (budget {budget_s:g})",
    }


def budget_line(timeline: Timeline, budget_s: float) -> str:
    """``"S s in all, within its B s budget: ..."`` (or ``"over the budget of B s by X s"``) and the
    seconds of each phase, so that an overrun says where it came from."""
    seconds = timeline.seconds
    over = round(seconds - budget_s, 1)
    verdict = f"over the budget of {budget_s:g} s by {over:.1f} s" if over > 0 else f"within its {budget_s:g} s budget"
    p = timeline.phases()
    return (
        f"{seconds:.1f} s in all, {verdict}: {p['before_training']:.1f} s before training (start-up, data, "
        f"preprocessing), {p['training']:.1f} s training, {p['final_evaluation']:.1f} s final evaluation, "
        f"{p['saving']:.1f} s writing the model and the plot"
    )
