"""Naming the component whose code raised: a layer (with the plugin that registered its class), an
update rule or a regularizer, instead of letting a bare torch error surface from deep inside a step."""

from __future__ import annotations

import torch

from ..errors import MinifcError
from ..nn.modules import Module
from .components import registered_provider

__all__ = ["describe", "layer_provider", "passes_through", "component_failure", "layer_failure", "backward_of"]


def describe(module: Module) -> str:
    """How errors name a layer: its ``describe()`` when it has one, else class and ``extra_repr``."""
    fn = getattr(module, "describe", None)
    return fn() if callable(fn) else f"{type(module).__name__}({module.extra_repr()})"


def layer_provider(module: Module) -> str:
    """The plugin that registered ``module``'s class, else where the class is defined."""
    cls = type(module)
    provider = registered_provider(cls)
    if provider is not None:
        return f"plugin {provider}"
    return f"class {cls.__module__}.{cls.__qualname__}"


def passes_through(e: BaseException) -> bool:
    """Errors that are not re-worded: minifc's own (they name their culprit) and running out of memory."""
    return isinstance(e, (MinifcError, MemoryError, torch.OutOfMemoryError))


def component_failure(who: str, name: str | None, e: Exception) -> MinifcError:
    """The error for a component (``who``: "update rule 'x' (plugin)") that raised on parameter ``name``
    (None: on every parameter at once, a rule's foreach form)."""
    where = f"parameter {name!r}" if name is not None else "the parameters (its foreach form)"
    return MinifcError(f"{who} raised {type(e).__name__} on {where}: {e}")


def layer_failure(module: Module, dout: object, given_by: Module | None, e: Exception) -> MinifcError:
    """The error for a layer whose backward raised, naming the layer whose dx it was given."""
    message = f"the backward of layer {describe(module)} ({layer_provider(module)}) raised {type(e).__name__}: {e}"
    if given_by is not None and isinstance(dout, torch.Tensor):
        message += (
            f". The gradient it was given, of shape {tuple(dout.shape)}, is the dx returned by the layer above it, "
            f"{describe(given_by)} ({layer_provider(given_by)}): check that its backward returns dx shaped like "
            f"its input"
        )
    return MinifcError(message)


def backward_of(module: Module, dout: torch.Tensor, given_by: Module | None) -> torch.Tensor | None:
    """``module.backward(dout)``; an error from inside it (a torch error, a plugin's bug) is raised as a
    :class:`MinifcError` naming the layer and ``given_by``, the layer whose backward returned ``dout``."""
    try:
        return module.backward(dout)
    except Exception as e:
        if passes_through(e):
            raise
        raise layer_failure(module, dout, given_by, e) from e
