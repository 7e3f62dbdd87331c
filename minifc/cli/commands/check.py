"""``minifc check [NAME...]``: verify registered components against numeric gradients."""

from __future__ import annotations

import math
import sys

import click

from ...device import resolve_device
from ...errors import UnknownComponentError
from ...verify.checks import TOLERANCE, CheckResult, check_components
from .common import json_text


def _table(rows: list[CheckResult]) -> list[str]:
    head = ("component", "kind", "provider", "check", "error", "result")
    body = [
        (
            r.component,
            r.kind.replace("_", " "),
            r.provider,
            r.check,
            "-" if r.error is None else f"{r.error:.1e}",
            "pass" if r.passed else "FAIL",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in body]
    return lines


def _positive_tolerance(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise click.BadParameter(f"{value} is not a tolerance: give a finite number > 0 (e.g. {TOLERANCE:g})")
    return value


def _available_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return str(resolve_device(value))
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.command()
@click.argument("names", nargs=-1)
@click.option(
    "--tol",
    type=float,
    default=TOLERANCE,
    show_default=True,
    callback=_positive_tolerance,
    help="Largest relative error that passes (a number > 0).",
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    callback=_available_device,
    help="Device to run the checks on (cpu, cuda, cuda:N, mps or auto).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--failed-only", is_flag=True, help="Only print the checks that fail.")
def check(names: tuple[str, ...], tol: float, device: str, as_json: bool, failed_only: bool) -> None:
    """Verify components (all, or those named by component or plugin name) numerically, in float64.

    Layers: dx and every parameter gradient; losses: dscores; regularizers: dpenalty (or, for
    stage "update", shape/dtype/device); update rules: keep shape/dtype/device and decrease a convex
    objective; schedules: finite factors > 0 over a run; callbacks: hooks callable; gradient transforms: keep
    shape/dtype/device, finite (clip_norm: against torch's clip_grad_norm_). Examples are not run.
    Exits 1 when a check fails.
    """
    try:
        rows = check_components(names, tol=tol, device=device)
    except UnknownComponentError as e:
        raise click.UsageError(str(e)) from None
    failed = [r for r in rows if not r.passed]
    if as_json:
        click.echo(json_text([r.as_dict() for r in rows]))
    else:
        shown = failed if failed_only else rows
        for line in _table(shown) if shown else []:
            click.echo(line)
        for r in failed:
            if r.detail:
                click.echo(f"FAIL {r.component} [{r.provider}] {r.check}: {r.detail}", err=True)
        count = len({(r.kind, r.component) for r in rows})
        verdict = f"{len(failed)} of {len(rows)} checks failed" if failed else f"all {len(rows)} checks passed"
        click.echo(f"{verdict} ({count} components, tolerance {tol:g})")
    if failed:
        sys.exit(1)
