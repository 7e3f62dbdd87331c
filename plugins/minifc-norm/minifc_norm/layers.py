"""Batch and layer normalization as :class:`minifc.nn.Module` s with explicit backward passes.

Both take x (N, D) (or (N, d_1, ..., d_k) with D = d_1 * ... * d_k, normalised as (N, D)) and return
out with x's shape; ``backward(dout)`` returns dx like x and adds into ``gamma.grad`` and ``beta.grad``.
Everything they create follows the input's dtype and device.

Both declare their torch equivalent for :mod:`minifc.interop`: ``to_torch()`` gives a
``torch.nn.BatchNorm1d`` / ``torch.nn.LayerNorm`` with the same values (for inputs (N, D)), and the
classmethod ``from_torch(module)`` the other way.
"""

from __future__ import annotations

import torch

from minifc.errors import ShapeError
from minifc.nn import Module, Parameter

__all__ = ["BatchNorm1d", "LayerNorm"]


def _positive_int(n: object, who: str) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise ValueError(f"{who}: in_features must be a positive integer, got {n!r}")
    return n


class _Norm(Module):
    """Shared parts: gamma/beta, the input check and the (N, D) view. Under bf16-mixed, statistics and
    gradients in float32 (``precision = "float32"``: the policy casts what comes in)."""

    precision = "float32"

    def __init__(self, in_features: int, eps: float, dtype: torch.dtype, device: torch.device | str | None) -> None:
        super().__init__()
        self.in_features = _positive_int(in_features, type(self).__name__)
        if not eps > 0:
            raise ValueError(f"{type(self).__name__}: eps must be > 0, got {eps!r}")
        self.eps = float(eps)
        self.gamma = Parameter(torch.ones(in_features, dtype=dtype, device=device))
        self.beta = Parameter(torch.zeros(in_features, dtype=dtype, device=device))
        self._cache: tuple | None = None

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x[0].numel() != self.in_features:
            raise ShapeError(
                f"{type(self).__name__}({self.in_features}): expected {self.in_features} features per sample, "
                f"got input shape {tuple(x.shape)}"
            )
        return x.reshape(x.shape[0], self.in_features)

    def _take_cache(self) -> tuple:
        cache, self._cache = self._cache, None
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        return cache

    def extra_repr(self) -> str:
        return f"{self.in_features}, eps={self.eps:g}"


