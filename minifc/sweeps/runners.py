"""How one trial trains: a ``minifc train`` run in its own folder (the same code as the command, so that
``minifc train --config TRIAL/config.json`` repeats it), or a ``minifc example`` process."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from ..cli.commands.train_run import run
from ..config.train_config import ConfigError, check_values, resolve
from ..errors import MinifcError
from ..io.run_folder import CHECKPOINT, CONFIG, HISTORY_JSON
from ..training.callbacks import Callback

__all__ = [
    "TrialFailed", "TRIAL_LOG", "trial_config", "run_train_trial", "run_example_trial", "example_command",
    "flat_settings",
]

TRIAL_LOG = "train.log"


class TrialFailed(MinifcError, RuntimeError):
    """A trial could not train or stopped with an error; the message is the reason, one line."""


def trial_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved ``train`` configuration of the unresolved keys ``values`` (a sweep's base with a trial's
    parameters applied); TrialFailed, naming the culprit, when it is refused."""
    try:
        return resolve(check_values(values, "trial", file=True))
    except (ConfigError, MinifcError, ValueError) as e:
        raise TrialFailed(f"configuration refused: {e}") from None


def run_train_trial(
    values: Mapping[str, Any], folder: Path, callbacks: tuple[Callback, ...], resume_from: Path | None = None
) -> tuple[dict[str, Any], bool]:
    """Train the configuration ``values`` (unresolved ``train`` keys) in ``folder`` with ``callbacks``; its output
    goes to ``folder/train.log``. ``resume_from``: the folder of the trial this one retries; its checkpoint is
    copied in and the run continues from it. Returns the resolved configuration and whether the run continued
    from that checkpoint.

    Raises:
        TrialFailed: the configuration is refused, or the run stopped with an error (divergence, a bad value).
        KeyboardInterrupt: Ctrl-C.
    """
    config = trial_config(values)
    folder.mkdir(parents=True, exist_ok=True)
    resume = False
    if resume_from is not None and (resume_from / CHECKPOINT).is_file() and not (folder / CHECKPOINT).exists():
        for name in (CHECKPOINT, CONFIG, HISTORY_JSON):
            if (resume_from / name).is_file():
                shutil.copy2(resume_from / name, folder / name)
        resume = True
    ctx = click.Context(click.Command("sweep-trial"))
    with open(folder / TRIAL_LOG, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            run(ctx, config, folder, resume=resume, force=False, quiet=True, callbacks=callbacks)
        except click.exceptions.Exit as e:
            if e.exit_code == 130:
                raise KeyboardInterrupt from None
            raise TrialFailed(f"the run exited with status {e.exit_code}") from None
        except click.ClickException as e:
            raise TrialFailed(e.format_message()) from None
    return config, resume


def example_command(name: str, folder: Path, base: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    """The ``minifc example`` command line of a trial: the example ``name`` with ``base``'s ``budget``, ``data``,
    ``epochs``, ``num_train``, ``device``, ``seed``, ``precision`` and ``set`` settings, then the trial's ``params``
    as ``--set KEY=VALUE``."""
    cmd = [sys.executable, "-m", "minifc", "example", name, "--out", str(folder), "--quiet", "--force"]
    for key in ("budget", "data", "epochs", "num_train", "device", "seed", "precision"):
        if base.get(key) is not None:
            cmd += [f"--{key.replace('_', '-')}", str(base[key])]
    settings = {**flat_settings(base.get("set") or {}), **params}
    for key, value in settings.items():
        cmd += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    return cmd


def flat_settings(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested ``--set`` settings as dotted keys: ``{"recipe": {"width": 512}}`` -> ``{"recipe.width": 512}``."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            out.update(flat_settings(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def run_example_trial(base: Mapping[str, Any], params: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """Run ``minifc example`` for one trial in a fresh process (a budget counts from the start of its process) and
    return the first row of its summary (``best_val_acc``, ``seconds``, ...); the command is saved in
    ``folder/command.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    cmd = example_command(str(base["example"]), folder, base, params)
    (folder / "command.json").write_text(json.dumps({"argv": ["minifc", *cmd[3:]]}, indent=2) + "\n")
    with open(folder / TRIAL_LOG, "ab") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    if code != 0:
        tail = (folder / TRIAL_LOG).read_text(errors="replace").strip().splitlines()[-1:] or [""]
        if code in (130, -2):
            raise KeyboardInterrupt
        raise TrialFailed(f"minifc example exited with status {code}: {tail[0]}")
    try:
        rows = json.loads((folder / "summary.json").read_text())["rows"]
        return dict(rows[0])
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise TrialFailed(f"the example wrote no readable summary.json: {e}") from None
