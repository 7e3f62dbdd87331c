"""The objective Optuna calls for each trial: draw the parameters, train the trial in ``SWEEP/trials/N`` and
return its score (best validation or training accuracy, or training seconds to a target accuracy). A trial that cannot
train, diverges or raises is recorded as failed with its reason; a pruned one as pruned."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .optional import import_optuna
from .pruning import TrialRecorder
from .runners import TrialFailed, run_example_trial, run_train_trial
from .settings import SweepSettings
from .space import Space, apply_params, parse_space
from .storage import worker_tag
from .study import CONFIG_ATTR, INTERRUPTED_ATTR, REASON_ATTR, WORKER_ATTR

__all__ = ["TRIALS", "TRIAL_RESULT", "Objective", "trial_folder"]

TRIALS = "trials"
TRIAL_RESULT = "trial.json"  # in each trial's folder: number, params, state, value, reason
TAKEN_OVER = ("failed by another worker while this one ran it: its heartbeats stopped reaching the database; "
              "the result here is discarded, the trial's retry counts")


def trial_folder(sweep: Path, number: int) -> Path:
    return sweep / TRIALS / str(number)


class Objective:
    """``objective(trial) -> float`` for :meth:`optuna.Study.optimize`; ``before_trial`` is called first (the worker
    releases its ask lock there)."""

    def __init__(self, settings: SweepSettings, folder: Path, before_trial: Callable[[], None] | None = None) -> None:
        self.settings, self.folder, self.before_trial = settings, folder, before_trial
        table = settings.runner == "train"
        self.space: Space = parse_space(settings.search, "sweep", settings.base, table=True, check_keys=table)
        self.running: tuple[Any, int, int] | None = None  # (storage, trial id, number) of the trial last started

    def __call__(self, trial: Any) -> float:
        if self.before_trial is not None:
            self.before_trial()
        optuna = import_optuna()
        self.running = (trial.storage, trial._trial_id, trial.number)  # Trial has no public id
        trial.set_user_attr(WORKER_ATTR, worker_tag())
        for attr in (REASON_ATTR, INTERRUPTED_ATTR):  # a retry inherits the failed trial's attributes
            if attr in trial.user_attrs:
                trial.set_user_attr(attr, None)
        params = {key: dist.suggest(trial) for key, dist in self.space.items()}
        folder = trial_folder(self.folder, trial.number)
        started = time.time()
        record = {"number": trial.number, "params": params, "state": "RUNNING", "worker": worker_tag()}
        _write(folder, record)
        try:
            value, info = self._train(trial, params, folder)
        except TrialFailed as e:
            trial.set_user_attr(REASON_ATTR, str(e))
            _write(folder, {**record, "state": "FAIL", "reason": str(e), "seconds": time.time() - started})
            raise
        except Exception as e:  # noqa: BLE001 - any error fails this trial only, with its reason; the sweep goes on
            reason = f"{type(e).__name__}: {e}"
            trial.set_user_attr(REASON_ATTR, reason)
            _write(folder, {**record, "state": "FAIL", "reason": reason, "seconds": time.time() - started})
            raise
        except KeyboardInterrupt:
            trial.set_user_attr(INTERRUPTED_ATTR, True)
            trial.set_user_attr(REASON_ATTR, "interrupted (Ctrl-C)")
            _write(folder, {**record, "state": "FAIL", "reason": "interrupted"})
            raise
        if self.taken_over() is not None:  # the study ended it meanwhile: nothing of this run is recorded there
            return value
        for key, v in info.items():
            trial.set_user_attr(key, v)
        if info.get("pruned"):
            _write(folder, {**record, **info, "state": "PRUNED"})
            raise optuna.TrialPruned(f"pruned after epoch {info.get('epochs')}")
        _write(folder, {**record, **info, "state": "COMPLETE", "value": value})
        return value

    def taken_over(self) -> int | None:
        """The number of the trial last started when the study has ended it while this worker ran it (its
        heartbeats stopped reaching the database, e.g. a machine cut off: another worker failed the trial and
        retried it); its ``trial.json`` then says so. None otherwise."""
        if self.running is None:
            return None
        storage, trial_id, number = self.running
        try:
            state = storage.get_trial(trial_id).state
        except Exception:  # noqa: BLE001 - the database is out of reach: the trial is not known to be taken over
            return None
        if not state.is_finished():
            return None
        folder = trial_folder(self.folder, number)
        try:
            record = json.loads((folder / TRIAL_RESULT).read_text())
        except (OSError, ValueError):
            record = {"number": number}
        _write(folder, {**record, "state": state.name, "value": None, "reason": TAKEN_OVER})
        return number

    def _train(self, trial: Any, params: dict[str, Any], folder: Path) -> tuple[float, dict[str, Any]]:
        s = self.settings
        if s.runner == "example":
            row = run_example_trial(s.base, params, folder)
            try:
                acc = float(row.get(s.metric, float("nan")))
            except (TypeError, ValueError):
                acc = float("nan")
            if not math.isfinite(acc):
                raise TrialFailed(f"the example's summary has no finite {s.metric}")
            found: dict[str, Any] = {"best_val_acc": acc, "seconds": float(row.get("seconds", 0.0)),
                                     "epochs": row.get("epochs")}
            if s.metric != "best_val_acc":
                found["metric"] = s.metric
            if row.get("test_acc") is not None:
                found["test_acc"] = float(row["test_acc"])
            return acc, found
        recorder = TrialRecorder(trial, prune=s.pruner != "none", target=s.target if s.objective == "time_to_val_acc"
                                 else None, minimize=s.direction == "minimize",
                                 train_acc=s.objective == "best_train_acc")
        history = trial.storage.get_trial(trial._trial_id).system_attrs.get("retry_history")  # Trial has no getter
        retried = history[-1] if history else None  # the latest try holds the latest checkpoint
        resume_from = trial_folder(self.folder, int(retried)) if retried is not None else None
        config, resumed = run_train_trial(apply_params(s.base, params), folder, (recorder,), resume_from)
        trial.set_user_attr(CONFIG_ATTR, config)  # best.toml on any machine of the study, not only this one
        info: dict[str, Any] = {
            "best_val_acc": recorder.best_val_acc if math.isfinite(recorder.best_val_acc) else None,
            "best_train_acc": recorder.best_train_acc if math.isfinite(recorder.best_train_acc) else None,
            "epochs": recorder.epochs,
            "seconds": round(recorder.seconds, 3),
            "pruned": recorder.pruned,
            "curve": recorder.curve,
        }
        if retried is not None:
            info["retry_of"], info["resumed"] = int(retried), resumed
        if info["best_val_acc"] is None:
            raise TrialFailed("the run ended before its first evaluation")
        if s.objective == "time_to_val_acc":
            info["reached_s"] = recorder.reached_s
            return (recorder.reached_s if recorder.reached_s is not None else math.inf), info
        if s.objective == "best_train_acc":
            return float(recorder.best_train_acc), info
        return float(recorder.best_val_acc), info


def _write(folder: Path, record: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (TRIAL_RESULT + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    tmp.replace(folder / TRIAL_RESULT)
