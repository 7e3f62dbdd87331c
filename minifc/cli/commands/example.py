"""``minifc example NAME``: the examples registered through the ``minifc_register_examples`` hook (the
classic CIFAR-10 experiments are the built-in ones), with each example's own settings as defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import torch

from ...config.config_checks import MAX_SEED
from ...device import resolve_device
from ...errors import MinifcError, UnknownComponentError, UnsafePathError
from ...experiments.example_options import ExampleOptions
from ...io.safe_files import check_regular_files
from ...registry.core import default_registry
from ...registry.specs import parse_value
from .common import load_data, non_empty, os_error_message, print_table, write_json

SUMMARY = "summary.json"
MIN_BUDGET_S = 5.0
MAX_BUDGET_S = 30 * 24 * 3600.0


class ExampleCommand(click.Command):
    """A command whose help ends with the registered examples and their descriptions."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        registry = default_registry()
        registry.load()
        # registration order: the built-ins in the course's order, then those of plugins
        examples = [(c.name, c.description) for c in registry.components["example"].values()]
        with formatter.section("Examples (NAME)"):
            formatter.write_dl(examples or [("(none)", "no example is registered")])
        super().format_epilog(ctx, formatter)


def _refuse_overwrite(out_dir: Path, force: bool) -> None:
    """Stop unless ``out_dir`` holds no results of an earlier example (or ``--force`` says so)."""
    if not out_dir.is_dir():
        return
    outputs = sorted(p for p in out_dir.iterdir() if p.name == SUMMARY or p.suffix.lower() == ".png")
    try:  # an example writes these names: a link there is refused before it runs, never written through
        check_regular_files(out_dir, [p.name for p in outputs], "example output")
    except UnsafePathError as e:
        raise click.ClickException(str(e)) from None
    found = [p.name for p in outputs]
    if not found:
        return
    if not force:
        shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        raise click.UsageError(
            f"{out_dir} already holds the results of an example ({shown}); use --force to overwrite them, "
            "or another --out"
        )
    (out_dir / SUMMARY).unlink(missing_ok=True)


