"""``minifc sweep``: a hyper-parameter search over ``minifc train`` configurations on Optuna (the optional extra
``minifc[sweep]``); the engine is :mod:`minifc.sweeps`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ...config.train_config import ConfigError, check_values, resolve
from ...errors import MinifcError
from ...io.run_folder import FolderLocked
from ...sweeps.config_file import read_sweep_config
from ...sweeps.driver import run_sweep, table
from ...sweeps.errors import SweepError
from ...sweeps.optional import import_optuna
from ...sweeps.presets import preset_settings
from ...sweeps.settings import OBJECTIVES, PRUNERS, SweepSettings
from ...sweeps.space import apply_params, parse_space
from ...sweeps.storage import JOURNAL, shown_url
from .common import non_empty

DEFAULT_OUT = "runs/sweep"
_BASE_OPTIONS = ("data", "epochs", "num_train", "device")


@click.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML file: minifc train keys (the trials' base) and a [search] table of KEY = \"DIST(ARGS)\".")
@click.option("--search", "rules", multiple=True, metavar="KEY=DIST(ARGS)",
              help="A search rule, repeatable: lr=loguniform(1e-4,1e-1), hidden=categorical(100,200), "
              "dropout=uniform(0,0.5), epochs=int(5,20), update_rule.beta1=uniform() (the rule's declared bounds).")
@click.option("--preset", default=None, help="A registered ready-made sweep: overfit, two-layer, or a plugin's.")
@click.option("--quick", is_flag=True, help="The preset's quick mode: a few tiny trials (tests, a first look).")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Total trials of the study, all workers and machines together [20, or the preset's].")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine; they share its threads.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch threads per worker [this machine's threads divided by --workers].")
@click.option("--objective", type=click.Choice(OBJECTIVES), default=None,
              help="best_val_acc (default), best_train_acc, or time_to_val_acc (needs --target).")
@click.option("--target", type=float, default=None, help="The validation accuracy of --objective time_to_val_acc.")
@click.option("--pruner", type=click.Choice(PRUNERS), default=None,
              help="Stop hopeless trials at an evaluation: none (default), median or hyperband.")
@click.option("--storage", default=None, metavar="URL",
              help="postgresql://... or mysql://... to share the study across machines (with --study); "
              "sqlite:///FILE for one worker. Default: a journal file in --out.")
@click.option("--study", "study_name", default=None, help="The study's name in --storage [minifc-sweep].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the TPE sampler.")
@click.option("--max-retry", type=click.IntRange(min=0), default=2, show_default=True,
              help="Retries of a trial whose worker died.")
@click.option("--heartbeat", type=click.IntRange(min=1), default=10, show_default=True,
              help="Database storage: seconds between a worker's heartbeats.")
@click.option("--grace-period", type=click.IntRange(min=2), default=30, show_default=True,
              help="Database storage: seconds without a heartbeat after which a trial is failed and retried.")
@click.option("--data", default=None, help="CIFAR-10 folder for every trial (overrides the configuration).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs of every trial.")
@click.option("--num-train", type=click.IntRange(min=1), default=None, help="Training images of every trial.")
@click.option("--device", default=None, help="Device of every trial.")
@click.option("--out", type=click.Path(file_okay=False), default=DEFAULT_OUT, show_default=True, callback=non_empty,
              help="The sweep folder: trials/N (one run folder per trial), summary.json, best.toml, plots/.")
@click.option("--resume", is_flag=True, help="Continue the sweep in --out up to its total (or --trials).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(config_file: str | None, rules: tuple[str, ...], preset: str | None, quick: bool, trials: int | None,
          workers: int, threads: int | None, objective: str | None, target: float | None, pruner: str | None,
          storage: str | None, study_name: str | None, seed: int, max_retry: int, heartbeat: int, grace_period: int,
          out: str, resume: bool, quiet: bool, **base_options: Any) -> None:
    """Search hyper-parameters: every trial is a minifc train run in OUT/trials/N; the best trials are printed and
    saved in OUT/summary.json, the winning configuration in OUT/best.toml."""
    try:
        import_optuna()
        settings = None
        if resume:
            if config_file or rules or preset:
                raise SweepError("--resume continues the sweep saved in --out (its sweep.json): give no --config, "
                                 "--search or --preset")
        else:
            settings = _settings(config_file, rules, preset, quick, trials, objective, target, pruner, storage,
                                 study_name, seed, max_retry, base_options)
            settings.heartbeat, settings.grace = heartbeat, grace_period
            settings.check()
        result = run_sweep(Path(out), settings, workers=workers, threads=threads, resume=resume,
                           trials=trials if resume else None, progress=not quiet,
                           echo=lambda line: click.echo(line, err=True))
    except FolderLocked as e:
        raise click.ClickException(str(e)) from None
    except (SweepError, ConfigError) as e:
        raise click.ClickException(str(e)) from None
    except MinifcError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"{out}: {e.strerror or e}") from None
    for note in result.notes:
        click.echo(note, err=True)
    click.echo(table(result) if result.best else "no trial completed")
    failed = [r for r in result.rows if r["state"] == "FAIL"]
    if failed:
        click.echo(f"{len(failed)} trial(s) failed (reasons in summary.json); trial {failed[-1]['number']}: "
                   f"{failed[-1].get('reason', '?')}", err=True)
    dashboard = shown_url(storage) if storage else str(Path(out) / JOURNAL)
    click.echo(f"sweep saved in {out} (summary.json{', best.toml' if result.best else ''}, plots/); "
               f"browse the study: optuna-dashboard {dashboard}")
    if result.interrupted:
        click.echo(f"interrupted: continue with `minifc sweep --out {out} --resume`", err=True)
        sys.exit(130)


def _settings(config_file: str | None, rules: tuple[str, ...], preset: str | None, quick: bool, trials: int | None,
              objective: str | None, target: float | None, pruner: str | None, storage: str | None,
              study_name: str | None, seed: int, max_retry: int, base_options: dict[str, Any]) -> SweepSettings:
    """The sweep's settings from a preset, a configuration file and the options (in that order of precedence,
    the options last), checked: the base configuration resolves and every rule parses."""
    fields: dict[str, Any] = {"base": {}, "search": {}, "trials": 20}
    if preset:
        fields.update(preset_settings(preset, quick))
    elif quick:
        raise SweepError("--quick is the quick mode of a --preset: give one")
    if config_file:
        values, search = read_sweep_config(config_file)
        fields["base"] = {**fields["base"], **values}
        fields["search"] = {**fields["search"], **search}
    given = {k: v for k, v in base_options.items() if v is not None}
    if given:
        try:
            checked = given if fields.get("runner") == "example" else check_values(given, "command line", file=False)
        except ConfigError as e:
            raise SweepError(str(e)) from None
        if "data" in checked:
            checked["data"] = os.path.abspath(checked["data"])
        fields["base"] = {**fields["base"], **checked}
    for rule in rules:
        key, sep, text = rule.partition("=")
        if not sep or not key.strip():
            raise SweepError(f"--search {rule!r}: expected KEY=DIST(ARGS), e.g. lr=loguniform(1e-4,1e-1)")
        fields["search"][key.strip()] = text.strip()
    chosen = {"trials": trials, "objective": objective, "target": target, "pruner": pruner, "storage": storage,
              "study": study_name}
    fields.update({k: v for k, v in chosen.items() if v is not None})
    if storage and not study_name:
        raise SweepError("--storage needs --study NAME: the name under which every machine joins the study")
    settings = SweepSettings(**fields, seed=seed, max_retry=max_retry, preset=preset)
    settings.check()
    train = settings.runner == "train"
    parse_space(settings.search, config_file or "--search", settings.base, check_keys=train)
    if train:
        base = settings.base
        if base.get("data") and not os.path.isabs(base["data"]):
            base["data"] = os.path.abspath(base["data"])
        try:
            resolve(check_values(apply_params(base, {}), "the trials' base configuration", file=True))
        except (ConfigError, MinifcError, ValueError) as e:
            raise SweepError(f"the trials' base configuration: {e}") from None
    return settings
