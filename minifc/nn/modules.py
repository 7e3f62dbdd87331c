"""The Module/Parameter object graph: layers that keep their own cache and accumulate gradients.

A :class:`Module` has ``forward(x)`` and ``backward(dout) -> dx``; ``backward`` adds each parameter's
gradient into ``Parameter.grad``. The math is the one in :mod:`minifc.functional`; the base class lives in
:mod:`minifc.nn.module_base` (``minifc.nn.modules.Module`` is the same class).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from .. import functional as F
from ..errors import ShapeError
from ..grad_mode import no_grad
from ..validate import check_float_dtype, check_number, check_positive_int
from .mixed import WorkingCopy, linear_backward, linear_forward
from .module_base import Module
from .parameter import Parameter

__all__ = ["Parameter", "Module", "Linear", "ReLU", "LinearReLU", "Dropout", "Sequential"]


def _new_weight(
    in_features: int,
    out_features: int,
    weight_scale: float | None,
    dtype: torch.dtype,
    device: torch.device | str | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    if weight_scale is None:
        std = math.sqrt(2.0 / in_features)
    else:
        std = check_number(weight_scale, "Linear weight_scale", minimum=0.0)
    check_float_dtype(dtype, "Linear dtype")
    w = torch.randn(in_features, out_features, dtype=dtype, device=device, generator=generator)
    return w.mul_(std)


class Linear(Module):
    """Affine layer ``x.reshape(N, D) @ weight + bias`` with weight (D, M), bias (M,).

    Weights ~ N(0, weight_scale^2) (He init ``sqrt(2 / D)`` when weight_scale is None), bias 0.
    ``input_grad = False`` skips computing dx (the first layer of a net never needs it).
    Under bf16-mixed (:meth:`use_compute_dtype`) the three products run in bfloat16 from working copies
    of the float32 weight and bias; the gradients stay float32.
    """

    precision = "bf16_products"
    #: (weight, bias) working copies under a mixed-precision policy; None: products in the parameters' dtype
    working: tuple[WorkingCopy, WorkingCopy] | None = None
    _x_like: tuple[torch.Size, torch.dtype] | None = None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        weight_scale: float | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            check_positive_int(n, f"Linear: {what}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_new_weight(in_features, out_features, weight_scale, dtype, device, generator))
        self.bias = Parameter(torch.zeros(out_features, dtype=dtype, device=device))
        self.input_grad = True
        self._x: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, D) or (N, d_1, ..., d_k) -> (N, M)."""
        if not (x.dim() == 2 and x.shape[1] == self.in_features) and (
            x.dim() < 2 or math.prod(x.shape[1:]) != self.in_features
        ):
            got = math.prod(x.shape[1:]) if x.dim() >= 2 else tuple(x.shape)
            raise ShapeError(
                f"{self.describe()}: expected {self.in_features} input features per sample, got {got} "
                f"(input shape {tuple(x.shape)})"
            )
        if self.working is not None:
            out, self._x = linear_forward(x, *self.working)
            self._x_like = (x.shape, x.dtype)  # dx's
            return out
        out, (self._x, _, _) = F.Linear.forward(x, self.weight.data, self.bias.data)
        return out

    def use_compute_dtype(self, dtype: torch.dtype | None) -> list[WorkingCopy]:
        """Products in ``dtype`` from working copies of the parameters (None: in their own dtype); returns
        the copies, which the caller refreshes after changing the parameters in place."""
        self.working = None if dtype is None else (WorkingCopy(self.weight, dtype), WorkingCopy(self.bias, dtype))
        return list(self.working or ())

    @no_grad
    def backward(self, dout: torch.Tensor) -> torch.Tensor | None:
        """dout (N, M) -> dx like the forward input (None when ``input_grad`` is False)."""
        x = self._x
        if x is None:
            raise RuntimeError(f"{self.describe()}: backward called before forward")
        if self.working is not None:
            self._x = None
            like, self._x_like = self._x_like, None
            return linear_backward(dout, x, self.working[0], self.bias, like if self.input_grad else None)
        x2 = F.flatten_samples(x)
        # the bias first, while dout is still in cache (the weight's product evicts it on a wide layer)
        self.bias.accumulate(dout.sum(0))
        dx = None
        if self.input_grad:  # before a sink may change the weight
            dx = dout.mm(self.weight.data.t())
            dx = dx if x.dim() == 2 else dx.reshape(x.shape)
        w = self.weight
        if w.sink is None:
            w.accumulate(F.weight_grad(x2, dout))
        else:
            target, beta, alpha = w.sink
            F.add_weight_grad_(target, x2, dout, beta, alpha)
            w.sink = (target, 1.0, alpha)  # a second use of this weight adds its share to the first
        self._x = None
        return dx

    def describe(self) -> str:
        """How errors name this layer: its class and sizes, plus its ``label`` when a model set one."""
        label = getattr(self, "label", "")
        return f"{type(self).__name__}({self.in_features}, {self.out_features})" + (f" [{label}]" if label else "")

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}"


class ReLU(Module):
    """max(x, 0); keeps the output as its backward mask."""

    precision = "passthrough"

    def __init__(self) -> None:
        super().__init__()
        self._out: torch.Tensor | None = None

    @no_grad
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._out = x.clamp_min(0)
        return self._out

    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        out, self._out = self._out, None
        if out is None:
            raise RuntimeError("ReLU: backward called before forward")
        return F.relu_backward(dout, out)


class LinearReLU(Linear):
    """The ``Linear`` then ``ReLU`` sandwich as one module (one fewer temporary per pass)."""

    _out: torch.Tensor | None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._out = super().forward(x).clamp_min_(0)
        return self._out

    def backward(self, dout: torch.Tensor) -> torch.Tensor | None:
        out, self._out = getattr(self, "_out", None), None
        if out is None:
            raise RuntimeError(f"{self.describe()}: backward called before forward")
        return super().backward(F.relu_backward(dout, out))


class Dropout(Module):
    """Inverted dropout: drops each unit with probability ``p`` in training mode, identity in eval.

    The mask comes from torch's global RNG on the input's device; with ``seed`` the global RNG is
    seeded first (``torch.manual_seed(seed)``), so the mask is the same on every call (the classic
    gradient-check behaviour, with the classic side effect on the global RNG).
    """

    precision = "passthrough"

    def __init__(self, p: float = 0.5, seed: int | None = None) -> None:
        super().__init__()
        self.p = F.check_drop_probability(p)
        self.seed = seed
        self._mask: torch.Tensor | None = None

    @no_grad
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        F.seed_for_mask(self.seed)
        self._mask = F.dropout_mask(x, self.p)
        return x * self._mask

    @no_grad
    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        mask, self._mask = self._mask, None
        if mask is None:
            return dout
        return dout * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse."""

    precision = "passthrough"

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a minifc.nn.Module")
            setattr(self, str(i), m)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self._modules.values():
            x = m.forward(x)
        return x

    def backward(self, dout: torch.Tensor) -> torch.Tensor | None:
        grad: torch.Tensor | None = dout
        after: Module | None = None
        for m in reversed(self._modules.values()):
            if grad is None:  # only the first layer may skip its dx (input_grad False)
                raise RuntimeError(
                    f"{type(after).__name__}.backward returned no dx, but {type(m).__name__} before it needs one"
                )
            grad, after = m.backward(grad), m
        return grad
