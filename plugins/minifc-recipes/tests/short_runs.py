"""Short runs of the recipe for the tests: two epochs of a 16-wide net."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from minifc.experiments.example_options import ExampleOptions


def short_options(out: Path, recipe: dict[str, Any]) -> ExampleOptions:
    """The options of a two-epoch run of ``best`` writing to ``out``, with the recipe settings ``recipe``
    over a 16-wide net and batches of 64; skips the test unless the recipe's plugins are installed."""
    for module in ("minifc_norm", "minifc_optim_extra"):
        pytest.importorskip(module, reason="the best recipe needs minifc-norm and minifc-optim-extra")
    extra = {"recipe": {"width": 16, "batch_size": 64, **recipe}, "started_at": time.time()}
    return ExampleOptions(out=out, epochs=2, verbose=False, extra=extra)
