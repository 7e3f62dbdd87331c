"""The Optuna study of a sweep: created or joined by name, its sampler and pruner, the global trial count,
and the retry of trials whose worker died."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from .optional import import_optuna
from .settings import SweepSettings

__all__ = [
    "WORKER_ATTR",
    "INTERRUPTED_ATTR",
    "REASON_ATTR",
    "CONFIG_ATTR",
    "open_study",
    "counted",
    "has_work",
    "retry_trials",
    "stale_running",
    "make_pruner",
    "retry_callback",
    "superseded",
]

WORKER_ATTR = "worker"  # user attribute: host:pid of the process that runs the trial
INTERRUPTED_ATTR = "interrupted"  # user attribute: the trial was stopped by Ctrl-C (retried by --resume)
REASON_ATTR = "fail_reason"  # user attribute: why a trial failed, one line
CONFIG_ATTR = "config"  # user attribute: the trial's resolved train configuration


def retry_callback(max_retry: int) -> Any:
    """Optuna's callback that enqueues a failed trial again (its params, ``failed_trial`` and ``retry_history``
    in its system attributes), at most ``max_retry`` times along a chain of retries."""
    optuna = import_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)


def make_pruner(name: str) -> Any:
    """The Optuna pruner named ``none``, ``median`` or ``hyperband``."""
    optuna = import_optuna()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


def open_study(settings: SweepSettings, storage: Any, worker: int = 0) -> Any:
    """Create the study named ``settings.study`` in ``storage``, or join it when it exists (another machine, a
    worker process, ``--resume``). The sampler is TPE seeded with ``settings.seed`` plus ``worker`` (each worker
    draws its own random trials: with one seed, parallel workers would draw the same ones)."""
    optuna = import_optuna()
    startup = min(10, max(2, settings.trials // 3))
    sampler = optuna.samplers.TPESampler(seed=settings.seed + worker, n_startup_trials=startup)
    return optuna.create_study(
        storage=storage,
        study_name=settings.study,
        direction=settings.direction,
        sampler=sampler,
        pruner=make_pruner(settings.pruner),
        load_if_exists=True,
    )


def _retry_of(trial: Any) -> int | None:
    value = trial.system_attrs.get("failed_trial")
    return int(value) if value is not None else None


def superseded(trials: Iterable[Any]) -> set[int]:
    """The numbers of the trials that were retried (a later trial took their place)."""
    out: set[int] = set()
    for t in trials:
        out.update(int(n) for n in t.system_attrs.get("retry_history", ()))
    return out


def counted(trials: Iterable[Any]) -> int:
    """How many of the study's trials count towards its total: every trial except the retries (a retry takes
    the place of the trial whose worker died)."""
    return sum(1 for t in trials if _retry_of(t) is None)


def has_work(study: Any, total: int) -> bool:
    """Whether a worker should ask for another trial: a retry waits, or fewer than ``total`` trials started."""
    optuna = import_optuna()
    trials = study.get_trials(deepcopy=False)
    waiting = any(t.state == optuna.trial.TrialState.WAITING for t in trials)
    return waiting or counted(trials) < total


def stale_running(study: Any, workers: Iterable[str] | None = None) -> list[Any]:
    """The RUNNING trials of the dead ``workers`` (``host:pid`` tags; None: every running trial)."""
    optuna = import_optuna()
    dead = set(workers) if workers is not None else None
    return [
        t for t in study.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.RUNNING and (dead is None or t.user_attrs.get("worker") in dead)
    ]


def retry_trials(study: Any, storage: Any, trials: Iterable[Any], max_retry: int, reason: str) -> list[int]:
    """Fail the RUNNING ``trials`` (their worker is gone; ``reason`` recorded) and enqueue each one again, at most
    ``max_retry`` times along a chain of retries, as Optuna's heartbeat does for a database storage. A FAIL trial
    (interrupted) is only enqueued. Returns the numbers of the trials retried."""
    optuna = import_optuna()
    retry = retry_callback(max_retry)
    already = superseded(study.get_trials(deepcopy=False))
    done = []
    for trial in trials:
        if trial.number in already:
            continue
        if trial.state == optuna.trial.TrialState.RUNNING:
            storage.set_trial_user_attr(trial._trial_id, REASON_ATTR, reason)
            storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        frozen = storage.get_trial(trial._trial_id)
        retry(study, frozen)
        done.append(trial.number)
    return done
