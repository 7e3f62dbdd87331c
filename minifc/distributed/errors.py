"""The errors of data-parallel training."""

from __future__ import annotations

from ..errors import MinifcError

__all__ = ["DistributedError", "ParameterDriftError"]


class DistributedError(MinifcError, RuntimeError):
    """Setting up or running a process group failed: bad launch environment, a rank that stopped or
    timed out, ranks that disagree on the model."""


class ParameterDriftError(DistributedError):
    """The parameters of some rank(s) are no longer identical to rank 0's."""
