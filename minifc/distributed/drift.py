"""Verifying that data-parallel ranks still hold identical parameters (a cheap periodic checksum).

Every rank applies the same update to the same averaged gradient, so parameters stay bit-identical;
a rank that drifts (a skipped step, a non-deterministic kernel, a bug) would silently train another
model. The checksum of a parameter is the sum of its values' bit patterns as integers: exact and
independent of the summation order and thread count, and changed by any single-bit difference.
"""

from __future__ import annotations

from typing import Any

import torch

from ..validate import check_positive_int
from .collectives import TensorSource, all_gather_rows, named_tensors
from .errors import ParameterDriftError
from .rank import get_world_size

__all__ = ["parameter_checksums", "check_in_sync"]

_INT_OF_SIZE = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int32}


def parameter_checksums(params: TensorSource) -> torch.Tensor:
    """One int64 checksum per tensor (bit patterns summed as integers), on the CPU: (P,) int64."""
    sums = []
    for name, t in named_tensors(params, "parameter"):
        word = _INT_OF_SIZE.get(t.element_size())
        if word is None:
            raise TypeError(f"parameter_checksums: {name!r} has dtype {t.dtype}, which has no checksum")
        # 8-byte values split into two int32 words, so that the int64 sum cannot overflow
        bits = t.view(word) if word.itemsize == t.element_size() else t.contiguous().view(word)
        sums.append(bits.sum(dtype=torch.int64))
    return torch.stack(sums).cpu() if sums else torch.zeros(0, dtype=torch.int64)


def check_in_sync(params: TensorSource, step: int, every: int = 1, group: Any = None) -> bool:
    """Every ``every`` steps (when ``step % every == 0``): compare the parameters' checksums across
    ranks; raise :class:`ParameterDriftError` on every rank, naming the ranks whose parameters differ
    from rank 0's and the parameters that differ.

    One all-gather of P integers (P = number of parameters). Returns whether it checked (False on the
    other steps, and without a process group or with one rank).
    """
    check_positive_int(every, "check_in_sync: every")
    if step % every or get_world_size(group) == 1:
        return False
    named = named_tensors(params, "parameter")
    table = all_gather_rows(parameter_checksums(named), group)  # (world, P)
    differ = (table != table[0]).any(dim=1).nonzero().flatten().tolist()
    if differ:
        names = [named[i][0] for i in (table != table[0]).any(dim=0).nonzero().flatten().tolist()]
        shown = ", ".join(repr(n) for n in names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        raise ParameterDriftError(
            f"parameters differ across ranks at step {step}: rank(s) {differ} drifted from rank 0 "
            f"(differing: {shown}); every rank must apply the same update to the same averaged gradient"
        )
    return True
