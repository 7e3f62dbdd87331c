"""Small collective building blocks shared by the data-parallel helpers.

- :func:`named_tensors` accepts parameters and buffers in the forms minifc code holds them;
- :func:`flat_groups` packs many tensors into one flat tensor per (dtype, device), so that a whole
  model moves in a few collectives instead of one per tensor;
- :func:`check_same_on_all_ranks` compares a description (e.g. of the model) across ranks and names
  the ranks that differ, before a mismatched collective could hang or mix up tensors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.distributed as dist

from ..nn.modules import Parameter
from .errors import DistributedError
from .rank import collective_device, get_rank, lost_ranks

__all__ = ["TensorSource", "named_tensors", "flat_groups", "apply_flat", "all_gather_rows", "check_same_on_all_ranks"]

TensorSource = Mapping[str, torch.Tensor | Parameter] | Iterable[torch.Tensor | Parameter | tuple[str, torch.Tensor]]
"""Parameters or buffers: a mapping name -> tensor or Parameter (``model.params``, ``dict(named_buffers())``),
or an iterable of Parameters, tensors or (name, tensor) pairs (``module.parameters()``, ``named_buffers()``)."""


def named_tensors(items: TensorSource, kind: str = "tensor") -> list[tuple[str, torch.Tensor]]:
    """``items`` as (name, tensor) pairs in their given order; a Parameter stands for its ``data``.

    Unnamed items are called ``{kind}[i]`` (a Parameter by its ``name`` when it has one).
    """
    pairs = items.items() if isinstance(items, Mapping) else items
    out: list[tuple[str, torch.Tensor]] = []
    for i, item in enumerate(pairs):
        name = f"{kind}[{i}]"
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, item = item
        if isinstance(item, Parameter):
            name = item.name if name == f"{kind}[{i}]" and item.name else name
            item = item.data
        if not isinstance(item, torch.Tensor):
            raise TypeError(f"{kind} {name!r} is a {type(item).__name__}, not a tensor or minifc.nn.Parameter")
        out.append((name, item))
    return out


def flat_groups(tensors: list[torch.Tensor]) -> list[tuple[list[int], torch.Tensor]]:
    """Pack the tensors into one new flat tensor per (dtype, device), in order of first appearance.

    Returns ``[(indices into tensors, flat)]``; each tensor's values sit in its logical (row-major) order.
    """
    groups: dict[tuple[torch.dtype, torch.device], list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.dtype, t.device), []).append(i)
    out = []
    for idx in groups.values():
        out.append((idx, torch.cat([tensors[i].reshape(-1) for i in idx])))
    return out


def apply_flat(tensors: list[torch.Tensor], idx: list[int], flat: torch.Tensor) -> None:
    """Copy the values of a flat tensor made by :func:`flat_groups` back into ``tensors`` in place."""
    offset = 0
    for i in idx:
        t = tensors[i]
        n = t.numel()
        t.copy_(flat[offset : offset + n].view(t.shape))
        offset += n


def all_gather_rows(row: torch.Tensor, group: Any = None) -> torch.Tensor:
    """All ranks' 1-D ``row`` (same length everywhere) stacked as (world_size, len(row)), on row's device."""
    device = collective_device(group)
    local = row.to(device)
    rows = [torch.empty_like(local) for _ in range(dist.get_world_size(group))]
    try:
        dist.all_gather(rows, local, group=group)
    except RuntimeError as e:
        rank, lost = get_rank(group), lost_ranks(get_rank(group), dist.get_world_size(group))
        raise DistributedError(f"all_gather on rank {rank} failed (another rank stopped?): {lost}: {e}") from e
    return torch.stack(rows).to(row.device)


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)


def check_same_on_all_ranks(
    description: str, what: str, group: Any = None, on_mismatch: Callable[[list[int]], str] | None = None
) -> None:
    """Raise :class:`DistributedError` on every rank unless ``description`` is the same on all ranks.

    ``what`` names the thing compared ("the model's parameters"); the message names the ranks whose
    description differs from rank 0's and shows this rank's description (``on_mismatch(ranks)`` may
    give a better one).
    """
    digests = all_gather_rows(torch.tensor([_digest(description)], dtype=torch.int64), group)[:, 0]
    differ = [r for r in range(digests.numel()) if digests[r] != digests[0]]
    if differ:
        detail = on_mismatch(differ) if on_mismatch else f"rank {get_rank(group)} has: {description[:500]}"
        raise DistributedError(f"{what} differ across ranks: rank(s) {differ} differ from rank 0; {detail}")
