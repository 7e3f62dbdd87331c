"""Synchronised batch normalization: train-mode statistics over the global batch of all ranks.

In data-parallel training each rank sees only its share of the batch; :class:`BatchNorm1d` would
normalise with per-rank statistics. :class:`SyncBatchNorm` all-reduces the sums it needs instead:

- forward: the count, sum and sum of squares per feature (one all-reduce; accumulated in float64,
  so that ``E[x^2] - mean^2`` does not cancel badly in float32), giving the mean and biased variance
  of the global batch; the running statistics are updated with them, identically on every rank;
- backward: ``sum dout`` and ``sum dout * xhat`` per feature (one all-reduce), the two batch sums in
  the gradient of the normalization, so that each rank's dx is exactly that rows' share of dx
  for the global batch.

``gamma.grad`` and ``beta.grad`` receive this rank's own sums; averaging gradients over the ranks
(as data-parallel training does, each rank's loss being a mean over its own rows) then gives the
full-batch gradient. Without a process group, with one rank, and in eval mode it is BatchNorm1d.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from .layers import BatchNorm1d

__all__ = ["SyncBatchNorm"]


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _all_reduce(t: torch.Tensor, what: str) -> None:
    try:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    except RuntimeError as e:
        raise RuntimeError(f"SyncBatchNorm: all-reduce of the {what} failed (another rank stopped?): {e}") from e


class SyncBatchNorm(BatchNorm1d):
    """BatchNorm1d whose train-mode batch statistics span all ranks of the default process group.

    Same arguments, parameters, buffers and conventions as :class:`BatchNorm1d`. Every rank must
    run forward and backward in train mode together (each pass is a collective).
    """

    _global_count: float | None = None

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N_r, D) on rank r -> out (N_r, D), normalised with the statistics of all ranks' rows."""
        if not self.training or _world_size() == 1:
            self._global_count = None
            return super().forward(x)
        x2 = self._flat(x)
        acc = torch.float64 if x.dtype in (torch.float16, torch.bfloat16, torch.float32) else x.dtype
        x_acc = x2.to(acc)
        d = self.in_features
        stats = torch.cat([x_acc.new_full((1,), x2.shape[0]), x_acc.sum(0), x_acc.square().sum(0)])
        _all_reduce(stats, "batch statistics")
        n = stats[0]
        if n.item() == 0:
            raise ValueError("SyncBatchNorm: the global batch is empty (every rank passed 0 rows)")
        mean = stats[1 : d + 1] / n
        var = (stats[d + 1 :] / n - mean.square()).clamp_min_(0)
        m = self.momentum
        self.running_mean.mul_(m).add_(mean.to(self.running_mean.dtype), alpha=1 - m)
        self.running_var.mul_(m).add_(var.to(self.running_var.dtype), alpha=1 - m)
        inv_std = (var + self.eps).rsqrt_().to(x.dtype)
        xhat = (x2 - mean.to(x.dtype)) * inv_std
        self._cache = (xhat, inv_std, True, x.shape)
        self._global_count = float(n.item())
        gamma, beta = self.gamma.data.to(x.dtype), self.beta.data.to(x.dtype)
        return (xhat * gamma + beta).reshape(x.shape)

    @torch.no_grad()
    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        """dout (N_r, D) -> dx (N_r, D); adds this rank's sum_n dout * xhat to gamma.grad and sum_n dout
        to beta.grad."""
        n, self._global_count = self._global_count, None
        if n is None:
            return super().backward(dout)
        xhat, inv_std, _, shape = self._take_cache()
        d = dout.reshape(xhat.shape)
        local = torch.cat([d.sum(0), (d * xhat).sum(0)])
        self.beta.accumulate(local[: self.in_features].to(self.beta.data.dtype))
        self.gamma.accumulate(local[self.in_features :].to(self.gamma.data.dtype))
        sums = local.clone()  # all-reduced in place; the parameters keep this rank's sums
        _all_reduce(sums, "gradient sums")
        gamma = self.gamma.data.to(d.dtype)
        mean_dxhat = sums[: self.in_features] * gamma / n
        mean_dxhat_xhat = sums[self.in_features :] * gamma / n
        dx = d * gamma - mean_dxhat - xhat * mean_dxhat_xhat
        return (dx * inv_std).reshape(shape)
