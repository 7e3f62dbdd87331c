"""Accuracy of a model's predictions, computed in batches without a graph."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import LabelError, check_finite_rows, check_label_range

__all__ = ["accuracy", "check_accuracy_inputs", "count_correct", "subsample"]


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
    scores = model.loss(X[:1])
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
    """How many rows of X (N, ...) the model scores highest at their label y (N,), in batches."""
    correct = torch.zeros((), dtype=torch.int64, device=X.device)
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            scores = model.loss(X[start : start + batch_size])
            correct += (scores.argmax(dim=1) == y[start : start + batch_size].to(scores.device)).sum()
    return int(correct.item())


def subsample(
    X: torch.Tensor, y: torch.Tensor, num_samples: int | None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """X (N, ...) and y (N,) as they are, or ``num_samples`` random rows of both (drawn with
    ``generator``) when N is larger."""
    if num_samples is None or X.shape[0] <= num_samples:
        return X, y
    idx = torch.randperm(X.shape[0], generator=generator)[:num_samples].to(X.device)
    return X[idx], y[idx]
