"""``no_grad``: the decorator every layer, loss and update rule runs under (minifc never uses autograd).

A module of its own so that update rules and plugins need not import the layer math for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import torch

__all__ = ["no_grad"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def no_grad(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run ``fn`` under ``torch.no_grad()``, at no cost when gradients are already off.

    Same behaviour as ``@torch.no_grad()``, whose per-call context object costs more than the small
    kernels minifc runs; the modules, the models and the Trainer run a whole step under one ``no_grad``.
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if torch.is_grad_enabled():
            with torch.no_grad():
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)

    return wrapper
