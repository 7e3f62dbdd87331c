"""The protocol of a comparison, run through the sweep engine (:mod:`minifc.sweeps`): for each candidate that
passed its checks,

1. **tune**: a sweep of ``trials`` trials over the learning rate (log-uniform in ``lr_range``; with
   ``tune_options`` also the options its components declare, within their bounds), in
   ``COMPARE/candidates/SLUG/tune`` — the same TPE sampler seed, pruner and tuning-run seed for every candidate;
2. **seeds**: the best trial's setting re-run on the fresh seeds, a sweep whose trials are enqueued one per seed,
   in ``COMPARE/candidates/SLUG/seeds``.

Each phase is a sweep folder with its own journal storage, so workers, fault handling (a dead worker's trial
failed and retried) and ``--resume`` are the sweep's: a comparison killed midway continues where it stopped and
never repeats a finished trial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..sweeps.driver import run_sweep
from ..sweeps.optional import import_optuna
from ..sweeps.report import trial_rows
from ..sweeps.settings import SETTINGS as SWEEP_SETTINGS
from ..sweeps.settings import SweepSettings, read_settings
from ..sweeps.space import apply_params
from ..sweeps.storage import open_storage
from ..sweeps.study import has_work, open_study
from .candidates import Candidate, candidate_base, option_rules
from .settings import CompareSettings

__all__ = ["CANDIDATES", "Phase", "CandidateRun", "tune_settings", "seed_settings", "run_candidate", "phase_folder"]

CANDIDATES = "candidates"
TUNE_STUDY, SEEDS_STUDY = "compare-tune", "compare-seeds"

Echo = Callable[[str], None]


@dataclass
class Phase:
    """One phase's sweep: its folder, every trial's row (:func:`minifc.sweeps.report.trial_rows`), notes."""

    folder: Path
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False


@dataclass
class CandidateRun:
    """What one candidate's protocol left: its tuning and seed phases, the best tuning trial (None: none
    completed) and, when it could not finish, why."""

    candidate: Candidate
    tune: Phase | None = None
    seeds: Phase | None = None
    best: dict[str, Any] | None = None
    failure: str = ""
    search: dict[str, str] = field(default_factory=dict)


def phase_folder(folder: Path, candidate: Candidate, phase: str) -> Path:
    return folder / CANDIDATES / candidate.slug / phase


def tune_settings(settings: CompareSettings, candidate: Candidate) -> SweepSettings:
    """The tuning sweep of ``candidate``: lr (and, with ``tune_options``, its components' options)."""
    low, high = settings.lr_range
    search = {"lr": f"loguniform({float(low)!r}, {float(high)!r})"}
    if settings.tune_options:
        search.update(option_rules(candidate, settings.base))
    return SweepSettings(base=candidate_base(settings.base, candidate), search=search, trials=settings.trials,
                         pruner=settings.pruner, seed=settings.seed, study=TUNE_STUDY, max_retry=settings.max_retry)


def seed_settings(settings: CompareSettings, candidate: Candidate, best: dict[str, Any]) -> SweepSettings:
    """The seeds sweep: the best tuning trial's setting, one enqueued trial per fresh seed."""
    base = apply_params(candidate_base(settings.base, candidate), best["params"])
    seeds = settings.fresh_seeds()
    return SweepSettings(base=base, search={"seed": f"categorical({', '.join(map(str, seeds))})"},
                         trials=len(seeds), pruner="none", seed=settings.seed, study=SEEDS_STUDY,
                         max_retry=settings.max_retry)


def _done(folder: Path) -> list[dict[str, Any]] | None:
    """The rows of the finished sweep in ``folder`` (every trial ended, none waits), else None."""
    if not (folder / SWEEP_SETTINGS).is_file():
        return None
    optuna = import_optuna()
    saved = read_settings(folder)
    study = open_study(saved, open_storage(saved.storage, folder, saved.max_retry))
    trials = study.get_trials(deepcopy=False)
    if has_work(study, saved.trials) or any(not t.state.is_finished() for t in trials):
        return None
    if any(t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get("interrupted") for t in trials):
        return None
    return trial_rows(study)


def _run_phase(folder: Path, settings: SweepSettings, *, workers: int, threads: int | None, progress: bool,
               echo: Echo, enqueue: list[dict[str, Any]] | None = None) -> Phase:
    rows = _done(folder)
    if rows is not None:
        return Phase(folder, rows)
    resume = (folder / SWEEP_SETTINGS).is_file()
    if not resume and enqueue:
        folder.mkdir(parents=True, exist_ok=True)
        study = open_study(settings, open_storage(settings.storage, folder, settings.max_retry))
        if not study.get_trials(deepcopy=False):  # a phase killed after enqueuing keeps its queue
            for params in enqueue:
                study.enqueue_trial(params)
    result = run_sweep(folder, None if resume else settings, workers=workers, threads=threads, resume=resume,
                       progress=progress, echo=echo)
    return Phase(folder, result.rows, result.notes, result.interrupted)


def run_candidate(folder: Path, settings: CompareSettings, candidate: Candidate, *, workers: int = 1,
                  threads: int | None = None, progress: bool = True, echo: Echo = print) -> CandidateRun:
    """Tune ``candidate`` and re-run its best setting on the fresh seeds (each phase resumed when begun before).
    KeyboardInterrupt propagates once the phase that was running has recorded its interrupted trial."""
    run = CandidateRun(candidate)
    tune = tune_settings(settings, candidate)
    run.search = dict(tune.search)
    run.tune = _run_phase(phase_folder(folder, candidate, "tune"), tune, workers=workers, threads=threads,
                          progress=progress, echo=echo)
    if run.tune.interrupted:
        raise KeyboardInterrupt
    done = [r for r in run.tune.rows if r["state"] == "COMPLETE" and r["value"] is not None]
    if not done:
        reasons = [r.get("reason") for r in run.tune.rows if r.get("reason")]
        run.failure = f"no tuning trial completed ({reasons[-1] if reasons else 'all failed or were pruned'})"
        return run
    run.best = max(done, key=lambda r: r["value"])
    seeds = seed_settings(settings, candidate, run.best)
    run.seeds = _run_phase(phase_folder(folder, candidate, "seeds"), seeds, workers=workers, threads=threads,
                           progress=progress, echo=echo, enqueue=[{"seed": s} for s in settings.fresh_seeds()])
    if run.seeds.interrupted:
        raise KeyboardInterrupt
    return run