class BatchNorm1d(_Norm):
    """Batch normalization: ``out = gamma * (x - mean) / sqrt(var + eps) + beta`` per feature.

    Train mode uses the batch's mean and (biased) variance over N and updates the buffers
    ``running = momentum * running + (1 - momentum) * batch`` (the classic convention; PyTorch's
    momentum is 1 minus this one); eval mode uses the running statistics.
    """

    def __init__(
        self,
        in_features: int,
        eps: float = 1e-5,
        momentum: float = 0.9,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(in_features, eps, dtype, device)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm1d: momentum must be in [0, 1], got {momentum!r}")
        self.momentum = float(momentum)
        self.register_buffer("running_mean", torch.zeros(in_features, dtype=dtype, device=device))
        self.register_buffer("running_var", torch.ones(in_features, dtype=dtype, device=device))

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, D) -> out (N, D)."""
        x2 = self._flat(x)
        gamma, beta = self.gamma.data.to(x.dtype), self.beta.data.to(x.dtype)
        if self.training:
            mean = x2.mean(0)  # (torch.var_mean over dim 0 is many times slower on CPU)
            centred = x2 - mean
            var = centred.square().mean(0)
            inv_std = (var + self.eps).rsqrt_()
            m = self.momentum
            self.running_mean.mul_(m).add_(mean.to(self.running_mean.dtype), alpha=1 - m)
            self.running_var.mul_(m).add_(var.to(self.running_var.dtype), alpha=1 - m)
        else:
            centred = x2 - self.running_mean.to(x.dtype)
            inv_std = (self.running_var.to(x.dtype) + self.eps).rsqrt_()
        xhat = centred.mul_(inv_std)
        self._cache = (xhat, inv_std, self.training, x.shape)
        return torch.addcmul(beta, xhat, gamma).reshape(x.shape)

    @torch.no_grad()
    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        """dout (N, D) -> dx (N, D); adds dgamma = sum_n dout * xhat and dbeta = sum_n dout."""
        xhat, inv_std, training, shape = self._take_cache()
        d = dout.reshape(xhat.shape)
        dgamma, dbeta = (d * xhat).sum(0), d.sum(0)
        self.gamma.accumulate(dgamma.to(self.gamma.data.dtype))
        self.beta.accumulate(dbeta.to(self.beta.data.dtype))
        scale = self.gamma.data.to(d.dtype) * inv_std
        if not training:  # constant statistics: a per-feature scale
            return (d * scale).reshape(shape)
        # dx = gamma / std * (dout - mean_n(dout) - xhat * mean_n(dout * xhat)): the batch-statistics terms
        # of (x - mean) / std, with gamma's factor taken out of both means (they are dbeta / N and dgamma / N)
        n = d.shape[0]
        dx = (d - dbeta / n).addcmul_(xhat, dgamma / n, value=-1)
        return dx.mul_(scale).reshape(shape)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", momentum={self.momentum:g}"

    torch_type = torch.nn.BatchNorm1d

    def to_torch(self) -> torch.nn.BatchNorm1d:
        """A ``torch.nn.BatchNorm1d`` with these gamma, beta and running statistics (torch's momentum is
        1 minus this one)."""
        g = self.gamma.data
        out = torch.nn.BatchNorm1d(self.in_features, eps=self.eps, momentum=1 - self.momentum, dtype=g.dtype,
                                   device=g.device)  # fmt: skip
        with torch.no_grad():
            out.weight.copy_(g)
            out.bias.copy_(self.beta.data)
            out.running_mean.copy_(self.running_mean)
            out.running_var.copy_(self.running_var)
        return out

    @classmethod
    def from_torch(cls, module: torch.nn.Module) -> BatchNorm1d:
        """The layer of a ``torch.nn.BatchNorm1d`` with affine parameters and running statistics (a
        ``momentum=None`` cumulative average becomes momentum 0.9); ValueError for other settings."""
        if not isinstance(module, torch.nn.BatchNorm1d) or not module.affine or not module.track_running_stats:
            raise ValueError("only a BatchNorm1d with affine=True and track_running_stats=True converts")
        w = module.weight.detach()
        momentum = 0.9 if module.momentum is None else 1 - module.momentum
        layer = cls(module.num_features, eps=module.eps, momentum=momentum, dtype=w.dtype, device=w.device)
        layer.gamma.data, layer.beta.data = w.clone(), module.bias.detach().clone()
        assert module.running_mean is not None and module.running_var is not None  # track_running_stats
        layer.register_buffer("running_mean", module.running_mean.detach().clone())
        layer.register_buffer("running_var", module.running_var.detach().clone())
        return layer


class LayerNorm(_Norm):
    """Layer normalization: each sample normalised over its D features, then ``gamma * xhat + beta``.

    The same in train and eval mode (no running statistics).
    """

    def __init__(
        self,
        in_features: int,
        eps: float = 1e-5,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(in_features, eps, dtype, device)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, D) -> out (N, D)."""
        x2 = self._flat(x)
        centred = x2 - x2.mean(1, keepdim=True)
        inv_std = (centred.square().mean(1, keepdim=True) + self.eps).rsqrt_()
        xhat = centred * inv_std
        self._cache = (xhat, inv_std, x.shape)
        return (xhat * self.gamma.data.to(x.dtype) + self.beta.data.to(x.dtype)).reshape(x.shape)

    @torch.no_grad()
    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        """dout (N, D) -> dx (N, D); adds dgamma = sum_n dout * xhat and dbeta = sum_n dout."""
        xhat, inv_std, shape = self._take_cache()
        d = dout.reshape(xhat.shape)
        self.gamma.accumulate((d * xhat).sum(0).to(self.gamma.data.dtype))
        self.beta.accumulate(d.sum(0).to(self.beta.data.dtype))
        dxhat = d * self.gamma.data.to(d.dtype)
        dx = dxhat - dxhat.mean(1, keepdim=True) - xhat * (dxhat * xhat).mean(1, keepdim=True)
        return (dx * inv_std).reshape(shape)

    torch_type = torch.nn.LayerNorm

    def to_torch(self) -> torch.nn.LayerNorm:
        """A ``torch.nn.LayerNorm(D)`` with these gamma and beta."""
        g = self.gamma.data
        out = torch.nn.LayerNorm(self.in_features, eps=self.eps, dtype=g.dtype, device=g.device)
        with torch.no_grad():
            out.weight.copy_(g)
            out.bias.copy_(self.beta.data)
        return out

    @classmethod
    def from_torch(cls, module: torch.nn.Module) -> LayerNorm:
        """The layer of a ``torch.nn.LayerNorm`` over one dimension with affine parameters (with or
        without bias); ValueError for other settings."""
        if not isinstance(module, torch.nn.LayerNorm) or len(module.normalized_shape) != 1:
            raise ValueError("only a LayerNorm over the last dimension (normalized_shape (D,)) converts")
        if module.weight is None:
            raise ValueError("only a LayerNorm with elementwise_affine=True converts")
        w = module.weight.detach()
        layer = cls(module.normalized_shape[0], eps=module.eps, dtype=w.dtype, device=w.device)
        layer.gamma.data = w.clone()
        if module.bias is not None:
            layer.beta.data = module.bias.detach().clone()
        return layer
