"""ZCA whitening of the inputs: a fixed linear preprocessing computed once on the training set.

``fit_zca(X)`` estimates the mean and covariance of X (N, D) and returns a :class:`Whitening` whose
``apply`` maps rows to ``(x - mean) @ matrix`` with ``matrix = U diag(1 / sqrt(s + eps)) U^T``
(``cov = U diag(s) U^T``): the features become decorrelated with unit variance, and, unlike PCA
whitening, the result stays in the input's coordinates, so whitened CIFAR-10 rows are still images
(edge-like ones) that can be cropped and flipped. ``eps = eps_ratio * mean(s)`` keeps the many
near-zero directions of natural images from being blown up to unit variance (Lin et al. 2015
whitened CIFAR-10 this way for fully-connected nets; Krizhevsky 2009 used ZCA too).

It is data preprocessing, not a layer: nothing here is trained, and no gradient flows through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Whitening", "fit_zca"]


@dataclass
class Whitening:
    """``apply(X) = (X - mean) @ matrix`` for X (N, D); mean (D,), matrix (D, D), symmetric."""

    mean: torch.Tensor
    matrix: torch.Tensor
    eps: float

    @torch.no_grad()
    def apply(self, X: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """X (N, D) -> whitened (N, D) in X's dtype, computed in batches in the whitening's dtype."""
        if X.dim() != 2 or X.shape[1] != self.matrix.shape[0]:
            raise ValueError(f"Whitening: expected X (N, {self.matrix.shape[0]}), got {tuple(X.shape)}")
        out = torch.empty(X.shape, dtype=X.dtype, device=X.device)
        mean, matrix = self.mean.to(X.device), self.matrix.to(X.device)
        for start in range(0, X.shape[0], batch_size):
            rows = X[start : start + batch_size].to(matrix.dtype) - mean
            out[start : start + batch_size] = rows.mm(matrix).to(X.dtype)
        return out


@torch.no_grad()
def fit_zca(
    X: torch.Tensor, eps_ratio: float = 0.1, max_samples: int | None = 20000, dtype: torch.dtype = torch.float64
) -> Whitening:
    """ZCA whitening fitted on X (N, D): on its first ``max_samples`` rows (all when None).

    ``eps_ratio`` (> 0) sets the regularizer ``eps = eps_ratio * mean eigenvalue``. The (D, n) x (n, D)
    product of the covariance runs in X's dtype; its eigendecomposition in ``dtype`` (float64 by
    default, for a stable eigh). The returned mean and matrix have X's dtype.
    """
    if X.dim() != 2 or X.shape[0] < 2:
        raise ValueError(f"fit_zca: X must be (N, D) with N >= 2, got {tuple(X.shape)}")
    if not eps_ratio > 0:
        raise ValueError(f"fit_zca: eps_ratio must be > 0, got {eps_ratio!r}")
    sample = X if max_samples is None else X[:max_samples]
    mean = sample.mean(0, dtype=torch.float64).to(sample.dtype)
    centred = sample - mean
    cov = centred.t().mm(centred).to(dtype).div_(sample.shape[0] - 1)  # the product in X's dtype: the costly part
    eigvals, eigvecs = torch.linalg.eigh(cov)
    eigvals = eigvals.clamp_min(0)
    eps = float(eps_ratio * eigvals.mean())
    matrix = (eigvecs * (eigvals + eps).rsqrt()).mm(eigvecs.t())
    return Whitening(mean, matrix.to(X.dtype), eps)
