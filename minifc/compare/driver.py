"""One ``minifc compare``: claim the compare folder, verify the candidates, run each one's protocol
(:mod:`minifc.compare.protocol`), then measure, rank and report.

The compare folder is locked like a run folder (:func:`minifc.io.run_folder.claim`); ``compare.json`` holds the
settings, ``screening.json`` the verdicts, ``candidates/SLUG/{tune,seeds}`` the sweeps. ``--resume`` reads the
settings back and continues: finished phases are read, not run again; a phase begun is resumed by the sweep.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.run_folder import claim, stale_lock_message
from .candidates import parse_candidates
from .errors import CompareError
from .plots import write_plots
from .protocol import CandidateRun, run_candidate
from .quick_data import QUICK_DATA, write_quick_data
from .ranking import summarize
from .report import format_table, noise_lines, table_rows, write_report
from .screening import Verdict, screen
from .settings import SETTINGS, CompareSettings, read_settings, write_settings

__all__ = ["SCREENING", "CompareResult", "run_compare"]

SCREENING = "screening.json"

Echo = Callable[[str], None]


@dataclass
class CompareResult:
    """What a comparison left: its summary (None when interrupted), the ranking table, the files written, notes."""

    summary: dict[str, Any] | None
    table: str = ""
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False


def run_compare(folder: Path, settings: CompareSettings | None, *, resume: bool = False, workers: int = 1,
                threads: int | None = None, progress: bool = True, echo: Echo = print,
                command: str = "minifc compare") -> CompareResult:
    """Run (``resume``: continue) the comparison ``settings`` in ``folder``. Raises CompareError before anything
    trains when it cannot start; a candidate that fails its checks is left out, not an error."""
    created = not folder.exists()
    lock = claim(folder, command="minifc compare")
    with lock:
        try:
            note = stale_lock_message(lock)
            if note:
                echo(note)
            if resume:
                settings = read_settings(folder)
            else:
                assert settings is not None
                if (folder / SETTINGS).exists():
                    raise CompareError(f"{folder} already holds a comparison: continue it with --resume, "
                                       "or use another --out")
                settings.check()
                if settings.base.get("data") == QUICK_DATA:
                    settings.base["data"] = str(write_quick_data(folder / "data").resolve())
            candidates = parse_candidates(settings.candidates, settings.base)
            verdicts = screen(candidates, settings.base)
            if not resume:
                write_settings(folder, settings)
        except BaseException:
            lock.release()
            if created:
                _remove_new(folder)
            raise
        _write_json(folder / SCREENING, [v.as_dict() for v in verdicts])
        notes = [f"left out {v.candidate.label!r}: {v.reason}" for v in verdicts if not v.ok]
        for line in notes:
            echo(line)
        runs, interrupted = _run_all(folder, settings, verdicts, workers, threads, progress, echo)
        if interrupted:
            return CompareResult(None, notes=notes, interrupted=True)
        summary = summarize(verdicts, runs, settings.target)
        plots, plot_notes = write_plots(folder, summary)
        files = write_report(folder, settings, summary, plots, command)
        table = format_table(table_rows(summary))
        return CompareResult(summary, table, files + plots, notes + plot_notes + noise_lines(summary))


def _run_all(folder: Path, settings: CompareSettings, verdicts: list[Verdict], workers: int, threads: int | None,
             progress: bool, echo: Echo) -> tuple[list[CandidateRun], bool]:
    kept = [v for v in verdicts if v.ok]
    runs: list[CandidateRun] = []
    for i, verdict in enumerate(kept):
        cand = verdict.candidate
        echo(f"[{i + 1}/{len(kept)}] {cand.label}: {settings.trials} tuning trial(s), then {settings.seeds} seed(s)")
        try:
            run = run_candidate(folder, settings, cand, workers=workers, threads=threads, progress=progress,
                                echo=echo)
        except KeyboardInterrupt:
            return runs, True
        for note in (run.tune.notes if run.tune else []) + (run.seeds.notes if run.seeds else []):
            if "not drawn" not in note:  # the sweep's own optuna plots; the comparison draws its own
                echo(note)
        if run.failure:
            echo(f"{cand.label}: {run.failure}")
        runs.append(run)
    return runs, False


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str) + "\n")
    tmp.replace(path)


def _remove_new(folder: Path) -> None:
    """Undo what a refused start created: the folder (with only its quick data in it)."""
    if folder.is_dir() and not (folder / SETTINGS).exists():
        shutil.rmtree(folder, ignore_errors=True)
