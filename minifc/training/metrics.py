"""Accuracy of a model's predictions and their confusion matrix, computed in batches without a graph; the mean
loss per epoch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import LabelError, check_finite_rows, check_label_range

__all__ = ["accuracy", "check_accuracy_inputs", "confusion_matrix", "count_correct", "epoch_losses", "subsample"]


def check_accuracy_inputs(model: Any, X: Any, y: Any, who: str = "check_accuracy") -> None:
    """Raise naming ``who`` unless X (N, ...) is a tensor without NaN or Inf and y (N,) integer labels in
    [0, C), C the width of the model's scores (one forward of one sample)."""
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"{who}: X and y must be tensors, got {type(X).__name__} and {type(y).__name__}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise LabelError(f"{who}: labels y must be integers (e.g. torch.int64), got {y.dtype}")
    if X.dim() == 0 or y.dim() != 1 or y.shape[0] != X.shape[0]:
        raise LabelError(f"{who}: expected one label per row of X {tuple(X.shape)}, got y of shape {tuple(y.shape)}")
    if not X.shape[0]:
        return
    check_finite_rows(X, f"{who}: X")
    scores = model.loss(X[:1].clone())  # a copy: a layer may write into its input
    check_label_range(y, scores.shape[1], who)


def accuracy(
    model: Any,
    X: torch.Tensor,
    y: torch.Tensor,
    num_samples: int | None = None,
    batch_size: int = 100,
    generator: torch.Generator | None = None,
) -> float:
    """Fraction of rows of X (N, ...) whose highest score is the label y (N,); on a random subsample of
    ``num_samples`` rows (drawn with ``generator``) when N is larger."""
    X, y = subsample(X, y, num_samples, generator)
    return count_correct(model, X, y, batch_size) / max(X.shape[0], 1)


def count_correct(model: Any, X: torch.Tensor, y: torch.Tensor, batch_size: int = 100) -> int:
    """How many rows of X (N, ...) the model scores highest at their label y (N,), in batches.

    Each batch is copied into one reused buffer before the model sees it (as the training sampler does):
    a layer that writes into its input must not change the caller's X."""
    correct = torch.zeros((), dtype=torch.int64, device=X.device)
    buffer = torch.empty((min(batch_size, X.shape[0]), *X.shape[1:]), dtype=X.dtype, device=X.device)
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            rows = X[start : start + batch_size]
            batch = buffer[: rows.shape[0]]
            batch.copy_(rows)
            scores = model.loss(batch)
            correct += (scores.argmax(dim=1) == y[start : start + batch_size].to(scores.device)).sum()
    return int(correct.item())


def confusion_matrix(
    model: Any, X: torch.Tensor, y: torch.Tensor, num_classes: int, batch_size: int = 1000
) -> torch.Tensor:
    """(num_classes, num_classes) int64 counts on the CPU: entry ``[i, j]`` is how many rows of X (N, ...)
    with label ``i`` in y (N,) the model scores highest at class ``j`` (its trace: the correct ones).
    Raises ValueError for lengths that differ or a label outside [0, num_classes)."""
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"confusion_matrix: X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"confusion_matrix: labels must be in [0, {num_classes}), got {int(y.min())} to {int(y.max())}"
        )
    counts = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            scores = model.loss(X[start : start + batch_size])
            if scores.shape[1] != num_classes:
                raise ValueError(f"confusion_matrix: the model scores {scores.shape[1]} classes, not {num_classes}")
            labels = y[start : start + batch_size].to(scores.device)
            pairs = labels * num_classes + scores.argmax(dim=1)
            counts += torch.bincount(pairs, minlength=num_classes * num_classes).cpu()
    return counts.reshape(num_classes, num_classes)


def subsample(
    X: torch.Tensor, y: torch.Tensor, num_samples: int | None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """X (N, ...) and y (N,) as they are, or ``num_samples`` random rows of both (drawn with
    ``generator``) when N is larger."""
    if num_samples is None or X.shape[0] <= num_samples:
        return X, y
    idx = torch.randperm(X.shape[0], generator=generator)[:num_samples].to(X.device)
    return X[idx], y[idx]


def epoch_losses(loss_history: Sequence[float], iterations_per_epoch: int, epochs: int) -> list[float]:
    """The mean of each epoch's step losses: ``loss_history`` holds one loss per step, epoch ``e``
    (1-based) its steps ``(e - 1) * iterations_per_epoch`` up to ``e * iterations_per_epoch``. One value
    per epoch for the first ``epochs`` epochs that ``loss_history`` holds whole (a partial epoch, cut
    short by an interruption, has none)."""
    if iterations_per_epoch < 1:
        return []
    whole = min(epochs, len(loss_history) // iterations_per_epoch)
    return [
        math.fsum(loss_history[e * iterations_per_epoch : (e + 1) * iterations_per_epoch]) / iterations_per_epoch
        for e in range(whole)
    ]
