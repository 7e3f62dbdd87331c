"""``minifc evaluate RUN``: a trained run's accuracy on the test (or validation) split, per class, and its
confusion matrix (``evaluate_<split>.json``, ``confusion_<split>.png``) in the run folder or ``--out``.

The data are loaded as ``minifc train`` loaded them (the run's ``config.json``: its data folder and dtype,
the same split and preprocessing), unless ``--data`` names another copy of the data set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import torch

from ...data import CLASSES
from ...device import resolve_device
from ...errors import CheckpointError, MinifcError, UnsafePathError
from ...io import plots
from ...io.run_folder import confusion_plot, evaluate_report
from ...io.runs import NUM_CLASSES, load_run, read_run_config
from ...io.safe_files import check_regular_files
from ...training.metrics import confusion_matrix
from .common import load_data, os_error_message, print_table, write_json


def _available_device(ctx: click.Context, param: click.Parameter, value: str) -> torch.device:
    try:
        return resolve_device(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--data", default=None, help="Data folder (default: the one the run was trained on, in its config.json).")
@click.option("--split", type=click.Choice(["test", "val"]), default="test", show_default=True,
              help="Which split to evaluate on.")  # fmt: skip
@click.option("--weights", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="The epoch with the best validation accuracy, or the last one saved.")  # fmt: skip
@click.option("--device", default="auto", show_default=True, callback=_available_device,
              help="auto, cpu, cuda, cuda:N or mps.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for evaluate_<split>.json and confusion_<split>.png (default: the run folder).")  # fmt: skip
def evaluate(run: Path, data: str | None, split: str, weights: str, device: torch.device, out: Path | None) -> None:
    """Test accuracy of the run in folder RUN (written by minifc train), per class, and its confusion matrix."""
    try:
        config = read_run_config(run)
    except MinifcError as e:
        raise click.ClickException(_message(e)) from None
    folder = run if out is None else out
    report, plot = folder / evaluate_report(split), folder / confusion_plot(split)
    try:
        check_regular_files(folder, (report.name, plot.name), what="evaluation file")
    except UnsafePathError as e:
        raise click.ClickException(str(e)) from None
    try:
        model = load_run(run, device=device, weights=weights)
    except (CheckpointError, MinifcError, ValueError) as e:
        raise click.ClickException(_message(e)) from None
    tensors = load_data(data or config["data"], getattr(torch, config["dtype"]), device)
    X, y = tensors[f"X_{split}"], tensors[f"y_{split}"]
    if X.shape[0] == 0:
        raise click.ClickException(f"the {split} split of the data holds no images")
    try:
        matrix = confusion_matrix(model, X, y, NUM_CLASSES)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    names = list(CLASSES) if NUM_CLASSES == len(CLASSES) else [f"class {i}" for i in range(NUM_CLASSES)]
    result = _result(matrix, names, split, weights)
    click.echo(f"{run}: {split} accuracy {result['accuracy']:.4f} ({result['correct']:,} of {result['images']:,} "
               f"images, {weights} weights)")  # fmt: skip
    rows = [{**row, "accuracy": "-" if row["accuracy"] is None else row["accuracy"]} for row in result["per_class"]]
    print_table(rows, ["class", "images", "correct", "accuracy"])
    folder.mkdir(parents=True, exist_ok=True)
    try:
        write_json(report, result)
        click.echo(f"results: {report}")
        _plot(matrix, names, plot, f"{run.name}: {split} accuracy {result['accuracy']:.4f}")
    except OSError as e:
        raise click.ClickException(os_error_message(e, f"could not write into {folder}")) from None


def _message(e: Exception) -> str:
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


def _result(matrix: torch.Tensor, names: list[str], split: str, weights: str) -> dict[str, Any]:
    per_class = []
    for i, name in enumerate(names):
        images, correct = int(matrix[i].sum()), int(matrix[i, i])
        per_class.append({"class": name, "images": images, "correct": correct,
                          "accuracy": correct / images if images else None})  # fmt: skip
    correct, images = int(matrix.trace()), int(matrix.sum())
    return {
        "split": split,
        "weights": weights,
        "images": images,
        "correct": correct,
        "accuracy": correct / images,
        "per_class": per_class,
        "classes": names,
        "confusion_matrix": matrix.tolist(),  # rows: true class, columns: predicted class
    }


def _plot(matrix: torch.Tensor, names: list[str], path: Path, title: str) -> None:
    if not plots.have_matplotlib():
        click.echo("(matplotlib is not installed: no confusion-matrix plot; pip install 'minifc[plots]')")
        return
    plots.save_figure(plots.confusion_figure(matrix.tolist(), names, title), path)  # never written through a link
    click.echo(f"plot: {path}")
