"""``minifc example NAME``: the classic CIFAR-10 experiments, with the classic settings as defaults."""

from __future__ import annotations

from pathlib import Path

import click
import torch

from ..errors import MinifcError
from ..examples import EXAMPLES, ExampleOptions, run_example
from .common import load_data, os_error_message, print_table, write_json


@click.command()
@click.argument("name", type=click.Choice(list(EXAMPLES)))
@click.option(
    "--epochs", type=click.IntRange(min=1), default=None, help="Run this many epochs instead of the classic number."
)
@click.option(
    "--num-train", type=click.IntRange(min=1), default=None, help="Train on the first N training images only."
)
@click.option("--data", "data_root", default=None, help="CIFAR-10 folder (default: $MINIFC_DATA, then the cache).")
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Folder for plots and summary.json [runs/NAME]."
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, mps or auto.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for initialization and minibatches.")
@click.option("--quiet", is_flag=True, help="Only the summary table.")
def example(
    name: str,
    epochs: int | None,
    num_train: int | None,
    data_root: str | None,
    out: str | None,
    device: str,
    seed: int,
    quiet: bool,
) -> None:
    """Run an experiment: two-layer, overfit, sgd-momentum, update-rules, dropout, or best (the
    fully-connected CIFAR-10 recipe within 15 minutes; needs the minifc-norm, minifc-optim-extra and
    minifc-recipes plugin packages).

    Prints the classic Solver lines, a final summary table, and writes PNG plots to --out.
    """
    from ..device import resolve_device

    try:
        dev = resolve_device(device)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--device") from None
    out_dir = Path(out) if out else Path("runs") / name
    data = load_data(data_root, torch.float32, dev)
    options = ExampleOptions(
        out=out_dir, epochs=epochs, num_train=num_train, device=str(dev), seed=seed, verbose=not quiet
    )
    try:
        summary = run_example(name, data, options)
    except (MinifcError, ValueError, TypeError) as e:  # a plugin the recipe needs is missing, --num-train 5, ...
        raise click.ClickException(f"example {name}: {e}") from None
    except OSError as e:
        raise click.ClickException(os_error_message(e, f"example {name}")) from None
    click.echo(f"\n{name}: summary")
    columns = ["name", "final_train_acc", "final_val_acc", "best_val_acc"]
    columns += [c for c in ("test_acc", "epochs") if c in summary["rows"][0]]
    print_table(summary["rows"], [*columns, "seconds"])
    target = summary.get("target")
    if target and epochs is None and num_train is None:
        key, threshold = target
        ok = all(row[key] >= threshold for row in summary["rows"])
        click.echo(f"target: {key} >= {threshold}: {'reached' if ok else 'NOT reached'}")
    for plot in summary["plots"]:
        click.echo(f"plot: {plot}")
    write_json(out_dir / "summary.json", summary)
    click.echo(f"summary: {out_dir / 'summary.json'}")
