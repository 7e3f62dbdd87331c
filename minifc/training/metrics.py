"""Accuracy of a model's predictions, computed in batches without a graph."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["accuracy"]


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
    n = X.shape[0]
    if num_samples is not None and n > num_samples:
        idx = torch.randperm(n, generator=generator)[:num_samples].to(X.device)
        X, y = X[idx], y[idx]
        n = num_samples
    correct = torch.zeros((), dtype=torch.int64, device=X.device)
    with torch.no_grad():
        for start in range(0, n, batch_size):
            scores = model.loss(X[start : start + batch_size])
            correct += (scores.argmax(dim=1) == y[start : start + batch_size].to(scores.device)).sum()
    return correct.item() / max(n, 1)
