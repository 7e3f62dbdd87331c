"""``minifc train``: train any fully-connected net on CIFAR-10 from options, a configuration file, or both."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ...config.config_checks import MAX_SEED, add_clip_norm
from ...config.train_config import (
    KEYS,
    ConfigError,
    absolute_data,
    check_values,
    load_config_file,
    resolve,
    to_json,
    to_toml,
    where_option,
)
from ...distributed.context import DEFAULT_TIMEOUT
from ...distributed.sampler import check_global_batch
from ...errors import MinifcError
from ...io.run_folder import CHECKPOINT
from ...registry.components import PluginError
from ...training.precision import PRECISIONS, REDUCE_PRECISIONS
from .common import non_empty, seconds
from .launch import ERRORS_VAR, launch_local, rank, rank_errors, restarted_by_launcher, under_launcher
from .resume_config import resumed_config
from .train_run import check_folder, run

DEFAULT_OUT = "runs/train"
_EXPLICIT = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)


@click.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML or JSON file of options (keys as --print-config shows them; a run's config.json works too). "
    "Options given on the command line override it; a relative data folder in it is relative to the file.",
)
@click.option(
    "--print-config",
    type=click.Choice(["toml", "json"]),
    is_flag=False,
    flag_value="toml",
    default=None,
    help="Print the resolved configuration (TOML, or --print-config json) and exit without training.",
)
@click.option("--hidden", default="100", show_default=True, help="Hidden widths, comma-separated, e.g. 512,512.")
@click.option("--dropout", type=float, default=0.0, show_default=True, help="Probability of dropping a unit.")
@click.option(
    "--norm", default=None, help="Normalization layer after each hidden Linear (a registered layer, e.g. batchnorm1d)."
)
@click.option(
    "--update-rule",
    default="sgd",
    show_default=True,
    metavar="NAME[:k=v,...]",
    help="Registered update rule (plugins included), with its options: adam or adam:beta1=0.95.",
)
@click.option("--lr", type=float, default=None, help="Learning rate [the rule's default].")
@click.option("--lr-decay", type=float, default=1.0, show_default=True, help="Learning-rate factor after each epoch.")
@click.option(
    "--schedule",
    default=None,
    metavar="NAME[:k=v,...]",
    help="Learning-rate factor per step, a registered schedule (plugins included): constant, "
    "warmup_cosine[:warmup_fraction=0.05,final_factor=0], step[:step_size=1,gamma=0.1], exponential[:gamma=0.95].",
)
@click.option("--reg", type=float, default=0.0, show_default=True, help="Classic L2 strength: reg * sum(W**2).")
@click.option(
    "--regularizer",
    "regularizers",
    multiple=True,
    metavar="NAME[:k=v,...]",
    help="Registered regularizer, repeatable, e.g. --regularizer max_norm:max_norm=3.",
)
@click.option(
    "--grad-transform",
    "gradient_transforms",
    multiple=True,
    metavar="NAME[:k=v,...]",
    help="Gradient transform run before the update, repeatable, in order, e.g. --grad-transform clip_value:value=1.",
)
@click.option(
    "--clip-grad-norm",
    type=float,
    default=None,
    metavar="MAX_NORM",
    help="Scale the gradients to global L2 norm <= MAX_NORM (clip_norm after the other gradient transforms).",
)
@click.option(
    "--ema",
    type=float,
    default=0.0,
    show_default=True,
    metavar="DECAY",
    help="Evaluate (and keep) an exponential moving average of the weights with this decay per step, "
    "e.g. 0.999 (0: off).",
)
@click.option(
    "--callback",
    "callbacks",
    multiple=True,
    metavar="NAME[:k=v,...]",
    help="Registered callback (plugins included), repeatable, e.g. --callback early_stopping:patience=3.",
)
@click.option(
    "--tensorboard",
    default=None,
    metavar="DIR",
    help="Log to TensorBoard in DIR (the callback tensorboard:log_dir=DIR; pip install 'minifc[tensorboard]').",
)
@click.option("--weight-scale", type=float, default=1e-2, show_default=True, help="Std of the initial weights.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--num-train", type=click.IntRange(min=1), default=None, help="Use only the first N training images.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="32, 64, bf16-mixed (bfloat16 products, float32 weights) or auto (bf16-mixed where bfloat16 is fast, "
    "else 32) [--dtype's].",
)
@click.option(
    "--reduce-precision",
    type=click.Choice(REDUCE_PRECISIONS),
    default="32",
    show_default=True,
    help="The dtype of the data-parallel gradient all-reduce: bf16 halves the traffic (--nproc-per-node).",
)
@click.option("--data", default=None, help="CIFAR-10 folder (default: $MINIFC_DATA, then the cache).")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=DEFAULT_OUT,
    show_default=True,
    callback=non_empty,
    help="Folder for the checkpoint, configuration, history (JSON, CSV) and plot.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run saved in --out with its saved options; only --epochs, --lr, --device and --precision "
    "may change.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Start a new run in an --out folder that holds one (its files are moved into --out/replaced-<time>/).",
)
@click.option("--quiet", is_flag=True, help="No progress bar, no per-epoch lines.")
@click.option(
    "--nproc-per-node",
    type=click.IntRange(min=1),
    default=None,
    help="Train data-parallel on N local processes (torchrun; gloo on CPU, nccl with one GPU per process). "
    "--batch-size is the global batch, split evenly over the processes.",
)
@click.option(
    "--timeout",
    type=float,
    default=DEFAULT_TIMEOUT,
    callback=seconds,
    show_default=True,
    metavar="SECONDS",
    help="Data-parallel: how long a rank waits for the others (joining the job, each all-reduce) before it "
    "stops with an error, e.g. when a machine was cut off. Not saved with the run.",
)
@click.pass_context
def train(
    ctx: click.Context,
    config_file: str | None,
    print_config: str | None,
    out: str,
    resume: bool,
    force: bool,
    quiet: bool,
    nproc_per_node: int | None,
    timeout: float,
    **options: Any,
) -> None:
    """Train a fully-connected net: Linear-[norm]-ReLU-[dropout] blocks, then Linear, softmax loss.

    The options come from the command line, over --config FILE, over the defaults; the resolved
    configuration is saved in --out/config.json (a file --config reads too).
    """
    if resume and force:
        raise click.UsageError(
            "--resume and --force cannot be used together: --resume continues the run in --out, --force "
            "replaces it (its files are moved aside); give one of them"
        )
    with rank_errors():
        _train(ctx, config_file, print_config, out, resume, force, quiet, nproc_per_node, options, timeout)


def _train(
    ctx: click.Context,
    config_file: str | None,
    print_config: str | None,
    out: str,
    resume: bool,
    force: bool,
    quiet: bool,
    nproc_per_node: int | None,
    options: dict[str, Any],
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    launching = nproc_per_node is not None and not under_launcher()
    # notes are printed once: by the process that launches the ranks, else by rank 0
    notes = not under_launcher() or (rank() == 0 and ERRORS_VAR not in os.environ)
    tensorboard = options.pop("tensorboard")
    explicit = {k: v for k, v in options.items() if ctx.get_parameter_source(k) in _EXPLICIT}
    clip = explicit.pop("clip_grad_norm", None)
    try:
        given = check_values(explicit, "command line", file=False)
        from_file = load_config_file(config_file) if config_file else {}
        add_clip_norm(given, from_file, clip)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    if "update_rule" in given and "update_rule_options" not in given:
        same = given["update_rule"] == from_file.get("update_rule")
        given["update_rule_options"] = from_file.get("update_rule_options", {}) if same else {}
    requested = {**from_file, **given}
    sources = {key: f"{config_file}: key {key!r}" for key in from_file}
    sources.update({key: where_option(key) for key in given})
    if tensorboard is not None:  # a shortcut: one more callback, after those of the file or --callback
        requested["callbacks"] = [*requested.get("callbacks", []), {"name": "tensorboard", "log_dir": tensorboard}]
        sources.setdefault("callbacks", "--tensorboard")
    run_dir = Path(out if ctx.get_parameter_source("out") in _EXPLICIT else requested.get("out", DEFAULT_OUT))
    quiet = quiet if ctx.get_parameter_source("quiet") in _EXPLICIT else bool(requested.get("quiet", False))
    requested, data_relative = absolute_data({k: v for k, v in requested.items() if k in KEYS})
    if not resume and restarted_by_launcher() and (run_dir / CHECKPOINT).is_file():
        if rank() == 0:
            note = f"note: torchrun restarted this job: the run in {run_dir} continues from its last checkpoint"
            click.echo(note, err=True)
        resume, force = True, False
    applied: dict[str, Any] = {}
    try:
        if resume:
            config, applied, data_relative = resumed_config(run_dir, requested, notes)
        else:
            config = resolve(requested, sources)
    except PluginError as e:
        raise click.ClickException(str(e)) from None
    except (MinifcError, ValueError) as e:
        raise click.UsageError(str(e)) from None
    if print_config:
        if notes and "epochs_before" in applied:  # no run: no learning rate to tell
            note = f"note: {applied['epochs_source']} changes from {applied['epochs_before']} to {config['epochs']}"
            click.echo(note, err=True)
        click.echo(to_json(config) if print_config == "json" else to_toml(config), nl=False)
        return
    if launching and nproc_per_node is not None:  # the checks that need no rank, before any starts
        try:
            check_global_batch(config["batch_size"], nproc_per_node)
        except ValueError as e:
            raise click.ClickException(f"--batch-size: {e}") from None
        check_folder(run_dir, resume=resume, force=force)
        ctx.exit(launch_local(nproc_per_node, sys.argv[1:]))

    change = (applied["epochs_before"], applied["epochs_source"]) if "epochs_before" in applied else None
    run(ctx, config, run_dir, resume=resume, force=force, quiet=quiet, new_lr=applied.get("lr"), epochs_change=change,
        data_relative=data_relative, timeout=timeout)  # fmt: skip

