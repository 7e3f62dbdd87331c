"""Options and helpers shared by the ``minifc`` subcommands."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import torch

from ...data import DataError, load_cifar10
from ...errors import MinifcError
from ...io import safe_files


def load_data(root: str | None, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """load_cifar10 with its errors turned into a one-paragraph click error; ``root`` is the ``--data`` option's
    value, and the messages call it that."""
    try:
        return load_cifar10(root, dtype=dtype, device=device)
    except DataError as e:
        raise click.ClickException(e.message(option="--data")) from None
    except (MinifcError, ImportError) as e:
        raise click.ClickException(str(e)) from None


def non_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback refusing an empty value (``--out ''``, often an unset shell variable), which would
    otherwise mean the current folder."""
    if value is not None and not value.strip():
        raise click.BadParameter("is empty (an unset shell variable?): give a folder, e.g. runs/first", ctx, param)
    return value


def seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A click callback accepting a finite number of seconds > 0 (a timeout)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a finite number of seconds > 0, got {value:g}", ctx, param)
    return value


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], headers: Mapping[str, str] | None = None
) -> None:
    """A plain aligned table on stdout: accuracies with 4 decimals, times (columns named like
    ``seconds``) in seconds with 1 decimal (2 below one second). ``headers`` maps a column (a row key)
    to the text of its header (default: the key)."""
    titles = [(headers or {}).get(c, c) for c in columns]
    cells = [[_fmt(row.get(c, ""), c) for c in columns] for row in rows]
    widths = [max(len(t), *(len(r[i]) for r in cells)) for i, t in enumerate(titles)]
    click.echo("  ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)))
    click.echo("  ".join("-" * w for w in widths))
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def is_time_column(name: str) -> bool:
    """``seconds``, ``time``, ``elapsed``, ``train_seconds``, ``time_s``: columns that hold seconds."""
    return name in ("seconds", "time", "elapsed") or name.endswith(("_seconds", "_time", "_s"))


def _fmt(value: Any, column: str = "") -> str:
    if isinstance(value, float) and is_time_column(column):
        return f"{value:.2f}" if abs(value) < 1 else f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) <= 1 else f"{value:.1f}"
    return str(value)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path`` (never half a file,
    never through a link: see :mod:`minifc.io.safe_files`)."""
    safe_files.write_text(path, text, what="file")


def json_text(obj: Any, indent: int | None = 2) -> str:
    """``obj`` as strict JSON: a NaN or infinite float becomes ``null`` (Python's ``NaN``/``Infinity`` are not
    JSON), anything else not JSON its ``str``."""
    return json.dumps(_finite_or_null(obj), indent=indent, default=str, allow_nan=False)


def _finite_or_null(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented strict JSON (see :func:`json_text`), written atomically (see :func:`write_text`)."""
    write_text(path, json_text(obj) + "\n")


def os_error_message(e: OSError, doing: str = "") -> str:
    """One line for an OSError: ``<doing>: <file>: <reason> (errno N)``."""
    reason = e.strerror or str(e) or type(e).__name__
    where = f"{e.filename}: " if e.filename else ""
    code = f" (errno {e.errno})" if e.errno else ""
    return f"{doing}: {where}{reason}{code}" if doing else f"{where}{reason}{code}"
