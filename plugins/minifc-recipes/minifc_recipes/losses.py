"""Label-smoothing softmax cross-entropy with an explicit gradient.

With C classes and smoothing ``s``, the target of a sample with label y is the distribution
``q = (1 - s) * onehot(y) + s / C``; the loss is the cross-entropy ``-sum_c q_c log softmax(x)_c``
averaged over N, and its gradient is ``(softmax(x) - q) / N``. ``s = 0`` is the plain softmax loss.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from minifc.errors import check_labels

__all__ = ["DEFAULT_SMOOTHING", "softmax_smooth", "smoothed_softmax_loss"]

DEFAULT_SMOOTHING = 0.1
"""The smoothing of the registered ``softmax_smooth`` loss."""

Loss = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _check_smoothing(smoothing: float) -> float:
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0.0 <= smoothing < 1.0:
        raise ValueError(f"softmax_smooth: smoothing must be a number in [0, 1), got {smoothing!r}")
    return float(smoothing)


@torch.no_grad()
def softmax_smooth(
    scores: torch.Tensor, y: torch.Tensor, smoothing: float = DEFAULT_SMOOTHING
) -> tuple[torch.Tensor, torch.Tensor]:
    """Label-smoothed softmax cross-entropy, numerically stable, averaged over N.

    Inputs: scores (N, C) floating point, y (N,) integer labels in [0, C), smoothing in [0, 1).
    Returns ``(loss, dscores)``: a 0-dim tensor and dscores (N, C), dtype and device of scores.
    """
    s = _check_smoothing(smoothing)
    y = check_labels(scores, y, "softmax_smooth")
    n, c = scores.shape
    rows = torch.arange(n, device=scores.device)
    log_probs = scores - scores.max(dim=1, keepdim=True).values
    log_probs -= log_probs.exp().sum(dim=1, keepdim=True).log_()
    nll = -log_probs[rows, y].sum()
    uniform = -log_probs.sum() / c
    loss = ((1 - s) * nll + s * uniform) / n
    dscores = log_probs.exp_().sub_(s / c)
    dscores[rows, y] -= 1 - s
    return loss, dscores.div_(n)


def smoothed_softmax_loss(smoothing: float) -> Loss:
    """A loss ``loss(scores, y) -> (loss, dscores)`` (the form minifc's Classifier and registry take)
    with this ``smoothing``: ``Classifier(net, loss=smoothed_softmax_loss(0.2))``."""
    s = _check_smoothing(smoothing)

    def loss(scores: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return softmax_smooth(scores, y, s)

    loss.__name__ = f"softmax_smooth_{s:g}"
    loss.smoothing = s  # type: ignore[attr-defined]
    return loss
