"""The comparison's own error class."""

from __future__ import annotations

from ..errors import MinifcError

__all__ = ["CompareError"]


class CompareError(MinifcError, ValueError):
    """A comparison cannot start or continue: a bad candidate, preset, option or compare folder (the message
    names the culprit)."""
