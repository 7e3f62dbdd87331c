"""Making model state identical on every rank: rank 0's start broadcast, buffers averaged before use.

Both work in place on the tensors given (``Parameter.data`` for a Parameter) and move everything of a
dtype in one collective. Before the first transfer the ranks compare the names, shapes and dtypes, so
that ranks holding different models fail with a clear error instead of exchanging mixed-up values.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from .collectives import TensorSource, apply_flat, check_same_on_all_ranks, flat_groups, named_tensors
from .errors import DistributedError
from .rank import get_rank, get_world_size, require_process_group

__all__ = ["broadcast_parameters", "average_buffers"]


def _describe(named: list[tuple[str, torch.Tensor]]) -> str:
    return "; ".join(f"{name} {tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}" for name, t in named)


def broadcast_parameters(params: TensorSource, buffers: TensorSource = (), src: int = 0, group: Any = None) -> None:
    """Overwrite every rank's parameters and buffers (e.g. BatchNorm running statistics) with rank
    ``src``'s, in place, so that all ranks start from the same model.

    ``params``: ``model.params``, ``net.parameters()``, ``net.named_parameters()`` or tensors;
    ``buffers``: ``dict(net.named_buffers())`` or the like. Every rank must pass the same names,
    shapes and dtypes in the same order (checked: :class:`DistributedError` naming the ranks).
    """
    require_process_group("broadcast_parameters")
    world = get_world_size(group)
    if not 0 <= src < world:
        raise DistributedError(f"broadcast_parameters: src={src} is not a rank of a group of {world}")
    named = named_tensors(params, "parameter") + named_tensors(buffers, "buffer")
    check_same_on_all_ranks(_describe(named), "the parameters and buffers to broadcast", group)
    tensors = [t for _, t in named]
    global_src = src if group is None else dist.get_global_rank(group, src)
    with torch.no_grad():
        for idx, flat in flat_groups(tensors):
            try:
                dist.broadcast(flat, src=global_src, group=group)
            except RuntimeError as e:
                raise DistributedError(
                    f"broadcast of the parameters from rank {src} failed on rank {get_rank(group)}: {e}"
                ) from e
            apply_flat(tensors, idx, flat)


def average_buffers(buffers: TensorSource, group: Any = None) -> None:
    """Make buffers identical on every rank before evaluation or saving, in place.

    Floating-point buffers (BatchNorm running mean and variance, which each rank updates from its own
    batches) become their mean over the ranks; others (counters) take rank 0's value.
    No-op without a process group or with one rank.
    """
    named = named_tensors(buffers, "buffer")
    if get_world_size(group) == 1 or not named:
        return
    check_same_on_all_ranks(_describe(named), "the buffers to average", group)
    tensors = [t for _, t in named]
    world = get_world_size(group)
    with torch.no_grad():
        for idx, flat in flat_groups(tensors):
            try:
                if flat.is_floating_point():
                    dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
                    flat.div_(world)
                else:
                    dist.broadcast(flat, src=0 if group is None else dist.get_global_rank(group, 0), group=group)
            except RuntimeError as e:
                raise DistributedError(f"averaging buffers failed on rank {get_rank(group)}: {e}") from e
            apply_flat(tensors, idx, flat)
