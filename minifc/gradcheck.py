"""Numeric gradients and relative errors, plus one-call checks of a layer, loss, model or Module.

Run checks in float64: with float32, centred differences at h = 1e-7 are dominated by rounding (relative
errors of 0.1-0.5 for a correct backward), so each check warns (UserWarning) when given lower precision.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import torch

from .nn.modules import Module

__all__ = [
    "compute_numeric_gradient",
    "rel_error",
    "check_layer",
    "check_loss",
    "check_model",
    "check_module",
    "gradient_names",
    "warn_unless_float64",
]



class ClassicModel(Protocol):
    """What :func:`check_model` needs: the classic ``params`` dict and ``loss(X, y) -> (loss, grads)``."""

    params: Mapping[str, torch.Tensor]

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None) -> Any: ...

def compute_numeric_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    dLdf: torch.Tensor | None = None,
    h: float = 1e-7,
) -> torch.Tensor:
    """Centred-difference gradient of ``L = sum(dLdf * f(x))`` with respect to x.

    Inputs: f maps x (any shape) to a tensor y; x is perturbed in place (and restored), so f must
    read x itself; dLdf has y's shape (ones when None). Returns dx with x's shape.
    """
    flat_x = _flat_view(x)
    grad = torch.zeros_like(x)  # laid out like x, so the same flat index addresses both
    flat_grad = _flat_view(grad)
    with torch.no_grad():
        y = torch.as_tensor(f(x))
        dLdf = torch.ones_like(y) if dLdf is None else dLdf
        weights = dLdf.reshape(-1).to(y.dtype)
        for i in range(flat_x.numel()):
            old = flat_x[i].item()
            flat_x[i] = old + h
            y_plus = torch.as_tensor(f(x)).clone()
            flat_x[i] = old - h
            y_minus = torch.as_tensor(f(x)).clone()
            flat_x[i] = old
            dydx = (y_plus - y_minus) / (2 * h)
            flat_grad[i] = weights.dot(dydx.reshape(-1).to(weights.dtype))
    return grad


def _flat_view(x: torch.Tensor) -> torch.Tensor:
    """A 1-D view sharing x's memory (x perturbed through it changes in place), for any dense layout,
    e.g. the column-major weights of :class:`minifc.nn.Linear`."""
    strides = x.stride()
    order = sorted(range(x.dim()), key=lambda d: -strides[d])
    permuted = x.permute(order)
    if not permuted.is_contiguous():
        raise ValueError(
            f"compute_numeric_gradient: x (shape {tuple(x.shape)}, strides {x.stride()}) is not a dense tensor; "
            "it is perturbed in place, so pass the tensor itself, not a strided slice of it"
        )
    return permuted.view(-1)


def rel_error(x: torch.Tensor | float, y: torch.Tensor | float, eps: float = 1e-10) -> float:
    """max|x - y| / max(|x| + |y|), the denominator clamped to at least eps."""
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    y = y.to(x.device)
    top = (x - y).abs().max().item()
    bot = (x.abs() + y.abs()).clamp(min=eps).max().item()
    return top / bot


def warn_unless_float64(who: str, tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
    """A UserWarning naming the floating-point tensors that are not float64 (their gradient check is
    meaningless); nothing when all are float64 (integer tensors such as labels are ignored)."""
    low = [f"{name} is {t.dtype}" for name, t in tensors if t.is_floating_point() and t.dtype != torch.float64]
    if low:
        warnings.warn(
            f"{who}: {', '.join(low)}; gradient checks need float64 (centred differences at h=1e-7 are dominated "
            "by rounding in lower precision: relative errors of 0.1-0.5 even for a correct backward). Create the "
            "inputs with dtype=torch.float64",
            UserWarning,
            stacklevel=3,
        )


def gradient_names(forward: Callable[..., object], n: int) -> list[str]:
    """``d<name>`` for the first ``n`` positional parameters of ``forward`` (``forward(x, w, b)``: dx, dw,
    db); ``d0, d1, ...`` when its signature does not name ``n`` distinct positional parameters."""
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [f"d{p.name}" for p in params if p.kind in kinds][:n]
    return names if len(set(names)) == n else [f"d{i}" for i in range(n)]


def check_layer(
    forward: Callable[..., tuple[torch.Tensor, object]],
    backward: Callable[[torch.Tensor, object], object],
    *inputs: torch.Tensor,
    extra: tuple = (),
    seed: int = 0,
) -> dict[str, float]:
    """Check a classic layer: ``forward(*inputs, *extra) -> (out, cache)`` and
    ``backward(dout, cache) -> grads`` (one tensor or a tuple, one per input, in order).

    Returns the relative error of each input's gradient, named after ``forward``'s parameters:
    ``{"dx": err, "dw": err, "db": err}`` for ``Linear.forward(x, w, b)`` (``d0, d1, ...`` when the
    signature does not name them). Warns when an input is not float64.
    """
    names = gradient_names(forward, len(inputs))
    warn_unless_float64("check_layer", [(name[1:], x) for name, x in zip(names, inputs, strict=True)])
    gen = torch.Generator(device=inputs[0].device).manual_seed(seed)
    out, cache = forward(*inputs, *extra)
    dout = torch.randn(out.shape, dtype=out.dtype, device=out.device, generator=gen)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    if len(grads) != len(inputs):
        raise ValueError(f"check_layer: backward returned {len(grads)} gradient(s) for {len(inputs)} input(s)")
    errors = {}
    for i, (x, g) in enumerate(zip(inputs, grads, strict=True)):
        num = compute_numeric_gradient(lambda _: forward(*inputs, *extra)[0], x, dout)
        errors[names[i]] = rel_error(num, g)
    return errors


def check_loss(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    scores: torch.Tensor,
    y: torch.Tensor,
) -> float:
    """Relative error of ``loss_fn(scores, y)[1]`` against the numeric gradient of the loss. Warns when
    ``scores`` is not float64."""
    warn_unless_float64("check_loss", [("scores", scores)])
    _, dscores = loss_fn(scores, y)
    num = compute_numeric_gradient(lambda _: loss_fn(scores, y)[0], scores)
    return rel_error(num, dscores)


def check_model(model: ClassicModel, X: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Check every gradient of a model with the classic contract (``params``, ``loss(X, y)``).

    Returns ``{param_name: relative error}``. Warns when ``X`` or a parameter is not float64.
    """
    params = model.params
    warn_unless_float64("check_model", [("X", X), *sorted(params.items())])
    _, grads = model.loss(X, y)
    errors = {}
    for name in sorted(grads):
        num = compute_numeric_gradient(lambda _: model.loss(X, y)[0], params[name])
        errors[name] = rel_error(num, grads[name])
    return errors


