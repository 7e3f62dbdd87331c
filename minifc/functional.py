"""Explicit forward and backward passes: the math of every built-in layer and loss.

This module is the classic course API (EECS 498-007 A3 / CS231n A2, PyTorch flavour): each layer is
a class with static ``forward`` returning ``(out, cache)`` and ``backward`` taking ``(dout, cache)``.
The modules in :mod:`minifc.nn` call these same functions, so the math lives here once.

No autograd: every entry point runs under ``torch.no_grad()``, and every tensor created here (masks,
one-hot corrections) takes the device and dtype of its input.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .errors import ShapeError, check_label_range, check_labels
from .grad_mode import no_grad  # also reached as minifc.functional.no_grad

__all__ = [
    "Linear",
    "ReLU",
    "Linear_ReLU",
    "Dropout",
    "svm_loss",
    "softmax_loss",
    "svm_loss_unchecked",
    "softmax_loss_unchecked",
    "weight_grad",
    "add_weight_grad_",
]


def flatten_samples(x: torch.Tensor) -> torch.Tensor:
    """x (N, d_1, ..., d_k) as (N, d_1 * ... * d_k); also for N = 0, where ``reshape(N, -1)`` fails."""
    return x if x.dim() == 2 else x.reshape(x.shape[0], math.prod(x.shape[1:]))


class Linear:
    """Affine layer ``out = x.reshape(N, D) @ w + b``."""

    @staticmethod
    @no_grad
    def forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """Inputs: x (N, d_1, ..., d_k), w (D, M) with D = d_1 * ... * d_k, b (M,).

        Returns ``(out, cache)``: out (N, M), cache ``(x, w, b)``.
        """
        if w.dim() != 2 or b.dim() != 1 or b.shape[0] != w.shape[1]:
            raise ShapeError(
                f"Linear: expected w of shape (D, M) and b of shape (M,), got w {tuple(w.shape)} and b {tuple(b.shape)}"
            )
        x2 = flatten_samples(x)
        if x2.shape[1] != w.shape[0]:
            raise ShapeError(
                f"Linear: input has {x2.shape[1]} features per sample but the weight expects "
                f"{w.shape[0]} (x {tuple(x.shape)}, w {tuple(w.shape)})"
            )
        return torch.addmm(b, x2, w), (x, w, b)

    @staticmethod
    @no_grad
    def backward(dout: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs: dout (N, M), cache from :meth:`forward`.

        Returns ``(dx, dw, db)`` with the shapes of x, w and b.
        """
        x, w, _ = cache
        x2 = flatten_samples(x)
        dx = dout.mm(w.t()).reshape(x.shape)
        return dx, weight_grad(x2, dout), dout.sum(0)


def weight_grad(x2: torch.Tensor, dout: torch.Tensor) -> torch.Tensor:
    """dw = x2^T dout (D, M) for x2 (N, D), dout (N, M): an ordinary contiguous (D, M) tensor."""
    return x2.t().mm(dout)


def add_weight_grad_(target: torch.Tensor, x2: torch.Tensor, dout: torch.Tensor, beta: float, alpha: float) -> None:
    """In place: ``target = beta * target + alpha * x2^T dout`` for target (D, M), x2 (N, D), dout (N, M).

    One product with no dw tensor: an update rule that is affine in the gradient (sgd into the weight,
    momentum into the velocity) needs no separate pass over memory.
    """
    target.addmm_(x2.t(), dout, beta=beta, alpha=alpha)


class ReLU:
    """Rectified linear unit ``out = max(x, 0)``; never changes its input."""

    @staticmethod
    @no_grad
    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input: x of any shape. Returns ``(out, cache)``: out like x, cache is x."""
        return x.clamp_min(0), x

    @staticmethod
    @no_grad
    def backward(dout: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        """Inputs: dout like x, cache from :meth:`forward`. Returns dx like x."""
        return relu_backward(dout, cache)


@no_grad
def relu_backward(dout: torch.Tensor, x_or_out: torch.Tensor) -> torch.Tensor:
    """dx of ReLU given the input (or, equivalently, the output): dout where it was positive."""
    # = dout.masked_fill(x_or_out <= 0, 0), as one kernel (several times faster on CPU)
    return torch.ops.aten.threshold_backward(dout, x_or_out, 0)


class Linear_ReLU:  # noqa: N801  (the classic name)
    """The ``Linear`` then ``ReLU`` sandwich."""

    @staticmethod
    @no_grad
    def forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """Inputs as :meth:`Linear.forward`. Returns ``(out, cache)``, out (N, M)."""
        a, fc_cache = Linear.forward(x, w, b)
        out, relu_cache = ReLU.forward(a)
        return out, (fc_cache, relu_cache)

    @staticmethod
    @no_grad
    def backward(dout: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs: dout (N, M), cache. Returns ``(dx, dw, db)``."""
        fc_cache, relu_cache = cache
        return Linear.backward(ReLU.backward(dout, relu_cache), fc_cache)


def check_drop_probability(p: Any, who: str = "Dropout") -> float:
    """Return p as a float, or raise ValueError unless 0 <= p < 1."""
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: p must be a number in [0, 1), got {p!r}") from None
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{who}: p is the probability of dropping a unit and must be in [0, 1), got {p}")
    return p


