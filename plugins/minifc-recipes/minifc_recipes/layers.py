"""Layers for strong fully-connected recipes, as :class:`minifc.nn.Module` s with explicit backward.

- :class:`GELU`: ``x * Phi(x)`` (the exact, erf form).
- :class:`ResidualMLP`: the pre-norm inverted-bottleneck block of "Scaling MLPs" (Bachmann et al.
  2023): ``out = x + W2 act(W1 LN(x) + b1) + b2`` with hidden width ``expansion * D``.

Both take x (N, D) and return (N, D); tensors they create follow the input's dtype and device.
"""

from __future__ import annotations

import math

import torch

from minifc.errors import ShapeError
from minifc.nn import Module, Parameter

__all__ = ["GELU", "ResidualMLP", "gelu_forward", "gelu_backward"]

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@torch.no_grad()
def gelu_forward(x: torch.Tensor) -> torch.Tensor:
    """GELU(x) = x * Phi(x), Phi the standard normal CDF; x of any shape -> like x."""
    return x * (torch.erf(x * _INV_SQRT2).add_(1).mul_(0.5))


@torch.no_grad()
def gelu_backward(dout: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dx = dout * (Phi(x) + x * phi(x)), phi the standard normal density; dout, x like each other."""
    cdf = torch.erf(x * _INV_SQRT2).add_(1).mul_(0.5)
    pdf = torch.exp(x.square().mul_(-0.5)).mul_(_INV_SQRT_2PI)
    return dout * cdf.add_(pdf.mul_(x))


class GELU(Module):
    """Gaussian error linear unit, ``x * Phi(x)`` elementwise; keeps its input for backward."""

    precision = "passthrough"

    def __init__(self) -> None:
        super().__init__()
        self._x: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x of any shape -> like x."""
        self._x = x
        return gelu_forward(x)

    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        """dout like x -> dx like x."""
        x, self._x = self._x, None
        if x is None:
            raise RuntimeError("GELU: backward called before forward")
        return gelu_backward(dout, x)

    #: the torch equivalent, for :mod:`minifc.interop`
    torch_type = torch.nn.GELU

    def to_torch(self) -> torch.nn.GELU:
        """``torch.nn.GELU()`` (the exact, erf form)."""
        return torch.nn.GELU()

    @classmethod
    def from_torch(cls, module: torch.nn.Module) -> GELU:
        """The layer of a ``torch.nn.GELU`` in its exact form; ValueError for ``approximate='tanh'``."""
        if not isinstance(module, torch.nn.GELU) or module.approximate != "none":
            raise ValueError("only the exact GELU (approximate='none') converts")
        return cls()


_ACTIVATIONS = ("relu", "gelu")


def _he(
    rows: int, cols: int, dtype: torch.dtype, device: torch.device | str | None, generator: torch.Generator | None
) -> torch.Tensor:
    """(rows, cols) weights ~ N(0, 2 / rows)."""
    w = torch.randn(rows, cols, dtype=dtype, device=device, generator=generator)
    return w.mul_(math.sqrt(2.0 / rows))


class ResidualMLP(Module):
    """Pre-LayerNorm residual block with an inverted bottleneck (Scaling MLPs' block):

    ``u = LN(x) * gamma + beta``; ``h = act(u @ w1 + b1)``; ``out = x + h @ w2 + b2``,
    x (N, D), w1 (D, H), w2 (H, D) with H = ``expansion * D`` (or ``hidden``). ``w2`` starts at
    ``zero_init * He`` scale (default 1: He; 0 starts the block as the identity). ``activation`` is
    ``"relu"`` or ``"gelu"``. Parameters: gamma, beta (D,), w1, b1, w2, b2. Under bf16-mixed it runs in
    float32 (``precision = "float32"``).
    """

    precision = "float32"

    def __init__(
        self,
        in_features: int,
        expansion: float = 4,
        hidden: int | None = None,
        activation: str = "gelu",
        eps: float = 1e-5,
        zero_init: float = 1.0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_features, int) or isinstance(in_features, bool) or in_features <= 0:
            raise ValueError(f"ResidualMLP: in_features must be a positive integer, got {in_features!r}")
        width = hidden if hidden is not None else int(round(expansion * in_features))
        if not isinstance(width, int) or isinstance(width, bool) or width <= 0:
            raise ValueError(f"ResidualMLP: hidden width must be a positive integer, got {width!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"ResidualMLP: activation must be one of {_ACTIVATIONS}, got {activation!r}")
        if not eps > 0:
            raise ValueError(f"ResidualMLP: eps must be > 0, got {eps!r}")
        self.in_features = self.out_features = in_features
        self.hidden, self.activation, self.eps = width, activation, float(eps)
        self.gamma = Parameter(torch.ones(in_features, dtype=dtype, device=device))
        self.beta = Parameter(torch.zeros(in_features, dtype=dtype, device=device))
        self.w1 = Parameter(_he(in_features, width, dtype, device, generator))
        self.b1 = Parameter(torch.zeros(width, dtype=dtype, device=device))
        w2 = _he(width, in_features, dtype, device, generator).mul_(float(zero_init))
        self.w2 = Parameter(w2)
        self.b2 = Parameter(torch.zeros(in_features, dtype=dtype, device=device))
        self._cache: tuple | None = None

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, D) -> out (N, D)."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ShapeError(
                f"ResidualMLP({self.in_features}): expected input (N, {self.in_features}), got {tuple(x.shape)}"
            )
        centred = x - x.mean(1, keepdim=True)
        inv_std = (centred.square().mean(1, keepdim=True) + self.eps).rsqrt_()
        xhat = centred.mul_(inv_std)
        u = torch.addcmul(self.beta.data, xhat, self.gamma.data)
        a = torch.addmm(self.b1.data, u, self.w1.data)  # (N, H), pre-activation
        h = a.clamp_min(0) if self.activation == "relu" else gelu_forward(a)
        self._cache = (xhat, inv_std, u, a, h)
        return torch.addmm(self.b2.data, h, self.w2.data).add_(x)

    @torch.no_grad()
    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        """dout (N, D) -> dx (N, D); adds the gradients of gamma, beta, w1, b1, w2, b2."""
        cache, self._cache = self._cache, None
        if cache is None:
            raise RuntimeError("ResidualMLP: backward called before forward")
        xhat, inv_std, u, a, h = cache
        self.w2.accumulate(h.t().mm(dout))
        self.b2.accumulate(dout.sum(0))
        dh = dout.mm(self.w2.data.t())
        da = dh.masked_fill_(a <= 0, 0) if self.activation == "relu" else gelu_backward(dh, a)
        self.w1.accumulate(u.t().mm(da))
        self.b1.accumulate(da.sum(0))
        du = da.mm(self.w1.data.t())
        self.gamma.accumulate((du * xhat).sum(0))
        self.beta.accumulate(du.sum(0))
        dxhat = du.mul_(self.gamma.data)
        dln = dxhat - dxhat.mean(1, keepdim=True) - xhat * (dxhat * xhat).mean(1, keepdim=True)
        return dln.mul_(inv_std).add_(dout)

    def extra_repr(self) -> str:
        return f"{self.in_features}, hidden={self.hidden}, activation={self.activation}"
