"""One ``minifc sweep``: claim the sweep folder, create or join the study, run the workers (in this process, or
``--workers N`` processes), show a bar over the trials, and write the results.

The sweep folder is locked like a run folder (:func:`minifc.io.run_folder.claim`): two sweeps never write one
folder at once, and a lock left by a killed sweep is taken over by the next (``--resume``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..io.run_folder import claim, stale_lock_message
from .errors import SweepError
from .optional import import_optuna
from .report import format_table, trial_rows, write_best, write_plots, write_summary
from .settings import SETTINGS, SweepSettings, read_settings, write_settings
from .storage import check_storage, open_storage
from .study import CONFIG_ATTR, INTERRUPTED_ATTR, open_study, retry_trials, stale_running, superseded
from .workers import LocalWorkers, thread_share, work

__all__ = ["SweepResult", "run_sweep", "finished"]

Echo = Callable[[str], None]


@dataclass
class SweepResult:
    """What a sweep left: its rows (every trial), the best ones, the files written, and notes for stderr."""

    rows: list[dict[str, Any]]
    best: list[dict[str, Any]]
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False


def finished(study: Any) -> int:
    """How many trials towards the total have ended (a failed trial that was retried does not count: its retry will)."""
    trials = study.get_trials(deepcopy=False)
    retried = superseded(trials)
    return sum(1 for t in trials if t.state.is_finished() and t.number not in retried)


def run_sweep(folder: Path, settings: SweepSettings | None, *, workers: int = 1, threads: int | None = None,
              resume: bool = False, trials: int | None = None, progress: bool = True,
              echo: Echo = print) -> SweepResult:
    """Run the sweep ``settings`` in ``folder`` (``resume``: continue the one saved there, up to ``trials`` in all
    when given). Returns its results; raises SweepError before anything changes when it cannot start."""
    created = not folder.exists()
    lock = claim(folder, command="minifc sweep")
    with lock:
        try:
            note = stale_lock_message(lock)
            if note:
                echo(note)
            if resume:
                settings = read_settings(folder)
                if trials is not None:
                    settings.trials = trials
                    settings.check()
            else:
                assert settings is not None
                if (folder / SETTINGS).exists():
                    raise SweepError(f"{folder} already holds a sweep: continue it with --resume, or use another --out")
            check_storage(settings.storage, workers)
            storage = open_storage(settings.storage, folder, settings.max_retry, settings.heartbeat, settings.grace)
            study = open_study(settings, storage)
            write_settings(folder, settings)
        except BaseException:
            lock.release()
            if created:
                _remove_empty(folder)
            raise
        notes: list[str] = []
        if resume:
            notes += _retry_left_over(study, storage, settings)
        threads = threads or thread_share(workers)
        bar = tqdm(total=settings.trials, initial=min(finished(study), settings.trials), desc="trials", unit="trial",
                   disable=not progress, dynamic_ncols=True)
        interrupted = False
        try:
            if workers == 1:
                def tick(study: Any, trial: Any) -> None:
                    bar.update(min(finished(study), settings.trials) - bar.n)

                work(folder, settings, threads, on_trial_end=tick)
            else:
                notes += _run_local(folder, settings, workers, threads, study, storage, bar)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
        result = report(folder, settings, study)
        result.notes[:0] = notes
        result.interrupted = interrupted
        return result


def _run_local(folder: Path, settings: SweepSettings, workers: int, threads: int, study: Any, storage: Any,
               bar: Any) -> list[str]:
    pool = LocalWorkers(folder, workers, threads)
    notes: list[str] = []
    pool.start()
    try:
        while pool.running():
            time.sleep(0.3)
            notes += pool.check(study, storage, settings.max_retry)
            bar.update(min(finished(study), settings.trials) - bar.n)
        notes += pool.check(study, storage, settings.max_retry)
    except KeyboardInterrupt:
        pool.interrupt()
        pool.wait(timeout=30)
        pool.kill()
        raise
    return notes


def _retry_left_over(study: Any, storage: Any, settings: SweepSettings) -> list[str]:
    """On ``--resume`` of a journal sweep: the trials left RUNNING (the folder's lock says no worker of this sweep
    runs) are failed and retried; trials stopped by Ctrl-C are retried. A database study leaves running trials to
    the heartbeat: another machine may be running them."""
    optuna = import_optuna()
    notes = []
    if settings.storage is None:
        stale = stale_running(study)
        done = retry_trials(study, storage, stale, settings.max_retry, "its worker stopped without ending it")
        if done:
            notes.append(f"--resume: trial(s) {done} were left running by a stopped sweep: failed and retried")
    stopped = [t for t in study.get_trials(deepcopy=False)
               if t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get(INTERRUPTED_ATTR)]
    done = retry_trials(study, storage, stopped, settings.max_retry, "interrupted")
    if done:
        notes.append(f"--resume: interrupted trial(s) {done} retried")
    return notes


def report(folder: Path, settings: SweepSettings, study: Any) -> SweepResult:
    """Write summary.json, best.toml and the plots of the sweep in ``folder``."""
    rows = trial_rows(study, folder)
    summary = write_summary(folder, settings, rows)
    files = [folder / "summary.json"]
    best = summary["best"]
    config = None
    if best:
        config = next(t for t in study.get_trials(deepcopy=False) if t.number == best[0]["number"]).user_attrs.get(
            CONFIG_ATTR)
    path = write_best(folder, settings, best[0] if best else None, config)
    if path is not None:
        files.append(path)
    plots, notes = write_plots(folder, study)
    return SweepResult(rows, best, files + plots, notes)


def table(result: SweepResult) -> str:
    return format_table(result.best)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass

