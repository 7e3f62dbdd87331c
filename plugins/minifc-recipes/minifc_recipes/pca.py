"""PCA whitening to k dimensions: a fixed linear preprocessing that also cuts the 3072-wide first product.

``fit_pca(X, k)`` estimates the top ``k`` principal directions U (D, k) and variances s (k,) of X (N, D)
and returns a :class:`Projection` with ``apply(X) = (X - mean) @ U diag(1 / sqrt(s + eps))``: k
decorrelated features of (nearly) unit variance, ``eps = eps_ratio * mean eigenvalue`` damping the
small ones as in :func:`minifc_recipes.fit_zca`. The net's first layer then multiplies k columns
instead of 3072, and the data set is projected once.

Image augmentations are linear maps of the image, so each has a (k, k) counterpart on the projected
rows (:meth:`Projection.follow`): map the image that row z stands for (``z @ inverse + mean``), then
project again. Crops and flips of the projected data then cost a (k, k) product per row
(:mod:`minifc_recipes.views`), not a 3072-wide one; what the top-k directions miss (the finest
detail) is left out of the augmented image too.

The directions come from the n x n Gram matrix of ``max_samples`` rows when n <= D (n eigenpairs), which
costs far less than the D x D covariance's eigendecomposition (about 1 s for n = 2048 on 2 cores, 3-5 s
for D = 3072), and from the D x D scatter matrix when n > D (12 s for the Gram matrix of 4,096 rows on 2
cores, 5 s for D = 3072); ``k`` must be below n.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["Projection", "fit_pca"]


@dataclass
class Projection:
    """``apply(X) = (X - mean) @ matrix`` for X (N, D); mean (D,), matrix (D, k), and ``inverse`` (k, D)
    with ``apply(z @ inverse + mean) == z`` for any z (k,): the image a projected row stands for."""

    mean: torch.Tensor
    matrix: torch.Tensor
    inverse: torch.Tensor
    eps: float

    @property
    def dims(self) -> int:
        return self.matrix.shape[1]

    @torch.no_grad()
    def apply(self, X: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """X (N, D) -> (N, k) in X's dtype and device, in batches."""
        if X.dim() != 2 or X.shape[1] != self.matrix.shape[0]:
            raise ValueError(f"Projection: expected X (N, {self.matrix.shape[0]}), got {tuple(X.shape)}")
        out = torch.empty(X.shape[0], self.dims, dtype=X.dtype, device=X.device)
        mean, matrix = self.mean.to(X), self.matrix.to(X)
        for start in range(0, X.shape[0], batch_size):
            torch.mm(X[start : start + batch_size] - mean, matrix, out=out[start : start + batch_size])
        return out

    @torch.no_grad()
    def follow(self, image_map: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The counterpart ``z -> z @ M + c`` of a linear image map (e.g. ``lambda x: shift(x, 1, 0)``, which
        takes and returns rows (n, D)) on projected rows: ``M = image_map(inverse) @ matrix`` (k, k) and
        ``c = (image_map(mean) - mean) @ matrix`` (k,), in the projection's dtype and device."""
        M = image_map(self.inverse).mm(self.matrix)
        c = (image_map(self.mean[None]) - self.mean[None]).mm(self.matrix)[0]
        return M, c


@torch.no_grad()
def fit_pca(
    X: torch.Tensor, k: int, eps_ratio: float = 1.0, max_samples: int = 2048, dtype: torch.dtype = torch.float64
) -> Projection:
    """PCA whitening to ``k`` dimensions fitted on the first ``max_samples`` rows of X (N, D).

    The (n, D) x (D, n) Gram product runs in X's dtype, its eigendecomposition in ``dtype``; the
    returned tensors have X's dtype and device. Raises ValueError unless 1 <= k < min(n, D + 1) and
    eps_ratio > 0.
    """
    if X.dim() != 2 or X.shape[0] < 2:
        raise ValueError(f"fit_pca: X must be (N, D) with N >= 2, got {tuple(X.shape)}")
    if not eps_ratio > 0:
        raise ValueError(f"fit_pca: eps_ratio must be > 0, got {eps_ratio!r}")
    sample = X[:max_samples]
    n, d = sample.shape
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < min(n, d + 1):
        raise ValueError(
            f"fit_pca: k must be an integer in [1, {min(n, d + 1) - 1}] (below the {n} rows used), got {k!r}"
        )
    mean = sample.mean(0, dtype=torch.float64).to(X.dtype)
    A = sample - mean
    if n <= d:
        gram = A.mm(A.t()).to(dtype)  # (n, n): its eigenvectors V give the covariance's as A^T V / sqrt(lambda)
        lam, V = torch.linalg.eigh(gram)
        lam, V = lam.flip(0)[:k].clamp_min(torch.finfo(dtype).tiny), V.flip(1)[:, :k]
        U = A.t().to(dtype).mm(V).div_(lam.sqrt())  # (D, k), orthonormal columns
    else:  # more rows than dimensions: the (D, D) scatter matrix is the smaller eigenproblem
        gram = A.t().mm(A).to(dtype)  # same nonzero eigenvalues as the Gram matrix, eigenvectors U directly
        lam, U = torch.linalg.eigh(gram)
        lam, U = lam.flip(0)[:k].clamp_min(torch.finfo(dtype).tiny), U.flip(1)[:, :k]
    variances = lam / (n - 1)
    eps = float(eps_ratio * gram.diagonal().sum() / (n - 1) / d)  # eps_ratio x the mean eigenvalue of all D
    scale = (variances + eps).sqrt()
    return Projection(mean, (U / scale).to(X.dtype), (U * scale).t().contiguous().to(X.dtype), eps)
