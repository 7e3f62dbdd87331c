"""A trainable tensor and its gradient: the unit every layer, model and update strategy shares."""

from __future__ import annotations

import torch

__all__ = ["Parameter"]


class Parameter:
    """A trainable tensor ``data`` with its gradient ``grad`` (None until a backward pass).

    ``data`` lives in a dict entry: the Parameter's own by default, or an entry of a model's classic
    ``params`` dict after :meth:`bind`, so that ``model.params[name] = tensor`` and ``p.data = tensor``
    are the same assignment.

    ``sink``: None, or ``(target, beta, alpha)`` set by a trainer for one backward pass when its update
    rule is affine in the gradient (sgd: the weight itself, momentum: the velocity). A layer that can
    (``Linear``) then forms ``target = beta * target + alpha * grad`` inside its weight-gradient product
    and leaves ``grad`` None: no gradient tensor, no separate update pass. Layers that cannot ignore it.
    """

    __slots__ = ("_store", "_key", "grad", "name", "sink")

    def __init__(self, data: torch.Tensor, name: str = "") -> None:
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"Parameter {name!r}: data must be a torch.Tensor, got {type(data).__name__}")
        self._store: dict[str, torch.Tensor] = {"data": data}
        self._key = "data"
        self.grad: torch.Tensor | None = None
        self.name = name
        self.sink: tuple[torch.Tensor, float, float] | None = None

    @property
    def data(self) -> torch.Tensor:
        return self._store[self._key]

    @data.setter
    def data(self, value: torch.Tensor) -> None:
        self._store[self._key] = value

    def bind(self, store: dict[str, torch.Tensor], key: str) -> None:
        """Keep ``data`` in ``store[key]`` from now on; the entry takes the current tensor unless it
        already holds one."""
        store.setdefault(key, self.data)
        self._store, self._key = store, key

    def accumulate(self, grad: torch.Tensor) -> None:
        """Add ``grad`` (same shape as data) into :attr:`grad`."""
        if self.grad is None:
            self.grad = grad
        else:
            self.grad = self.grad + grad

    @property
    def shape(self) -> torch.Size:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter({self.name or '?'}, shape={tuple(self.data.shape)}, dtype={self.data.dtype})"
