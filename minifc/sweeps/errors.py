"""The sweep's own error class."""

from __future__ import annotations

from ..errors import MinifcError

__all__ = ["SweepError"]


class SweepError(MinifcError, ValueError):
    """A sweep cannot start or continue: a bad search space, storage, preset or sweep folder (the message
    names the culprit)."""
