"""The small argument checks every part of minifc shares: one copy each, one message format.

Ranges (``bounds``) have one convention everywhere, for update rules, regularizers and config keys:
a bound ``(low, high)`` is **closed**, ``low <= value <= high``; an end that is excluded is declared
open with :class:`Interval` (``Interval(0, 1, high_open=True)`` is ``[0, 1)``, also written
``below(1)``). A number without a declared bound must be ``>= 0``. Every value is also checked to be
a finite number (not a bool), so ``(0, math.inf)`` means "any finite number >= 0".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "FLOAT_DTYPES",
    "Bound",
    "Interval",
    "NON_NEGATIVE",
    "below",
    "as_interval",
    "check_bounds",
    "check_in",
    "check_float_dtype",
    "check_int",
    "check_positive_int",
    "check_lr_range",
    "check_number",
]

#: the dtypes a model's parameters may have (the floating-point ones torch's matmul kernels serve)
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass(frozen=True)
class Interval:
    """The numbers ``low <= x <= high``; an end declared open (``low_open`` / ``high_open``) is excluded."""

    low: float = 0.0
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        """``>= 0``, ``<= 1`` or ``in [0, 1)``: the range as messages print it."""
        low = f"{'>' if self.low_open else '>='} {self.low:g}"
        high = f"{'<' if self.high_open else '<='} {self.high:g}"
        if self.high == math.inf:
            return "" if self.low == -math.inf else low
        if self.low == -math.inf:
            return high
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


#: a declared range: an :class:`Interval`, or ``(low, high)`` meaning the closed interval [low, high]
Bound = Interval | tuple[float, float]

#: the range of a number without a declared bound
NON_NEGATIVE = Interval(0.0, math.inf)


def below(high: float, low: float = 0.0) -> Interval:
    """``[low, high)``: e.g. a momentum or a decay rate, ``below(1.0)``."""
    return Interval(low, high, high_open=True)


def as_interval(bound: Bound, name: str = "bound") -> Interval:
    """``bound`` as an :class:`Interval` (a pair ``(low, high)`` is closed); ValueError naming ``name``
    for anything else."""
    if isinstance(bound, Interval):
        return bound
    ok = isinstance(bound, (tuple, list)) and len(bound) == 2
    if ok and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in bound):
        return Interval(float(bound[0]), float(bound[1]))
    raise ValueError(f"{name} must be (low, high) or a minifc.validate.Interval, got {bound!r}")


def check_bounds(bounds: Mapping[str, Bound] | None, who: str) -> dict[str, Interval]:
    """Declared ``bounds`` as ``{key: Interval}``; ValueError naming ``who`` and the key for a bad one."""
    return {key: as_interval(b, f"{who}: bounds[{key!r}]") for key, b in (bounds or {}).items()}


def check_in(value: Any, name: str, interval: Interval = NON_NEGATIVE) -> float:
    """``value`` when it is a finite number (not a bool) in ``interval``; ValueError naming ``name`` otherwise:
    ``<name> must be a finite number in [0, 1), got 1.0``."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or value not in interval:
        where = f" {interval}" if str(interval) else ""
        raise ValueError(f"{name} must be a finite number{where}, got {value!r}")
    return value


def check_int(value: Any, name: str, minimum: int | None = None, optional: bool = False) -> Any:
    """``value`` as an int; ValueError naming ``name`` for a bool, a non-integer or one below ``minimum``.
    With ``optional``, None passes through."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}")
    return value


def check_positive_int(value: Any, name: str) -> int:
    """``value`` when it is an int >= 1 (not a bool); ValueError ``<name> must be a positive integer, got ...``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_number(value: Any, name: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a finite float within [minimum, maximum]; ValueError naming ``name`` otherwise."""
    low = -math.inf if minimum is None else minimum
    high = math.inf if maximum is None else maximum
    return float(check_in(value, name, Interval(low, high)))


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
