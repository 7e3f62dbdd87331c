"""``minifc train``: train any fully-connected net on CIFAR-10 from command-line options."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click
import torch

from ..errors import MinifcError
from .common import load_data, parse_dtype, parse_hidden, print_table, write_json

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"


@click.command()
@click.option("--hidden", default="100", show_default=True, help="Hidden widths, comma-separated, e.g. 512,512.")
@click.option("--dropout", type=float, default=0.0, show_default=True, help="Probability of dropping a unit.")
@click.option(
    "--norm", default=None, help="Normalization layer after each hidden Linear (a registered layer, e.g. batchnorm1d)."
)
@click.option("--update-rule", default="sgd", show_default=True, help="Registered update rule (plugins included).")
@click.option("--lr", type=float, default=None, help="Learning rate [the rule's default].")
@click.option("--lr-decay", type=float, default=1.0, show_default=True, help="Learning-rate factor after each epoch.")
@click.option("--reg", type=float, default=0.0, show_default=True, help="Classic L2 strength: reg * sum(W**2).")
@click.option(
    "--regularizer",
    "regularizers",
    multiple=True,
    metavar="NAME[:k=v,...]",
    help="Registered regularizer, repeatable, e.g. --regularizer max_norm:max_norm=3.",
)
@click.option("--weight-scale", type=float, default=1e-2, show_default=True, help="Std of the initial weights.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--num-train", type=click.IntRange(min=1), default=None, help="Use only the first N training images.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or mps.")
@click.option("--dtype", default="float32", show_default=True, help="float32 or float64.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--data", "data_root", default=None, help="CIFAR-10 folder (default: $MINIFC_DATA, then the cache).")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="runs/train",
    show_default=True,
    help="Folder for the checkpoint, history (JSON, CSV) and plots.",
)
@click.option("--resume", is_flag=True, help="Continue the run saved in --out (its saved options are used).")
@click.option("--force", is_flag=True, help="Allow writing into an --out folder that already holds a run.")
@click.option("--quiet", is_flag=True, help="No progress bar, no per-epoch lines.")
@click.pass_context
def train(ctx: click.Context, **opts: Any) -> None:
    """Train a fully-connected net: Linear-[norm]-ReLU-[dropout] blocks, then Linear, softmax loss."""
    out = Path(opts["out"])
    if opts["resume"]:
        opts = _resumed_options(ctx, out, opts)
    elif (out / CONFIG).exists() or (out / CHECKPOINT).exists():
        if not opts["force"]:
            raise click.UsageError(
                f"{out} already holds a run; use --resume to continue it, --force to overwrite it, or another --out"
            )
        for stale in ("history.json", "history.csv", "result.json", "history.png"):
            (out / stale).unlink(missing_ok=True)
    try:
        _run(opts, out)
    except (MinifcError, ValueError, TypeError, KeyError) as e:
        message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        raise click.ClickException(message) from None
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: continue with `minifc train --out {out} --resume`", err=True)
        ctx.exit(130)


def _resumed_options(ctx: click.Context, out: Path, opts: dict[str, Any]) -> dict[str, Any]:
    config = out / CONFIG
    if not config.exists() or not (out / CHECKPOINT).exists():
        raise click.UsageError(f"--resume: {out} holds no run to resume ({CONFIG} and {CHECKPOINT} are needed)")
    saved = json.loads(config.read_text())
    for key in ("epochs", "device", "quiet"):  # these may change on resume
        if ctx.get_parameter_source(key) == click.core.ParameterSource.COMMANDLINE:
            saved[key] = opts[key]
    saved.update(resume=True, force=opts["force"], out=opts["out"])
    return saved


def _build_model(opts: dict[str, Any], dtype: torch.dtype, device: torch.device) -> Any:
    hidden = parse_hidden(opts["hidden"])
    if opts["norm"]:
        from ..builder import build_net, mlp_layers
        from ..models import Classifier

        specs = mlp_layers(hidden, norm=opts["norm"], dropout=opts["dropout"])
        for spec in specs:
            if isinstance(spec, dict) and spec.get("name") == "linear":
                spec["weight_scale"] = opts["weight_scale"]
        net = build_net(specs, 3 * 32 * 32, 10, dtype=dtype, device=device)
        return Classifier(net, "softmax", reg=opts["reg"])
    from ..models import FullyConnectedNet

    return FullyConnectedNet(
        hidden, dropout=opts["dropout"], reg=opts["reg"], weight_scale=opts["weight_scale"], dtype=dtype, device=device
    )


def _run(opts: dict[str, Any], out: Path) -> None:
    from ..trainer import Trainer, resolve_device

    dtype = parse_dtype(opts["dtype"])
    try:
        device = resolve_device(opts["device"])
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--device") from None
    torch.manual_seed(opts["seed"])
    model = _build_model(opts, dtype, device)
    data = load_data(opts["data_root"], dtype, device)
    if opts["num_train"]:
        data["X_train"], data["y_train"] = data["X_train"][: opts["num_train"]], data["y_train"][: opts["num_train"]]
    optim_config = {} if opts["lr"] is None else {"learning_rate": opts["lr"]}
    trainer = Trainer(
        model,
        data,
        update_rule=opts["update_rule"],
        optim_config=optim_config,
        regularizers=list(opts["regularizers"]),
        lr_decay=opts["lr_decay"],
        batch_size=opts["batch_size"],
        num_epochs=opts["epochs"],
        device=device,
        seed=opts["seed"],
        checkpoint_path=out / CHECKPOINT,
        verbose=not opts["quiet"],
    )
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / CONFIG, {k: v for k, v in opts.items() if k not in ("resume", "force")})
    try:
        trainer.train(resume=bool(opts["resume"]))
    finally:
        _write_history(trainer, out)
    test_acc = trainer.check_accuracy(data["X_test"], data["y_test"]) if "X_test" in data else float("nan")
    row = {
        "epochs": trainer.epoch,
        "best_val_acc": trainer.best_val_acc,
        "test_acc": test_acc,
        "seconds": round(trainer.elapsed, 1),
    }
    print_table([row], list(row))
    write_json(out / "result.json", row)
    _plot(trainer, out)
    click.echo(f"run saved in {out}")


def _write_history(trainer: Any, out: Path) -> None:
    history = {
        "loss_history": trainer.loss_history,
        "train_acc_history": trainer.train_acc_history,
        "val_acc_history": trainer.val_acc_history,
        "lr_history": trainer.lr_history,
    }
    write_json(out / "history.json", history)
    with open(out / "history.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "train_acc", "val_acc", "learning_rate"])
        for i, (tr, va) in enumerate(zip(trainer.train_acc_history, trainer.val_acc_history, strict=True)):
            lr = trainer.lr_history[i] if i < len(trainer.lr_history) else ""
            writer.writerow([i + 1, tr, va, lr])


def _plot(trainer: Any, out: Path) -> None:
    from ..plots import have_matplotlib, plot_histories

    if not have_matplotlib():
        click.echo("(matplotlib is not installed: no plots; pip install 'minifc[plots]')")
        return
    hist = {
        "loss_history": trainer.loss_history,
        "train_acc_history": trainer.train_acc_history,
        "val_acc_history": trainer.val_acc_history,
    }
    click.echo(f"plot: {plot_histories({'train': hist}, out / 'history.png')}")
