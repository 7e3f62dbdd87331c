"""Gradient buckets: the parameters' gradients packed into a few flat tensors, one all-reduce each.

Parameters are assigned in the order given (the backward order: last layer first) to the open
bucket of their dtype and device; a bucket closes once it holds ``cap_bytes`` or more, so one
parameter larger than the cap gets a bucket of its own. Each parameter owns a slice of its bucket's
flat tensor, laid out like the parameter (a column-major Linear weight keeps a column-major
gradient, which the update rules' elementwise kernels run fastest on).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..nn.modules import Parameter
from .errors import DistributedError

__all__ = ["Slot", "Bucket", "plan_buckets"]


@dataclass(frozen=True)
class Slot:
    """Where one parameter's gradient sits in its bucket: ``flat[offset : offset + numel]`` with the
    parameter's shape and (dense) strides."""

    name: str
    param: Parameter
    offset: int
    numel: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


class Bucket:
    """Gradients of several parameters of one dtype and device, in one flat tensor.

    Per step: :meth:`fill` each slot (a copy of the parameter's gradient), all-reduce :attr:`flat`,
    then :meth:`view` gives each parameter's reduced gradient. The flat tensor is allocated once
    and reused from step to step.
    """

    def __init__(self, index: int, dtype: torch.dtype, device: torch.device) -> None:
        self.index, self.dtype, self.device = index, dtype, device
        self.slots: list[Slot] = []
        self.numel = 0
        self.flat: torch.Tensor | None = None
        self._views: list[torch.Tensor] = []
        self._filled: list[bool] = []
        self.filled_count = 0

    def add(self, name: str, param: Parameter) -> None:
        data = param.data
        strides = tuple(torch.empty_like(data, device="meta").stride())  # data's layout when dense, else row-major
        self.slots.append(Slot(name, param, self.numel, data.numel(), tuple(data.shape), strides))
        self._filled.append(False)
        self.numel += data.numel()

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize

    @property
    def complete(self) -> bool:
        """Every slot holds this step's gradient."""
        return self.filled_count == len(self.slots)

    def names(self) -> list[str]:
        return [s.name for s in self.slots]

    def tensor(self) -> torch.Tensor:
        """The flat tensor (N,) of every slot, allocated on first use and kept."""
        if self.flat is None:
            self.flat = torch.empty(self.numel, dtype=self.dtype, device=self.device)
            self._views = [self.flat.as_strided(s.shape, s.strides, s.offset) for s in self.slots]
        return self.flat

    def view(self, i: int) -> torch.Tensor:
        """Slot ``i`` of the flat tensor as a tensor shaped (and laid out) like its parameter."""
        self.tensor()
        return self._views[i]

    def fill(self, i: int, grad: torch.Tensor) -> None:
        """Copy ``grad`` (shaped like slot i's parameter) into slot i."""
        slot = self.slots[i]
        if tuple(grad.shape) != slot.shape:
            raise DistributedError(
                f"gradient of parameter {slot.name!r} has shape {tuple(grad.shape)}, expected {slot.shape}"
            )
        self.view(i).copy_(grad)
        if not self._filled[i]:
            self._filled[i] = True
            self.filled_count += 1

    def is_filled(self, i: int) -> bool:
        return self._filled[i]

    def reset(self) -> None:
        """Forget this step's fills (the flat tensor is kept)."""
        self._filled = [False] * len(self.slots)
        self.filled_count = 0

    def describe(self) -> str:
        """Dtype, device type and every slot, e.g. for comparing the plan across ranks."""
        slots = ", ".join(f"{s.name}{list(s.shape)}/{list(s.strides)}" for s in self.slots)
        return f"bucket {self.index} ({str(self.dtype).removeprefix('torch.')}, {self.device.type}): {slots}"


def plan_buckets(named: list[tuple[str, Parameter]], cap_bytes: int) -> list[Bucket]:
    """Assign parameters, given in backward order, to buckets (see the module docstring)."""
    buckets: list[Bucket] = []
    open_buckets: dict[tuple[torch.dtype, torch.device], Bucket] = {}
    for name, p in named:
        key = (p.data.dtype, p.data.device)
        bucket = open_buckets.get(key)
        if bucket is None:
            bucket = open_buckets[key] = Bucket(len(buckets), *key)
            buckets.append(bucket)
        bucket.add(name, p)
        if bucket.nbytes >= cap_bytes:
            del open_buckets[key]
    return buckets