def parse_settings(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``--set`` items ``key=value`` -> a dict for :attr:`ExampleOptions.extra`: values parsed like the
    registry's specs (``3`` -> int, ``1e-3`` -> float, ``true``/``false`` -> bool, else the string);
    a dotted key nests (``recipe.width=512`` -> ``{"recipe": {"width": 512}}``). Raises ValueError
    naming the item that is not ``key=value``, has an empty key part, or sets a key twice."""
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(p.strip() for p in parts):
            raise ValueError(f"{item!r} is not key=value (e.g. recipe.width=512)")
        node = settings
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part.strip(), {})
            if not isinstance(node, dict):
                raise ValueError(f"{item!r}: {'.'.join(parts[: i + 1])!r} is already set to a value")
        last = parts[-1].strip()
        if last in node:
            raise ValueError(f"{item!r}: {key.strip()!r} is set twice")
        node[last] = parse_value(value)
    return settings


def _check_settings(name: str, extra: dict[str, Any], declared: tuple[str, ...] | None) -> None:
    """Refuse ``--set`` keys that an example which declares its settings does not read."""
    unknown = sorted(set(extra) - set(declared)) if declared is not None else []
    if not unknown:
        return
    takes = f"it takes {', '.join(declared)}" if declared else "it takes no --set settings"
    shown = ", ".join(map(repr, unknown))
    raise click.BadParameter(f"example {name} has no setting {shown}: {takes}", param_hint="--set")


def _check_budget(name: str, budget: float | None, takes_budget: bool) -> None:
    if budget is not None and not (MIN_BUDGET_S <= budget <= MAX_BUDGET_S):  # also inf and nan
        raise click.BadParameter(
            f"{budget:g} s: a budget must be a finite number of seconds from {MIN_BUDGET_S:g} (it counts from the "
            f"start of the process, data loading included) to {MAX_BUDGET_S:.0f} (30 days)",
            param_hint="--budget",
        )
    if budget is not None and not takes_budget:
        registry = default_registry()
        takers = [c.name for c in registry.components["example"].values() if c.metadata.get("budget")]
        raise click.UsageError(
            f"example {name} has no time budget, so --budget does not apply to it "
            f"(examples that take one: {', '.join(takers) or 'none'})"
        )


@click.command(cls=ExampleCommand)
@click.argument("name", metavar="NAME")
@click.option(
    "--epochs", type=click.IntRange(min=1), default=None, help="Run this many epochs instead of the example's own."
)
@click.option(
    "--num-train", type=click.IntRange(min=1), default=None, help="Train on the first N training images only."
)
@click.option("--data", "data_root", default=None, help="CIFAR-10 folder (default: $MINIFC_DATA, then the cache).")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    callback=non_empty,
    help="Folder for plots and summary.json [runs/NAME].",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (cuda, then mps, then cpu), cpu, cuda or mps. The classic numbers are measured on CPU; "
    "another device gives close, not bit-identical, results.",
)
@click.option(
    "--budget",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Wall-clock seconds for the whole run, from the start of the process, 5 to 2592000 (only for examples "
    "that take a time budget; the command names them).",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="An example-specific setting, repeatable: options.extra[KEY] = VALUE (a number, true/false or a "
    "string); a dotted KEY nests, e.g. --set recipe.width=512.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, MAX_SEED),
    default=0,
    show_default=True,
    help="Seed for initialization and minibatches.",
)
@click.option(
    "--precision",
    type=click.Choice(["32", "64", "bf16-mixed", "auto"]),
    default=None,
    help="Train in this precision (auto: bf16-mixed where bfloat16 products are fast, else 32) [the example's own].",
)
@click.option("--force", is_flag=True, help="Overwrite the results of an earlier example in --out.")
@click.option("--quiet", is_flag=True, help="Only the summary table.")
def example(
    name: str,
    epochs: int | None,
    num_train: int | None,
    data_root: str | None,
    out: str | None,
    device: str,
    budget: float | None,
    settings: tuple[str, ...],
    seed: int,
    precision: str | None,
    force: bool,
    quiet: bool,
) -> None:
    """Run the example NAME on CIFAR-10: a classic experiment or one a plugin adds (listed below).

    Prints the training lines, a final summary table, and writes PNG plots and summary.json to --out;
    it refuses to overwrite the results of an earlier example there without --force.
    """
    try:
        component = default_registry().component("example", name)
    except UnknownComponentError as e:
        raise click.UsageError(str(e)) from None
    fn = component.obj
    _check_budget(name, budget, bool(component.metadata.get("budget")))
    try:
        extra = parse_settings(settings)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--set") from None
    _check_settings(name, extra, component.metadata.get("settings"))
    try:
        dev = resolve_device(device)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--device") from None
    out_dir = Path(out) if out else Path("runs") / name
    _refuse_overwrite(out_dir, force)
    data = load_data(data_root, torch.float32, dev)
    options = ExampleOptions(
        out=out_dir,
        epochs=epochs,
        num_train=num_train,
        device=str(dev),
        seed=seed,
        verbose=not quiet,
        extra=extra,
        budget=budget,
        precision=precision,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        summary = fn(data, options)
    except (MinifcError, ValueError, TypeError) as e:  # a component it needs is not registered, --num-train 5, ...
        raise click.ClickException(f"example {name}: {e}") from None
    except OSError as e:
        raise click.ClickException(os_error_message(e, f"example {name}")) from None
    _report(name, summary, tuned=epochs is not None or num_train is not None or bool(settings))
    try:
        write_json(out_dir / SUMMARY, summary)
    except OSError as e:
        raise click.ClickException(os_error_message(e, f"example {name}: could not write the summary")) from None
    click.echo(f"summary: {out_dir / SUMMARY}")


def _report(name: str, summary: Any, tuned: bool) -> None:
    """The summary table, whether the target was reached (default settings only) and the plots."""
    if not isinstance(summary, dict) or not isinstance(summary.get("rows", []), list):
        raise click.ClickException(f"example {name} returned {type(summary).__name__}, not a summary dict with 'rows'")
    rows = summary.get("rows", [])
    click.echo(f"\n{name}: summary")
    headers = summary.get("columns")
    if rows and isinstance(headers, dict) and headers:  # the example's own columns and headers
        print_table(rows, [str(key) for key in headers], {str(k): str(v) for k, v in headers.items()})
    elif rows:
        columns = ["name", "final_train_acc", "final_val_acc", "best_val_acc"]
        columns += [c for c in ("test_acc", "epochs") if c in rows[0]]
        print_table(rows, [*columns, "seconds"])
    target = summary.get("target")
    if target and rows and not tuned:
        key, threshold = target
        ok = all(row.get(key, float("-inf")) >= threshold for row in rows)
        click.echo(f"target: {key} >= {threshold}: {'reached' if ok else 'NOT reached'}")
    for plot in summary.get("plots", []):
        click.echo(f"plot: {plot}")
