"""Hyper-parameter sweeps on Optuna: a search space over ``minifc train`` configurations (:mod:`.space`),
one run folder per trial (:mod:`.objective`), a study in a shared storage (:mod:`.storage`, :mod:`.study`),
worker processes (:mod:`.workers`), ready-made sweeps (:mod:`.presets`) and the results (:mod:`.report`).

Optuna is an optional dependency (``pip install 'minifc[sweep]'``): only the modules that talk to it import
it, through :func:`minifc.sweeps.optional.import_optuna`, so this package can be imported without it.
"""

from __future__ import annotations

from .errors import SweepError

__all__ = ["SweepError"]
