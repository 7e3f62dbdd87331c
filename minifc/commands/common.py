"""Options and helpers shared by the ``minifc`` subcommands."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import torch

from ..errors import MinifcError


def load_data(root: str | None, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """load_cifar10 with its errors turned into a one-paragraph click error; ``root`` is the ``--data`` option's
    value, and the messages call it that."""
    from ..data import DataError, load_cifar10

    try:
        return load_cifar10(root, dtype=dtype, device=device)
    except DataError as e:
        raise click.ClickException(e.message(option="--data")) from None
    except (MinifcError, ImportError) as e:
        raise click.ClickException(str(e)) from None


def parse_dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise click.BadParameter(
            f"{name!r} is not a floating-point torch dtype (try float32 or float64)", param_hint="--dtype"
        )
    return dtype


def parse_hidden(text: str) -> list[int]:
    try:
        dims = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected comma-separated widths like 512,512", param_hint="--hidden"
        ) from None
    if not dims or any(d <= 0 for d in dims):
        raise click.BadParameter(f"{text!r}: every width must be a positive integer", param_hint="--hidden")
    return dims


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """A plain aligned table on stdout."""
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    click.echo("  ".join("-" * w for w in widths))
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) <= 1 else f"{value:.1f}"
    return str(value)


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)
