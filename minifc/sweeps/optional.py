"""Optuna, imported only when a sweep needs it: the core package works without it."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import SweepError

__all__ = ["SWEEP_HINT", "import_optuna"]

SWEEP_HINT = "pip install 'minifc[sweep]'"


def import_optuna() -> ModuleType:
    """The ``optuna`` module, its logging turned down to errors.

    Raises:
        SweepError: optuna is not installed, with the install command.
    """
    try:
        optuna = importlib.import_module("optuna")
    except ImportError:
        raise SweepError(f"minifc sweep needs optuna, which is not installed: {SWEEP_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials go in the table, with their reason
    return optuna
