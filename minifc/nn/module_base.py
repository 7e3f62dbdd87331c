"""The base of every layer: :class:`Module`, whose children, parameters and buffers are found from its
attributes (like ``torch.nn.Module``); the layers themselves are in :mod:`minifc.nn.modules`."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ..errors import ShapeError
from ..validate import check_float_dtype
from .parameter import Parameter

__all__ = ["Module"]


class Module:
    """Base class: children, parameters and buffers are found from attributes, like ``torch.nn``.

    Subclasses implement ``forward(x)`` (keeping whatever backward needs on ``self``) and
    ``backward(dout) -> dx``, which must add every parameter's gradient with ``Parameter.accumulate``.
    """

    #: what the layer does under a mixed-precision policy (:mod:`minifc.nn.mixed`); None: not declared
    precision: str | None = None
    training: bool
    _parameters: dict[str, Parameter]
    _modules: dict[str, Module]
    _buffers: dict[str, torch.Tensor]

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: object) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        if not isinstance(value, (Parameter, Module)) and not (
            name in d["_parameters"] or name in d["_modules"] or name in d["_buffers"]
        ):
            object.__setattr__(self, name, value)  # a plain attribute, e.g. a cache set on every forward
            return
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            if not value.name:
                value.name = name
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, tensor: torch.Tensor) -> None:
        """Keep a non-trainable tensor (e.g. running statistics) in state_dict and ``to()``."""
        object.__setattr__(self, name, tensor)
        self._buffers[name] = tensor

    # -- computation --------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dout: torch.Tensor) -> torch.Tensor | None:
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    # -- traversal ----------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def modules(self) -> Iterator[Module]:
        yield self
        for child in self._modules.values():
            yield from child.modules()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, p in self._parameters.items():
            yield prefix + name, p
        for cname, child in self._modules.items():
            yield from child.named_parameters(f"{prefix}{cname}.")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
        for name, b in self._buffers.items():
            yield prefix + name, b
        for cname, child in self._modules.items():
            yield from child.named_buffers(f"{prefix}{cname}.")

    # -- state --------------------------------------------------------------------------------
    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def to(self, device: torch.device | str | torch.dtype | None = None, dtype: torch.dtype | None = None) -> Module:
        """Move every parameter and buffer (floating-point ones change dtype) in place; returns self.

        Like ``torch.nn.Module.to``, a dtype may be given alone as the first argument: ``m.to(torch.float64)``.
        """
        if isinstance(device, torch.dtype):
            if dtype is not None:
                raise TypeError("Module.to: got a dtype both as the first argument and as dtype=")
            device, dtype = None, device
        if dtype is not None:
            check_float_dtype(dtype, f"{type(self).__name__}.to: dtype")

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        for m in self.modules():
            for p in m._parameters.values():
                p.data = move(p.data)
                p.grad = None if p.grad is None else move(p.grad)
            for name, b in list(m._buffers.items()):
                m.register_buffer(name, move(b))
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors keyed by dotted name: every parameter and buffer."""
        sd = {name: p.data for name, p in self.named_parameters()}
        sd.update(self.named_buffers())
        return sd

    def load_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True) -> None:
        """Copy tensors from ``state`` into the parameters and buffers of the same name."""
        own_params = dict(self.named_parameters())
        own_buffers = {name for name, _ in self.named_buffers()}
        if strict:
            missing = sorted((set(own_params) | own_buffers) - set(state))
            extra = sorted(set(state) - set(own_params) - own_buffers)
            if missing or extra:
                raise KeyError(f"{type(self).__name__}.load_state_dict: missing {missing}, unexpected {extra}")
        for name, value in state.items():
            if name in own_params:
                p = own_params[name]
                if tuple(value.shape) != tuple(p.data.shape):
                    raise ShapeError(
                        f"load_state_dict: {name} has shape {tuple(value.shape)} in the state but "
                        f"{tuple(p.data.shape)} in the module"
                    )
                # copied into a tensor laid out like the module's own (same values, same kernels)
                p.data = torch.empty_like(p.data).copy_(value)
            elif name in own_buffers:
                owner, _, attr = name.rpartition(".")
                module = self._submodule(owner)
                old = module._buffers[attr]
                module.register_buffer(attr, value.to(device=old.device, dtype=old.dtype).clone())

    def _submodule(self, dotted: str) -> Module:
        module = self
        for part in filter(None, dotted.split(".")):
            module = module._modules[part]
        return module

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")
