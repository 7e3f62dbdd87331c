"""The report of a comparison: the ranking table (stdout and ``compare.md``), ``summary.json``, and what is needed
to reproduce it, written beside them: ``base.toml`` (the shared configuration, resolved), and in
``summary.json`` the protocol (search spaces, seeds, sampler seed, pruner) and the versions of Python, torch,
Optuna, minifc and every plugin (:mod:`importlib.metadata`)."""

from __future__ import annotations

import importlib.metadata as md
import json
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..config.train_config import check_values, resolve, to_toml
from ..registry.core import default_registry
from .settings import CompareSettings

__all__ = ["SUMMARY", "REPORT", "BASE", "table_rows", "format_table", "versions", "write_report"]

SUMMARY, REPORT, BASE = "summary.json", "compare.md", "base.toml"
HEADERS = ("rank", "candidate", "best lr", "best val", "final val", "test (best ckpt)", "s to target",
           "steps to target", "tuning spread", "vs #1")


def _pm(measure: Mapping[str, Any] | None, digits: int = 4) -> str:
    if not measure:
        return "-"
    return f"{measure['mean']:.{digits}f} ± {measure['std']:.{digits}f}"


def _p(test: Mapping[str, Any] | None) -> str:
    if not test:
        return "-"
    word = "within noise" if test["within_noise"] else "different"
    return f"p={test['p']:.2g} ({word})"


def table_rows(summary: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row of :data:`HEADERS` per ranked candidate, best first."""
    rows: list[tuple[str, ...]] = []
    for e in sorted((e for e in summary["candidates"] if e["status"] == "ranked"), key=lambda e: e["rank"]):
        m = e["measures"]
        lr = e.get("best_setting", {}).get("params", {}).get("lr")
        reach = f"{m['reached']}/{m['seeds']}"
        secs = f"{_pm(m['seconds_to_target'], 2)} ({reach})" if m["seconds_to_target"] else f"never (0/{m['seeds']})"
        steps = f"{m['steps_to_target']['mean']:.0f}" if m["steps_to_target"] else "-"
        spread = (e.get("tuning") or {}).get("spread")
        tuning = f"{spread['std']:.3f} (range {spread['max'] - spread['min']:.3f})" if spread else "-"
        rows.append((str(e["rank"]), e["candidate"], f"{lr:.3g}" if isinstance(lr, float) else "-",
                     _pm(m["best_val_acc"]), _pm(m["final_val_acc"]), _pm(m["test_acc"]), secs, steps, tuning,
                     _p(e.get("vs_best")) if e["rank"] > 1 else "best"))
    return rows


def format_table(rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    """An aligned text table (or a Markdown one) of ``rows`` under :data:`HEADERS`."""
    if markdown:
        lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(HEADERS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def noise_lines(summary: Mapping[str, Any]) -> list[str]:
    """One sentence per pair of ranked candidates: within noise of each other or not, with Welch's p."""
    out = []
    for pair in summary["pairs"]:
        how = "within noise of" if pair["within_noise"] else "different from"
        out.append(f"{pair['a']} is {how} {pair['b']} (Welch t={pair['t']:.2f}, p={pair['p']:.3g})")
    return out


def versions() -> dict[str, Any]:
    """Python, torch, Optuna, minifc and every plugin with its distribution's version."""
    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    plugins = [{"name": p.name, "distribution": p.distribution, "version": p.version, "status": p.status}
               for p in default_registry().plugin_list()]
    return {"python": platform.python_version(), "torch": torch.__version__, "optuna": version("optuna"),
            "minifc": __version__, "plugins": plugins}


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_report(folder: Path, settings: CompareSettings, summary: dict[str, Any], plots: Sequence[Path],
                 command: str) -> list[Path]:
    """Write ``summary.json`` (with the protocol and versions added), ``compare.md`` and ``base.toml``."""
    summary["protocol"] = {**asdict(settings), "fresh_seeds": settings.fresh_seeds(), "sampler": "TPE",
                           "tuning_objective": "best_val_acc", "command": command}
    summary["versions"] = versions()
    summary["plots"] = [str(p.relative_to(folder)) for p in plots]
    _atomic(folder / SUMMARY, json.dumps(summary, indent=2, default=_plain) + "\n")
    base = resolve(check_values(settings.base, "the comparison's base configuration", file=True))
    _atomic(folder / BASE, f"# the configuration every candidate starts from\n# {command}\n" + to_toml(base))
    _atomic(folder / REPORT, _markdown(settings, summary, plots, folder, command))
    return [folder / SUMMARY, folder / REPORT, folder / BASE]


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else str(value)


def _markdown(settings: CompareSettings, summary: Mapping[str, Any], plots: Sequence[Path], folder: Path,
              command: str) -> str:
    target = summary["target"]
    lines = ["# Comparison", "", f"    {command}", "",
             f"Protocol: each candidate's learning rate tuned with {settings.trials} TPE trials (sampler seed "
             f"{settings.seed}, pruner {settings.pruner}, lr log-uniform in [{settings.lr_range[0]:g}, "
             f"{settings.lr_range[1]:g}]{', and its declared options' if settings.tune_options else ''}); the best "
             f"setting re-run on seeds {settings.fresh_seeds()}. Values are mean ± std over seeds.", ""]
    if target["val_acc"] is not None:
        lines += [f"Target validation accuracy: {target['val_acc']:g} ({target['source']}).", ""]
    lines += [format_table(table_rows(summary), markdown=True), "", f"Noise test: {summary['noise_test']}.", ""]
    lines += [f"- {line}" for line in noise_lines(summary)]
    left = [e for e in summary["candidates"] if e["status"] != "ranked"]
    if left:
        lines += ["", "## Left out", ""]
        lines += [f"- {e['candidate']} ({e['status']}): {e['reason']}" for e in left]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.relative_to(folder)})" for p in plots]
    versions = summary["versions"]
    plugins = ", ".join(f"{p['name']} {p['version'] or ''}".strip() for p in versions["plugins"]) or "none"
    lines += ["", "## Reproduce", "", f"Base configuration: {BASE}; protocol and every run: {SUMMARY}; "
              "each trial's run folder: candidates/NAME/{tune,seeds}/trials/N.",
              f"Versions: minifc {versions['minifc']}, torch {versions['torch']}, optuna {versions['optuna']}, "
              f"Python {versions['python']}; plugins: {plugins}."]
    return "\n".join(lines) + "\n"
