"""The worker loop (ask the study for a trial, train it, tell the result, until the sweep's total is reached) and
the local worker processes of ``--workers N``, which divide this machine's threads between them.

A worker process is ``python -m minifc.sweeps.worker SWEEP --threads T``: it reads ``SWEEP/sweep.json`` and joins
the study. The process that started the workers watches them: when one dies (a kill, a crash), the trial it was
running is failed and enqueued again (:func:`minifc.sweeps.study.retry_trials`), and the others carry on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..data import keep_loaded
from .objective import Objective
from .optional import import_optuna
from .settings import SweepSettings
from .storage import ask_lock, open_storage
from .study import has_work, open_study, retry_trials, stale_running

__all__ = ["WORKER_LOGS", "work", "thread_share", "LocalWorkers"]

WORKER_LOGS = "workers"


def thread_share(workers: int, total: int | None = None) -> int:
    """Threads per worker: this process's torch threads (default: the CPU count) divided among ``workers``."""
    total = total or torch.get_num_threads()
    return max(1, total // max(1, workers))


def work(folder: Path, settings: SweepSettings, threads: int | None = None,
         on_trial_end: Callable[[Any, Any], None] | None = None, worker: int | None = None) -> int:
    """Run trials of the sweep in ``folder`` until the study holds ``settings.trials`` of them (all workers
    together) and none waits for a retry. ``worker``: this worker's index among the local ones (None: the only
    local one, which on a database storage may share the study with other machines). Returns how many trials
    this worker ran. KeyboardInterrupt propagates
    (the interrupted trial is recorded failed and interrupted; ``--resume`` retries it)."""
    optuna = import_optuna()
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with keep_loaded():  # the trials of one worker read the dataset once
            return _loop(folder, settings, on_trial_end, worker, optuna)
    finally:
        torch.set_num_threads(before)


def _loop(folder: Path, settings: SweepSettings, on_trial_end: Callable[[Any, Any], None] | None,
          worker: int | None, optuna: Any) -> int:
    storage = open_storage(settings.storage, folder, settings.max_retry, settings.heartbeat, settings.grace)
    if worker is None:  # alone here: its seed must still differ from the other machines'
        worker = 0 if settings.storage is None else os.getpid() % 1_000_003
    study = open_study(settings, storage, worker)
    ran = 0
    while True:
        held = _Held(ask_lock(storage, folder))
        try:
            if settings.storage is not None:  # a database: fail (and retry) the trials of silent workers
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)
            if not has_work(study, settings.trials):
                return ran
            objective = Objective(settings, folder, before_trial=held.release)
            callbacks = [on_trial_end] if on_trial_end is not None else []
            try:
                study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=callbacks, gc_after_trial=False)
            except ValueError:  # Optuna: "Cannot tell a FAIL trial": another worker failed it meanwhile
                lost = objective.taken_over()
                if lost is None:
                    raise
                print(f"note: trial {lost} was failed by another worker while this one ran it (this worker's "
                      "heartbeats stopped reaching the database); its retry counts, this result is discarded",
                      file=sys.stderr)
                continue
            ran += 1
        finally:
            held.release()


class _Held:
    """A context manager entered now and left on the first :meth:`release`: the ask lock, held while the worker
    counts the trials and Optuna asks for one, released as the trial starts to train."""

    def __init__(self, lock: contextlib.AbstractContextManager[None]) -> None:
        self.lock = lock
        lock.__enter__()
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.lock.__exit__(None, None, None)


class LocalWorkers:
    """``count`` worker processes on this machine, ``threads`` each, their output in ``SWEEP/workers/N.log``."""

    def __init__(self, folder: Path, count: int, threads: int) -> None:
        self.folder, self.count, self.threads = folder, count, threads
        self.procs: list[subprocess.Popen[bytes]] = []
        self.reported: set[int] = set()

    def start(self) -> None:
        logs = self.folder / WORKER_LOGS
        logs.mkdir(exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        for i in range(self.count):
            with open(logs / f"{i}.log", "ab") as log:
                cmd = [sys.executable, "-m", "minifc.sweeps.worker", str(self.folder), "--threads", str(self.threads),
                       "--index", str(i + 1)]
                self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env))

    def tags(self, proc: subprocess.Popen[bytes]) -> str:
        return f"{os.uname().nodename}:{proc.pid}"

    def check(self, study: Any, storage: Any, max_retry: int) -> list[str]:
        """Retry the running trials of the workers that died since the last check; lines to show."""
        notes = []
        for proc in self.procs:
            code = proc.poll()
            if code is None or code == 0 or proc.pid in self.reported:
                continue
            self.reported.add(proc.pid)
            how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            stale = stale_running(study, [self.tags(proc)])
            retried = retry_trials(study, storage, stale, max_retry, f"its worker (pid {proc.pid}) {how}")
            log = self.folder / WORKER_LOGS / f"{self.procs.index(proc)}.log"
            notes.append(f"worker pid {proc.pid} {how} (log: {log}); trial(s) {retried or 'none'} retried")
        return notes

    def running(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    def wait(self, timeout: float | None = None) -> None:
        end = None if timeout is None else time.monotonic() + timeout
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(None if end is None else max(0.0, end - time.monotonic()))

    def interrupt(self) -> None:
        """Ctrl-C to every worker still running (each records its trial as interrupted and stops)."""
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGINT)

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