def dropout_mask(like: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted-dropout mask shaped like ``like``: 0 with probability p, else 1 / (1 - p). For a bfloat16
    ``like`` it is drawn in float32 (the units a float32 run with the same seed drops), then cast."""
    dtype = like.dtype if like.dtype.itemsize >= 4 else torch.float32
    keep = torch.rand(like.shape, device=like.device, dtype=dtype, generator=generator).ge_(p)  # 1. or 0.
    mask = keep.div_(1.0 - p)
    return mask if dtype is like.dtype else mask.to(like.dtype)


def seed_for_mask(seed: int | None) -> None:
    """The classic seeded dropout: ``torch.manual_seed(seed)`` before the mask is drawn from the global
    RNG, so a seeded forward gives the same mask every call (and leaves the global RNG seeded, as the
    course's layer does). None: nothing."""
    if seed is not None:
        torch.manual_seed(int(seed))


class Dropout:
    """Inverted dropout. ``dropout_param``: ``p`` (probability of DROPPING a unit), ``mode``
    (``'train'`` or ``'test'``), optional ``seed`` (the same mask on every call)."""

    @staticmethod
    @no_grad
    def forward(x: torch.Tensor, dropout_param: dict) -> tuple[torch.Tensor, tuple]:
        """Input: x of any shape. Returns ``(out, cache)``: out like x, cache ``(dropout_param, mask)``."""
        p = check_drop_probability(dropout_param["p"])
        mode = dropout_param.get("mode", "train")
        if mode == "train":
            seed_for_mask(dropout_param.get("seed"))
            mask = dropout_mask(x, p)
            return x * mask, (dropout_param, mask)
        if mode == "test":
            return x, (dropout_param, None)
        raise ValueError(f"Dropout: mode must be 'train' or 'test', got {mode!r}")

    @staticmethod
    @no_grad
    def backward(dout: torch.Tensor, cache: tuple) -> torch.Tensor:
        """Inputs: dout like x, cache. Returns dx like x."""
        dropout_param, mask = cache
        if dropout_param.get("mode", "train") == "train":
            return dout * mask
        return dout


def svm_loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Multiclass hinge loss with margin 1, averaged over N.

    Inputs: x (N, C) scores, y (N,) integer labels in [0, C).
    Returns ``(loss, dx)``: a 0-dim tensor and dx (N, C). Raises ShapeError / LabelError for bad
    shapes or labels, ValueError when the loss is not finite (naming the first row of NaN or Inf
    scores); a model uses :func:`svm_loss_unchecked`, leaving a non-finite loss to the Trainer's divergence
    report.
    """
    return _finite("svm_loss", x, svm_loss_unchecked(x, y))


def softmax_loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax cross-entropy, numerically stable, averaged over N.

    Inputs: x (N, C) scores, y (N,) integer labels in [0, C).
    Returns ``(loss, dx)``: a 0-dim tensor and dx (N, C). Raises as :func:`svm_loss` does; a model
    uses :func:`softmax_loss_unchecked`.
    """
    return _finite("softmax_loss", x, softmax_loss_unchecked(x, y))


def _finite(who: str, x: torch.Tensor, out: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``out`` when its loss is finite (one host read of the loss already computed), else ValueError."""
    if x.device.type == "meta" or math.isfinite(float(out[0])):  # meta tensors carry no values
        return out
    rows = (~torch.isfinite(x)).any(dim=1).nonzero().flatten()
    if rows.numel():
        raise ValueError(f"{who}: scores contain NaN or Inf in {rows.numel()} row(s), first at row {int(rows[0])}")
    raise ValueError(f"{who}: the loss is not finite: scores too large for {x.dtype}")


@no_grad
def svm_loss_unchecked(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`svm_loss` without the check of the loss's value (shapes and labels are checked)."""
    y = check_labels(x, y, "svm_loss")
    n = x.shape[0]
    rows = torch.arange(n, device=x.device)
    correct = x[rows, y].unsqueeze(1)
    margins = (x - correct + 1).clamp_min_(0)
    margins[rows, y] = 0
    loss = margins.sum() / n
    dx = (margins > 0).to(x.dtype)
    dx[rows, y] = -dx.sum(1)
    return loss, dx.div_(n)


@no_grad
def softmax_loss_unchecked(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`softmax_loss` without the check of the loss's value (shapes and labels are checked)."""
    on_cpu = x.device.type == "cpu"
    # torch's CPU gather refuses an out-of-range index by itself, so there the range is checked only
    # when it does (to name the labels); a CUDA kernel would assert and poison the context instead
    y = check_labels(x, y, "softmax_loss", values=not on_cpu)
    n, c = x.shape
    try:
        if on_cpu and c < _FEW_CLASSES:
            return _softmax_loss_by_class(x, y.long().unsqueeze(0), n)
        return _softmax_loss_by_row(x, y.long().unsqueeze(1), n)
    except RuntimeError:
        check_label_range(y, c, "softmax_loss")
        raise


def _softmax_loss_by_row(x: torch.Tensor, cols: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax_loss's math on x (N, C); cols (N, 1) int64 labels."""
    log_probs = torch.log_softmax(x, dim=1)  # x - max - log(sum(exp(x - max))), one kernel
    loss = log_probs.gather(1, cols).sum().div_(-n)  # mean of -log p of the correct class
    dx = log_probs.exp_().scatter_(1, cols, -1.0, reduce="add")  # softmax, minus 1 at the correct class
    return loss, dx.div_(n)


# torch's CPU log_softmax over a last axis shorter than one vector register takes a slow path
# (about 0.13 us per row for 10 classes with AVX-512); over the first axis of the transposed
# scores it is several times faster (same math; the sums may round differently)
_FEW_CLASSES = 16


def _softmax_loss_by_class(x: torch.Tensor, rows: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax_loss's math on the (C, N) transpose of x (N, C); rows (1, N) int64 labels."""
    log_probs = torch.log_softmax(x.t().contiguous(), dim=0)
    loss = log_probs.gather(0, rows).sum().div_(-n)
    dxt = log_probs.exp_().scatter_(0, rows, -1.0, reduce="add")
    return loss, dxt.t().contiguous().div_(n)
