"""Fair comparisons of update rules, regularizers and other components (``minifc compare``): each candidate
verified like ``minifc check`` (:mod:`.screening`), tuned with the same budget through the sweep engine and re-run
on fresh seeds (:mod:`.protocol`), measured (:mod:`.measures`), ranked with a noise test (:mod:`.ranking`,
:mod:`.stats`) and reported (:mod:`.report`, :mod:`.plots`). Ready-made comparisons are in :mod:`.presets`.

Like :mod:`minifc.sweeps`, it needs Optuna (``pip install 'minifc[sweep]'``) only once it runs.
"""

from __future__ import annotations

from .errors import CompareError

__all__ = ["CompareError"]
