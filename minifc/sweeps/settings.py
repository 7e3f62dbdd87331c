"""What a sweep is: the settings every worker reads from ``SWEEP/sweep.json``, written once when the sweep
starts, read again by ``--resume`` and by the worker processes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..io.safe_files import check_regular
from .errors import SweepError

__all__ = ["SETTINGS", "OBJECTIVES", "PRUNERS", "SweepSettings", "read_settings", "write_settings"]

SETTINGS = "sweep.json"
OBJECTIVES = ("best_val_acc", "best_train_acc", "time_to_val_acc")
PRUNERS = ("none", "median", "hyperband")


@dataclass
class SweepSettings:
    """One sweep.

    - ``base``: the train configuration the trials start from (unresolved keys, as a ``--config`` file holds
      them; for an ``example`` runner: ``{"example": NAME, "budget": SECONDS, "set": {...}}``);
    - ``search``: ``{key: "DIST(ARGS)"}`` (:mod:`minifc.sweeps.space`);
    - ``trials``: the study's total number of trials (all workers together);
    - ``objective``: ``best_val_acc`` (maximized), ``best_train_acc`` (maximized: overfitting) or
      ``time_to_val_acc`` (training seconds until the validation
      accuracy reaches ``target``, minimized; a trial that never reaches it scores infinity);
    - ``pruner``: none, median or hyperband; ``seed``: the sampler's seed;
    - ``storage``: a database URL (None: the journal file in the sweep folder), ``study``: the study's name;
    - ``max_retry``: how many times a trial whose worker died is retried; ``heartbeat``, ``grace``: a database
      storage's heartbeat interval and the silence after which a trial's worker counts as dead (seconds);
    - ``runner``: ``train`` (each trial a ``minifc train`` run) or ``example`` (a ``minifc example`` process);
    - ``metric``: for an ``example`` runner, the key of the example's summary row that scores a trial under the
      ``best_val_acc`` objective (default ``best_val_acc``; the example ``best`` also reports ``val_acc_tta``,
      all 10,000 validation images with the test-time views chosen on them);
    - ``preset``: the preset it came from, if any.
    """

    base: dict[str, Any]
    search: dict[str, str]
    trials: int
    objective: str = "best_val_acc"
    target: float | None = None
    pruner: str = "none"
    seed: int = 0
    storage: str | None = None
    study: str = "minifc-sweep"
    max_retry: int = 2
    heartbeat: int = 10
    grace: int = 30
    runner: str = "train"
    metric: str = "best_val_acc"
    preset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        return "minimize" if self.objective == "time_to_val_acc" else "maximize"

    def check(self) -> None:
        """Refuse settings that cannot run, naming the option."""
        if self.objective not in OBJECTIVES:
            raise SweepError(f"--objective {self.objective!r}: expected one of {', '.join(OBJECTIVES)}")
        if self.objective == "time_to_val_acc" and not (self.target is not None and 0 < self.target <= 1):
            raise SweepError("--objective time_to_val_acc needs --target ACC, a validation accuracy in (0, 1]")
        if self.pruner not in PRUNERS:
            raise SweepError(f"--pruner {self.pruner!r}: expected one of {', '.join(PRUNERS)}")
        if self.trials < 1:
            raise SweepError(f"--trials must be at least 1, got {self.trials}")
        if not self.search:
            raise SweepError("nothing to search: give a [search] table in --config, --search KEY=DIST(...) or --preset")
        if not 1 <= self.heartbeat < self.grace:
            raise SweepError(f"--grace-period ({self.grace} s) must exceed --heartbeat ({self.heartbeat} s), both >= 1")
        if self.runner not in ("train", "example"):
            raise SweepError(f"unknown runner {self.runner!r}: expected train or example")
        if self.metric != "best_val_acc" and (self.runner != "example" or self.objective != "best_val_acc"):
            raise SweepError(f"metric {self.metric!r} scores an example runner under the best_val_acc objective only")


def write_settings(folder: Path, settings: SweepSettings) -> None:
    path = folder / SETTINGS
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2) + "\n")
    tmp.replace(path)


def read_settings(folder: Path) -> SweepSettings:
    """The settings of the sweep in ``folder``; SweepError when it holds none or they cannot be read."""
    path = folder / SETTINGS
    if not path.is_file():
        raise SweepError(f"{folder} holds no sweep ({SETTINGS} is missing): start one without --resume")
    try:
        check_regular(path)
        raw = json.loads(path.read_text())
        settings = SweepSettings(**raw)
    except (OSError, ValueError, TypeError) as e:
        raise SweepError(f"{path} cannot be read as a sweep's settings: {e}") from None
    settings.check()
    return settings