def check_module(module: Module, x: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """Check a Module's backward: dx and every parameter's gradient, for ``L = sum(dout * forward(x))``.

    Dropout-like modules must be deterministic for this (eval mode, or a fixed seed).
    Returns ``{"dx": err, "<param name>": err, ...}``. Warns when ``x`` or a parameter is not float64.
    """
    warn_unless_float64("check_module", [("x", x), *((n, p.data) for n, p in module.named_parameters())])
    gen = torch.Generator(device=x.device).manual_seed(seed)
    skipping = [m for m in module.modules() if getattr(m, "input_grad", True) is False]
    for m in skipping:  # a net's first layer may skip dx; the check needs it
        m.input_grad = True
    try:
        out = module.forward(x)
        dout = torch.randn(out.shape, dtype=out.dtype, device=out.device, generator=gen)
        module.zero_grad()
        dx = module.backward(dout)
    finally:
        for m in skipping:
            m.input_grad = False
    analytic = {name: p.grad for name, p in module.named_parameters()}

    def f(_: torch.Tensor) -> torch.Tensor:
        return module.forward(x)

    if dx is None:
        raise ValueError(f"check_module: {type(module).__name__}.backward returned no dx")
    errors = {"dx": rel_error(compute_numeric_gradient(f, x, dout), dx)}
    for name, p in module.named_parameters():
        g = analytic[name]
        if g is None:
            raise RuntimeError(f"check_module: backward of {type(module).__name__} left {name}.grad empty")
        errors[name] = rel_error(compute_numeric_gradient(f, p.data, dout), g)
    return errors
