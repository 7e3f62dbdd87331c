"""Accuracy of a model's predictions, computed in batches without a graph."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["accuracy", "count_correct", "subsample"]


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


def subsample(
    X: torch.Tensor, y: torch.Tensor, num_samples: int | None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """X (N, ...) and y (N,) as they are, or ``num_samples`` random rows of both (drawn with
    ``generator``) when N is larger."""
    if num_samples is None or X.shape[0] <= num_samples:
        return X, y
    idx = torch.randperm(X.shape[0], generator=generator)[:num_samples].to(X.device)
    return X[idx], y[idx]
