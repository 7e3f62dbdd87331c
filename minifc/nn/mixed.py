"""Layers under a mixed-precision policy: bfloat16 products with float32 master weights.

Each layer class declares what it does under ``bf16-mixed`` in its class attribute ``precision``:

- ``"bf16_products"``: its matrix products run in the compute dtype (``Linear``: forward, dx and dW) from
  low-precision *working copies* of its float32 parameters; its gradients are float32. Such a layer has
  ``use_compute_dtype(dtype) -> list[WorkingCopy]``.
- ``"passthrough"``: computes in whatever dtype comes in (``ReLU``, ``Dropout``, ``Sequential``, whose
  children are visited in turn).
- ``"float32"``: computes in float32 (normalization statistics): its input and incoming gradient are cast
  to float32, its output stays float32 and its dx goes back in the dtype its input came in.
- nothing (``None``): treated as ``"float32"``, with a one-time warning naming the layer.

:func:`apply_compute_dtype` puts a net under the policy (or takes it off); :func:`refresh` rewrites every
working copy from its master after an update, as one ``torch._foreach_copy_``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Protocol

import torch

from ..grad_mode import no_grad
from .parameter import Parameter

__all__ = ["WorkingCopy", "apply_compute_dtype", "refresh", "linear_forward", "linear_backward", "DECLARATIONS"]

DECLARATIONS = ("bf16_products", "passthrough", "float32")
_warned: set[type] = set()


class Layer(Protocol):
    """What the policy needs of a layer (a :class:`minifc.nn.Module`)."""

    __dict__: dict[str, object]

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...
    def backward(self, dout: torch.Tensor) -> torch.Tensor | None: ...
    def children(self) -> Iterator[Layer]: ...
    def modules(self) -> Iterator[Layer]: ...


class WorkingCopy:
    """A low-precision copy of a parameter's float32 master tensor (same shape, device; ``dtype``).

    :meth:`get` rebuilds it when the master was replaced or changed in place since the copy was taken
    (torch's version counter), so a restored checkpoint, an EMA swap or a user's edit is never missed;
    the Trainer's update refreshes all copies at once (:func:`refresh`).
    """

    __slots__ = ("param", "dtype", "copy", "src", "version")

    def __init__(self, param: Parameter, dtype: torch.dtype) -> None:
        self.param, self.dtype = param, dtype
        self.copy: torch.Tensor | None = None
        self.src: torch.Tensor | None = None
        self.version = -1

    def get(self) -> torch.Tensor:
        master = self.param.data
        if master is not self.src or master._version != self.version or self.copy is None:
            self.copy = master.to(self.dtype)
            self.src, self.version = master, master._version
        return self.copy


@no_grad
def refresh(copies: list[WorkingCopy]) -> None:
    """Rewrite every working copy from its master (float32 -> compute dtype) in one foreach copy; a copy
    whose master changed shape, dtype or device is rebuilt at its next use instead."""
    live = [c for c in copies if c.copy is not None and _fits(c.copy, c.param.data)]
    if live:
        torch._foreach_copy_([c.copy for c in live], [c.param.data for c in live])  # type: ignore[misc]
        for c in live:
            c.src = c.param.data
            c.version = c.src._version
    for c in copies:
        if c not in live:
            c.src = None


def _fits(copy: torch.Tensor, master: torch.Tensor) -> bool:
    return copy.shape == master.shape and copy.device == master.device and master.is_floating_point()


@no_grad
def linear_forward(x: torch.Tensor, w: WorkingCopy, b: WorkingCopy) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, D) or (N, d_1, ..., d_k) -> ``(out (N, M), x2 (N, D))``, both in the compute dtype: the
    product from the working copies; x2 is what the backward pass needs."""
    w16 = w.get()
    x2 = x.reshape(x.shape[0], -1)
    if x2.dtype != w16.dtype:
        x2 = x2.to(w16.dtype)
    return torch.addmm(b.get(), x2, w16), x2


@no_grad
def linear_backward(
    dout: torch.Tensor, x2: torch.Tensor, w: WorkingCopy, bias: Parameter,
    input_like: tuple[torch.Size, torch.dtype] | None,
) -> torch.Tensor | None:
    """dout (N, M) -> dx (a compute-dtype product, of the shape and dtype ``input_like`` of the forward's
    input; None when it is None); the bias gradient (summed in float32) and dW (a compute-dtype product, made
    float32) are added to the parameters."""
    master = w.param
    if master.sink is not None:
        raise RuntimeError(f"{master.name}: an in-product update cannot be formed from bfloat16 products")
    bias.accumulate(dout.sum(0, dtype=bias.data.dtype))
    d16 = dout if dout.dtype == x2.dtype else dout.to(x2.dtype)
    dx = None
    if input_like is not None:
        dx = d16.mm(w.get().t())
        shape, dtype = input_like
        dx = dx if len(shape) == 2 else dx.reshape(shape)
        dx = dx if dx.dtype == dtype else dx.to(dtype)
    master.accumulate(x2.t().mm(d16).to(master.data.dtype))
    return dx


def apply_compute_dtype(net: Layer, dtype: torch.dtype | None) -> list[WorkingCopy]:
    """Put ``net`` under the mixed policy with products in ``dtype`` (or take it off with None); returns the
    working copies the update must refresh. Undeclared layers get a one-time warning naming them."""
    for m in net.modules():  # off first: a net may be put under the policy twice
        for name in ("forward", "backward"):
            m.__dict__.pop(name, None)
        off: Callable[[torch.dtype | None], list[WorkingCopy]] | None = getattr(m, "use_compute_dtype", None)
        if off is not None:
            off(None)
    return [] if dtype is None else _visit(net, dtype)


def _visit(m: Layer, dtype: torch.dtype) -> list[WorkingCopy]:
    kind = getattr(type(m), "precision", None)
    use: Callable[[torch.dtype | None], list[WorkingCopy]] | None = getattr(m, "use_compute_dtype", None)
    if kind == "bf16_products" and use is not None:
        return use(dtype)
    if kind == "passthrough":
        return [c for child in m.children() for c in _visit(child, dtype)]
    if kind != "float32" and type(m) not in _warned:
        _warned.add(type(m))
        warnings.warn(
            f"layer {type(m).__name__} declares no precision (class attribute `precision`): under bf16-mixed it "
            "runs in float32", stacklevel=4,
        )
    _float32_island(m)
    return []


def _float32_island(m: Layer) -> None:
    """Make ``m`` compute in float32: its input and incoming gradient are cast to float32; its dx goes
    back in the dtype its input came in."""
    forward = _Float32Forward(m)
    m.__dict__["forward"], m.__dict__["backward"] = forward, _Float32Backward(m, forward)


class _Float32Forward:
    """``m.forward`` on a float32 input, remembering the dtype that came in. Holds the layer itself (not a
    bound method), so a deep copy of the layer calls the copy."""

    def __init__(self, layer: Layer) -> None:
        self.layer, self.came_in = layer, torch.float32

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.came_in = x.dtype
        return type(self.layer).forward(self.layer, x.float() if x.is_floating_point() else x)


class _Float32Backward:
    """``m.backward`` on a float32 dout; dx cast back to the dtype the forward's input came in."""

    def __init__(self, layer: Layer, forward: _Float32Forward) -> None:
        self.layer, self.forward = layer, forward

    def __call__(self, dout: torch.Tensor) -> torch.Tensor | None:
        dx = type(self.layer).backward(self.layer, dout.float())
        came_in = self.forward.came_in
        return dx if dx is None or dx.dtype == came_in else dx.to(came_in)
