"""The configuration ``minifc train --resume`` continues with: the run's ``config.json``, held against the
configuration its checkpoint keeps, with the changes a resume allows (``--epochs``, ``--lr``, ``--device``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ...config.train_config import KEYS, absolute_data, read_saved_config, resolve, resume_changes, where_option
from ...errors import MinifcError, UnsafePathError
from ...io.run_folder import CHECKPOINT, CONFIG, RUN_FILES, check_run_files
from ...io.set_aside import interrupted_message
from ...training.state import stored_run_config

__all__ = ["CONFIG", "CHECKPOINT", "resumed_config"]



def resumed_config(
    out: Path, requested: dict[str, Any], notes: bool = True
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """The saved configuration of the run in ``out`` with the changes ``--resume`` allows, those changes
    (printed as notes when ``notes``; ``epochs_before`` and ``epochs_source`` added when ``epochs``
    changes), and whether it
    gives its data folder relative to ``out``. Refuses (UsageError, naming every difference) options
    that cannot change in a run that continues, and a ``config.json`` edited away from the
    configuration the checkpoint keeps."""
    path = out / CONFIG
    try:
        check_run_files(out)
    except UnsafePathError as e:
        raise click.ClickException(str(e)) from None
    interrupted = interrupted_message(out, RUN_FILES)
    if interrupted:
        raise click.ClickException(f"--resume: {interrupted}")
    if not path.is_file():
        raise click.UsageError(f"--resume: {out} holds no run to resume (it has no {CONFIG})")
    try:
        saved, relative = absolute_data(read_saved_config(path))
        saved = resolve(saved, {key: f"{path}: key {key!r}" for key in KEYS})
    except (MinifcError, ValueError) as e:
        raise click.ClickException(f"--resume: the saved configuration cannot be used: {e}") from None
    saved, edited = _checked_against_checkpoint(saved, path, out / CHECKPOINT)
    refused, applied = resume_changes(saved, {**edited, **requested})
    if refused:
        lines = "\n".join(f"  {line}" for line in refused)
        raise click.UsageError(
            f"--resume: these options differ from the run saved in {path}:\n{lines}\n"
            f"A run that continues keeps its model, data and training options; only --epochs, --lr, --device and "
            f"--precision may change. Start a new run instead (another --out, or --force to replace this one)."
        )
    for key, new in applied.items():
        if notes and key != "epochs":  # the run prints that one once the checkpoint is loaded, with the lr
            source = where_option(key) if key in requested else f"{key} in {path}"
            click.echo(f"note: {source} changes from {saved[key]} to {new} for the rest of this run", err=True)
    before = {}
    if "epochs" in applied:  # the run notes this change itself, with the learning rate, once it has loaded
        source = where_option("epochs") if "epochs" in requested else f"epochs in {path}"
        before = {"epochs_before": saved["epochs"], "epochs_source": source}
    return {**saved, **applied}, {**applied, **before}, relative


def _checked_against_checkpoint(
    saved: dict[str, Any], path: Path, checkpoint: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The configuration the run was trained with (stored in its checkpoint), and the values of ``path``
    (config.json, which anyone can edit) that differ from it in keys a resume may change (epochs, lr,
    device: applied like the options, with a note). Any other difference refuses the resume, naming the
    keys. A checkpoint without a stored configuration (an older minifc) leaves ``saved`` as it is."""
    stored = stored_run_config(checkpoint)
    if stored is None:
        return saved, {}
    try:
        trained = resolve({k: v for k, v in stored.items() if k in KEYS}, {k: f"{checkpoint}: key {k!r}" for k in KEYS})
    except (MinifcError, ValueError) as e:
        raise click.ClickException(f"--resume: the configuration stored in {checkpoint} cannot be used: {e}") from None
    differ = [key for key in KEYS if saved.get(key) != trained.get(key)]
    refused = [key for key in differ if KEYS[key].on_resume != "apply"]
    if refused:
        lines = "\n".join(f"  {key}: {_shown(trained.get(key))} in the checkpoint, {_shown(saved.get(key))} in {CONFIG}"
                          for key in refused)
        raise click.UsageError(
            f"--resume: {path} differs from the configuration the run was trained with (kept in {checkpoint}):\n"
            f"{lines}\n{CONFIG} is a copy of the run's options: restore it to resume, or start a new run with "
            f"these options (another --out, or --force to replace this one)."
        )
    return trained, {key: saved[key] for key in differ}


def _shown(value: Any) -> str:
    return "(not set)" if value is None else json.dumps(value)
