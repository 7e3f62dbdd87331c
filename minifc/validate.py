"""The small argument checks every part of minifc shares: one copy each, one message format."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["check_int", "check_number"]


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
