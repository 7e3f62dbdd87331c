"""``minifc compare CANDIDATE...``: a fair comparison of update rules, regularizers or other components, tuned
alike and repeated over seeds; the logic is :mod:`minifc.compare`."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from ...compare.driver import run_compare
from ...compare.errors import CompareError
from ...compare.presets import preset_settings
from ...compare.quick_data import QUICK_DATA
from ...compare.settings import CompareSettings
from ...config.train_config import ConfigError, check_values
from ...errors import MinifcError
from ...io.run_folder import FolderLocked
from ...registry.specs import parse_value
from ...sweeps.config_file import read_sweep_config
from ...sweeps.optional import import_optuna
from ...sweeps.settings import PRUNERS
from .common import non_empty

DEFAULT_OUT = "runs/compare"


def _lr_range(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        low, high = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected LOW,HIGH, e.g. 1e-5,1") from None
    return low, high


@click.command()
@click.argument("candidates", nargs=-1)
@click.option("--preset", default=None,
              help="A registered ready-made comparison: update-rules, dropout, or a plugin's.")
@click.option("--quick", is_flag=True,
              help="The preset's quick mode: tiny synthetic data, seconds (tests, a first look).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML or JSON minifc train configuration every candidate starts from.")
@click.option("--set", "settings_", multiple=True, metavar="KEY=VALUE",
              help="A train key of the base configuration, repeatable: --set hidden=[100,100] --set epochs=5.")
@click.option("--trials", type=click.IntRange(min=1), default=None, help="Tuning trials per candidate [8].")
@click.option("--seeds", type=click.IntRange(min=2), default=None,
              help="Fresh seeds the best setting is re-run on [5].")
@click.option("--lr-range", default=None, callback=_lr_range, metavar="LOW,HIGH",
              help="The learning rates tried, log-uniform [1e-5,1].")
@click.option("--tune-options", is_flag=True, default=None,
              help="Also tune the options the candidates' components declare, within their bounds.")
@click.option("--pruner", type=click.Choice(PRUNERS), default=None, help="Pruner of the tuning trials [none].")
@click.option("--target", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Validation accuracy of 'time to target' [95% of the baseline's, the first candidate].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the TPE sampler, the same for every candidate.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine; they share its threads.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Torch threads per worker.")
@click.option("--max-retry", type=click.IntRange(min=0), default=2, show_default=True,
              help="Retries of a trial whose worker died.")
@click.option("--data", default=None, help="CIFAR-10 folder (overrides the configuration).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs of every run.")
@click.option("--num-train", type=click.IntRange(min=1), default=None, help="Training images of every run.")
@click.option("--device", default=None, help="Device of every run.")
@click.option("--out", type=click.Path(file_okay=False), default=DEFAULT_OUT, show_default=True, callback=non_empty,
              help="The compare folder: compare.md, summary.json, plots/, candidates/NAME/{tune,seeds}.")
@click.option("--resume", is_flag=True, help="Continue the comparison in --out; finished trials are not run again.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def compare(candidates: tuple[str, ...], preset: str | None, quick: bool, config_file: str | None,
            settings_: tuple[str, ...], trials: int | None, seeds: int | None, lr_range: tuple[float, float] | None,
            tune_options: bool | None, pruner: str | None, target: float | None, seed: int, workers: int,
            threads: int | None, max_retry: int, out: str, resume: bool, quiet: bool, **base_options: Any) -> None:
    """Compare CANDIDATEs (update rules like adam or sgd_momentum:momentum=0.95, regularizers, schedules, train
    settings like dropout=0.5; the first is the baseline): each is checked like `minifc check`, its learning rate
    tuned with the same budget, its best setting re-run on fresh seeds; the ranking says which are within noise."""
    try:
        import_optuna()
        settings = None
        if resume:
            if candidates or preset or config_file or settings_:
                raise CompareError("--resume continues the comparison saved in --out (its compare.json): give no "
                                   "CANDIDATE, --preset, --config or --set")
        else:
            settings = _settings(candidates, preset, quick, config_file, settings_, base_options,
                                 {"trials": trials, "seeds": seeds, "lr_range": lr_range, "tune_options": tune_options,
                                  "pruner": pruner, "target": target}, seed, max_retry)
        command = "minifc compare " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 1 else ""
        result = run_compare(Path(out), settings, resume=resume, workers=workers, threads=threads,
                             progress=not quiet, echo=lambda line: click.echo(line, err=True),
                             command=command or "minifc compare")
    except FolderLocked as e:
        raise click.ClickException(str(e)) from None
    except (CompareError, ConfigError, MinifcError) as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"{out}: {e.strerror or e}") from None
    if result.interrupted or result.summary is None:
        click.echo(f"interrupted: continue with `minifc compare --out {out} --resume`", err=True)
        sys.exit(130)
    target_info = result.summary["target"]
    if target_info["val_acc"] is not None:
        click.echo(f"target validation accuracy {target_info['val_acc']:g}: {target_info['source']}")
    click.echo(result.table if result.table.count("\n") > 1 else "no candidate completed its runs")
    for note in result.notes:
        click.echo(note, err=True)
    click.echo(f"comparison saved in {out} (compare.md, summary.json, base.toml, plots/)")


def _settings(candidates: tuple[str, ...], preset: str | None, quick: bool, config_file: str | None,
              sets: tuple[str, ...], base_options: dict[str, Any], chosen: dict[str, Any], seed: int,
              max_retry: int) -> CompareSettings:
    """The comparison's settings from a preset, a configuration file, --set and the options (in that order of
    precedence, the options last), checked."""
    fields: dict[str, Any] = {"candidates": [], "base": {}}
    if preset:
        fields.update(preset_settings(preset, quick))
    elif quick:
        raise CompareError("--quick is the quick mode of a --preset: give one")
    if candidates:
        fields["candidates"] = list(candidates)
    if config_file:
        values, search = read_sweep_config(config_file)
        if search:
            raise CompareError(f"{config_file}: a [search] table is for minifc sweep; compare tunes lr itself "
                               "(--lr-range, --tune-options)")
        fields["base"] = {**fields["base"], **values}
    given: dict[str, Any] = {}
    for item in sets:
        key, eq, text = item.partition("=")
        if not eq:
            raise CompareError(f"--set {item!r}: expected KEY=VALUE, e.g. --set hidden=[100,100]")
        given[key.strip()] = _value(text)
    given.update({k: v for k, v in base_options.items() if v is not None})
    if given:
        try:
            checked = check_values(given, "command line", file=False)
        except ConfigError as e:
            raise CompareError(str(e)) from None
        fields["base"] = {**fields["base"], **checked}
    if fields["base"].get("data") and fields["base"]["data"] != QUICK_DATA:
        fields["base"]["data"] = os.path.abspath(fields["base"]["data"])
    fields.update({k: v for k, v in chosen.items() if v is not None})
    settings = CompareSettings(**fields, seed=seed, max_retry=max_retry, preset=preset)
    settings.check()
    return settings


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return parse_value(text)
