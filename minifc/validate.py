"""The small argument checks every part of minifc shares: one copy each, one message format."""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["FLOAT_DTYPES", "check_float_dtype", "check_int", "check_lr_range", "check_number"]

#: the dtypes a model's parameters may have (the floating-point ones torch's matmul kernels serve)
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_int(value: Any, name: str, minimum: int | None = None, optional: bool = False) -> Any:
    """``value`` as an int; ValueError naming ``name`` for a bool, a non-integer or one below ``minimum``.
    With ``optional``, None passes through."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}")
    return value


def check_number(value: Any, name: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a finite float within [minimum, maximum]; ValueError naming ``name`` otherwise."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and minimum is not None and value < minimum:
        ok = False
    if ok and maximum is not None and value > maximum:
        ok = False
    if not ok:
        lo = f" >= {minimum}" if minimum is not None else ""
        hi = f"{' and' if lo else ''} <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be a finite number{lo}{hi}, got {value!r}")
    return float(value)


def check_float_dtype(dtype: Any, name: str) -> torch.dtype:
    """``dtype`` when it is one of :data:`FLOAT_DTYPES`; TypeError naming ``name`` otherwise (integer,
    bool and complex parameters cannot be trained by gradient steps)."""
    if not isinstance(dtype, torch.dtype) or dtype not in FLOAT_DTYPES:
        known = ", ".join(str(d).removeprefix("torch.") for d in FLOAT_DTYPES)
        raise TypeError(f"{name} must be a floating-point dtype ({known}), got {dtype!r}")
    return dtype


def check_lr_range(lr: float, lr_decay: float, epochs: int, dtype: torch.dtype, lr_name: str, decay_name: str) -> None:
    """ValueError naming the option unless the learning rate, and ``lr * lr_decay**e`` for every epoch e up
    to ``epochs``, are finite in ``dtype`` (torch casts the rate to the parameters' dtype in the update:
    1e39 overflows float32). Python float arithmetic only."""
    limit = float(torch.finfo(dtype).max)
    kind = str(dtype).removeprefix("torch.")
    if lr > limit:
        raise ValueError(f"{lr_name} must be at most the largest {kind} ({limit:.3g}), got {lr!r}")
    if lr <= 0 or lr_decay <= 1 or epochs <= 0:
        return
    if math.log(lr) + epochs * math.log(lr_decay) > math.log(limit):
        raise ValueError(
            f"{decay_name} {lr_decay!r} takes the learning rate {lr!r} beyond the largest {kind} ({limit:.3g}) "
            f"within {epochs} epochs (lr * lr_decay**epochs)"
        )
