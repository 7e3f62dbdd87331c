"""Metrics over the whole data set when each rank evaluated its own shard."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from .errors import DistributedError
from .rank import collective_device, get_rank, get_world_size

__all__ = ["all_reduce_counts", "all_reduce_accuracy"]


def _count(value: float | torch.Tensor, what: str) -> int:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"all_reduce_accuracy: {what} must be a single number, got shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ValueError(f"all_reduce_accuracy: {what} must be a whole count, got {value!r}")
    if value < 0:
        raise ValueError(f"all_reduce_accuracy: {what} must be >= 0, got {value}")
    return int(value)


def all_reduce_counts(*counts: int | torch.Tensor, group: Any = None) -> list[int]:
    """Each count summed over the ranks (exact, int64), the same result on every rank."""
    values = [_count(c, f"count {i}") for i, c in enumerate(counts)]
    if get_world_size(group) == 1:
        return values
    t = torch.tensor(values, dtype=torch.int64, device=collective_device(group))
    try:
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    except RuntimeError as e:
        raise DistributedError(f"all_reduce of counts failed on rank {get_rank(group)}: {e}") from e
    return [int(v) for v in t.tolist()]


def all_reduce_accuracy(correct: int | torch.Tensor, total: int | torch.Tensor, group: Any = None) -> float:
    """Accuracy over all ranks' shards: sum of ``correct`` / sum of ``total`` (the same on every rank).

    ``correct`` and ``total`` are this rank's counts. Raises ValueError when no rank evaluated anything.
    """
    c, t = _count(correct, "correct"), _count(total, "total")
    if c > t:
        raise ValueError(f"all_reduce_accuracy: correct={c} is more than total={t}")
    c, t = all_reduce_counts(c, t, group=group)
    if t == 0:
        raise ValueError("all_reduce_accuracy: no rank evaluated any sample (total is 0 on every rank)")
    return c / t
