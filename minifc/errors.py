"""Errors minifc raises, and the cheap input checks that raise them with a clear message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

import torch


class MinifcError(Exception):
    """Base class of minifc's own errors."""


class ShapeError(MinifcError, ValueError):
    """A tensor has the wrong shape for the layer or loss it was given to."""


class LabelError(MinifcError, ValueError):
    """Labels are not integers in [0, num_classes) or do not match the scores."""


class UnknownComponentError(MinifcError, KeyError):
    """A name that no registered component has."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class PrecisionError(MinifcError, ValueError):
    """An unknown precision, or one the model cannot be trained in."""


class DivergenceError(MinifcError, FloatingPointError):
    """Training produced a non-finite loss."""


class CheckpointError(MinifcError, RuntimeError):
    """A checkpoint is missing, corrupt, truncated or unsafe.

    ``reason``: what is wrong (naming the file); ``path``: the checkpoint file, when one is concerned;
    ``previous``: the older checkpoint kept beside it (``<name>.prev<suffix>``) that a run can resume from
    instead, when there is one. The message is ``reason`` followed by how to resume from ``previous`` in
    Python; the command line words that advice its own way from the fields.
    """

    def __init__(self, reason: str, path: Path | None = None, previous: Path | None = None) -> None:
        self.reason, self.path, self.previous = reason, path, previous
        advice = ""
        if previous is not None and path is not None:
            advice = (
                f"; the older checkpoint {previous} is kept: resume from it (resume='{previous}', or rename it "
                f"to {path.name})"
            )
        super().__init__(f"{reason}{advice}")


class MissingExtraError(MinifcError, ImportError):
    """An optional dependency is not installed; the message says which ``pip install 'minifc[extra]'``."""


class ExportError(MinifcError, ValueError):
    """A model, layer or torch module that cannot be converted or exported (no torch equivalent, no
    minifc layer for a torch module, a missing optional package); the message names the culprit."""


class UnsafePathError(MinifcError, OSError):
    """A file minifc would write, lock or move is a symbolic link or not a regular file (a FIFO, a device,
    a folder): refused, naming it, and never followed."""


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name``, or None when nothing is close."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return match[0] if match else None


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    """'unknown update rule 'adamm'; did you mean 'adam'? known: ...'."""
    known = sorted(known)
    guess = closest(name, known)
    hint = f"; did you mean {guess!r}?" if guess else "."
    plural = f"{kind}es" if kind.endswith("s") else f"{kind}s"
    return f"unknown {kind} {name!r}{hint} Known {plural}: {', '.join(known) or '(none)'}"


def check_labels(scores: torch.Tensor, y: torch.Tensor, who: str, values: bool = True) -> torch.Tensor:
    """Raise :class:`LabelError` unless y is an integer vector of length N with values in [0, C).

    ``values=False`` leaves the range to the caller: a loss whose CPU kernels refuse an out-of-range
    index itself calls :func:`check_label_range` when one does, to name the labels (one kernel and
    a host read fewer per step). Returns y on the scores' device (labels built on the CPU index
    CUDA scores, as in plain torch).
    """
    if scores.dim() != 2 or not scores.shape[0] or not scores.shape[1]:
        raise ShapeError(f"{who}: scores must have shape (N, C) with N, C >= 1, got {tuple(scores.shape)}")
    if not isinstance(y, torch.Tensor):
        raise LabelError(f"{who}: labels must be a tensor of integers, got {type(y).__name__}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise LabelError(f"{who}: labels must be integers (e.g. torch.int64), got {y.dtype}")
    if y.dim() != 1 or y.shape[0] != scores.shape[0]:
        raise LabelError(
            f"{who}: expected {scores.shape[0]} labels (one per row of scores), got shape {tuple(y.shape)}"
        )
    if values:
        check_label_range(y, scores.shape[1], who)
    return y if y.device == scores.device else y.to(scores.device)


def check_label_range(y: torch.Tensor, c: int, who: str) -> None:
    """Raise :class:`LabelError` unless every value of the integer labels y is in [0, c)."""
    if not y.numel() or y.device.type == "meta":  # meta tensors carry no values to check
        return
    lo, hi = (int(v) for v in torch.aminmax(y))  # one kernel for both ends
    if lo < 0 or hi >= c:
        raise LabelError(f"{who}: labels must be in [0, {c}) for {c} classes, got values in [{lo}, {hi}]")


def check_finite_rows(X: torch.Tensor, what: str) -> None:
    """Raise ValueError naming ``what`` and the first row of X (N, ...) that holds NaN or Inf; one
    kernel and a host read (integer data passes as it is)."""
    if not X.is_floating_point() or X.device.type == "meta" or X.dim() == 0 or not X.numel():
        return
    finite = torch.isfinite(X)
    if bool(finite.all()):
        return
    rows = (~finite).reshape(X.shape[0], -1).any(dim=1).nonzero().flatten()
    raise ValueError(f"{what} contains NaN or Inf in {rows.numel()} sample(s), first at row {int(rows[0])}")
