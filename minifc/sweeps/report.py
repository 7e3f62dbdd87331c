"""The results of a sweep: a table of the best trials (stdout and ``summary.json``), ``best.toml`` (the
winning trial's full configuration, for ``minifc train --config``) and Optuna's plots as PNG files."""

from __future__ import annotations

import json
import math
import shlex
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config.toml_writer import toml_value
from ..config.train_config import to_toml
from ..io.run_folder import CONFIG
from .errors import SweepError
from .objective import TRIAL_RESULT, trial_folder
from .optional import import_optuna
from .runners import TrialFailed, example_command, flat_settings, trial_config
from .settings import SweepSettings
from .space import apply_params
from .study import WORKER_ATTR

__all__ = ["SUMMARY", "BEST", "PLOTS", "trial_rows", "best_rows", "write_summary", "write_best", "write_plots"]

SUMMARY = "summary.json"
BEST = "best.toml"
PLOTS = {
    "optimization_history.png": "plot_optimization_history",
    "parallel_coordinate.png": "plot_parallel_coordinate",
    "param_importances.png": "plot_param_importances",
    "intermediate_values.png": "plot_intermediate_values",
}
#: the table's columns and their headers
COLUMNS = {"number": "trial", "state": "state", "value": "value", "best_val_acc": "best val", "epochs": "epochs",
           "seconds": "seconds", "params": "params"}


def trial_rows(study: Any, folder: Path | None = None) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, best_val_acc, epochs, seconds, params, the worker (``host:pid``)
    that ran it (and the reason of a failure). With the sweep ``folder``: ``elsewhere`` true for a trial that
    started but has no folder there (another machine or sweep folder of the study ran it)."""
    rows = []
    trials = study.get_trials(deepcopy=False)
    retried_by = {int(n): t.number for t in trials for n in t.system_attrs.get("retry_history", ())}
    for t in trials:
        attrs = t.user_attrs
        row = {
            "number": t.number,
            "state": t.state.name,
            "value": t.value if t.value is not None and math.isfinite(t.value) else None,
            "best_val_acc": attrs.get("best_val_acc"),
            "epochs": attrs.get("epochs"),
            "seconds": attrs.get("seconds"),
            "params": dict(t.params),
            "worker": attrs.get(WORKER_ATTR),
        }
        if folder is not None and t.state.name != "WAITING":
            row["elsewhere"] = not (trial_folder(folder, t.number) / TRIAL_RESULT).is_file()
        if attrs.get("fail_reason") and t.state.name == "FAIL":
            row["reason"] = attrs["fail_reason"]
        elif t.state.name == "FAIL" and t.number in retried_by:  # failed by a database's heartbeat check
            row["reason"] = "its worker stopped sending heartbeats"
        if t.number in retried_by:
            row["retried_as"] = retried_by[t.number]
        if t.system_attrs.get("failed_trial") is not None:
            row["retry_of"] = t.system_attrs["failed_trial"]
        rows.append(row)
    return rows


def best_rows(rows: Sequence[dict[str, Any]], direction: str, top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` complete trials, best first."""
    done = [r for r in rows if r["state"] == "COMPLETE" and r["value"] is not None]
    return sorted(done, key=lambda r: r["value"], reverse=direction == "maximize")[:top]


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """An aligned text table of ``rows`` (:data:`COLUMNS`)."""
    def cell(row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        if value is None:
            return "-"
        if key == "params":
            return " ".join(f"{k}={_short(v)}" for k, v in value.items())
        if isinstance(value, float):
            return f"{value:.1f}" if key == "seconds" else f"{value:.4f}"
        return str(value)

    cells = [[cell(r, k) for k in COLUMNS] for r in rows]
    titles = list(COLUMNS.values())
    widths = [max(len(t), *(len(c[i]) for c in cells)) if cells else len(t) for i, t in enumerate(titles)]
    lines = ["  ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else json.dumps(value) if not isinstance(value, str) else value


def write_summary(folder: Path, settings: SweepSettings, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``folder/summary.json``: the settings' objective, the counts by state, the trials that ran elsewhere (no
    folder in this sweep folder: another machine of the study ran them), the best trials and every trial."""
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    best = best_rows(rows, settings.direction)
    summary = {
        "study": settings.study,
        "objective": settings.objective,
        "direction": settings.direction,
        "trials": settings.trials,
        "states": states,
        "elsewhere": [r["number"] for r in rows if r.get("elsewhere")],
        "best": best,
        "all": list(rows),
    }
    tmp = folder / (SUMMARY + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    tmp.replace(folder / SUMMARY)
    return summary


def write_best(folder: Path, settings: SweepSettings, best: dict[str, Any] | None,
               config: dict[str, Any] | None = None) -> Path | None:
    """``folder/best.toml``: the winning trial's resolved configuration for a train sweep (``config``, which the
    study records; else :func:`best_config`), or its example command's settings as a ``[set]`` table (an example
    sweep); None without a complete trial. Never reads another machine's folder: the best trial may have run there."""
    if best is None:
        return None
    header = f"# best trial {best['number']} of sweep {settings.study}: value {best['value']}\n"
    if settings.runner == "train":
        config = config if config is not None else best_config(folder, settings, best)
        text = header + "# repeat it: minifc train --config best.toml --out runs/best\n" + to_toml(config)
    else:
        argv = example_command(str(settings.base["example"]), Path("runs/best"), settings.base, best["params"])
        shown = " ".join(shlex.quote(a) for a in ["minifc", *argv[3:]] if a != "--quiet")
        lines = [header.rstrip(), f"# repeat it: {shown}", f"example = {toml_value(settings.base['example'])}", "",
                 "[set]"]
        settings_set = {**flat_settings(settings.base.get("set") or {}), **best["params"]}
        lines += [f'"{k}" = {toml_value(v)}' for k, v in settings_set.items()]
        text = "\n".join(lines) + "\n"
    path = folder / BEST
    tmp = path.with_name(BEST + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def best_config(folder: Path, settings: SweepSettings, best: dict[str, Any]) -> dict[str, Any]:
    """The resolved configuration of the trial ``best`` (a row) when the study holds none (its ``config`` user
    attribute): its folder's config.json when it ran in this sweep ``folder``, else this sweep's base with its
    parameters."""
    local = trial_folder(folder, int(best["number"])) / CONFIG
    if local.is_file():
        try:
            got = json.loads(local.read_text())
            if isinstance(got, dict):
                return got
        except (OSError, ValueError):
            pass  # rebuilt from the parameters below
    try:
        return trial_config(apply_params(settings.base, best["params"]))
    except TrialFailed as e:
        raise SweepError(f"best.toml: trial {best['number']}'s configuration cannot be rebuilt: {e}") from None


def write_plots(folder: Path, study: Any) -> tuple[list[Path], list[str]]:
    """Optuna's matplotlib plots of the study as PNG files in ``folder/plots``; returns the files written and
    why the others were not (matplotlib missing, too few trials)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], ["plots need matplotlib: pip install 'minifc[plots]'"]
    optuna = import_optuna()
    out, notes = [], []
    (folder / "plots").mkdir(exist_ok=True)
    for name, fn in PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = getattr(optuna.visualization.matplotlib, fn)(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.savefig(folder / "plots" / name, dpi=100, bbox_inches="tight")
            plt.close(fig)
            out.append(folder / "plots" / name)
        except Exception as e:  # noqa: BLE001 - a plot Optuna cannot draw (too few trials) is skipped, named
            notes.append(f"{name} not drawn: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
            plt.close("all")
    return out, notes
