"""The sweep preset ``best-60s`` (``minifc sweep --preset best-60s``): the 60-second tier of ``minifc example best``
searched on its validation accuracy, each trial a fresh ``minifc example best --budget 60`` process."""

from __future__ import annotations

from typing import Any

from .recipe import tier_for

__all__ = ["BUDGET_S", "best_60s"]

BUDGET_S = 60


def best_60s(quick: bool = False) -> dict[str, Any]:
    """Settings of the tier ``minifc example best --budget 60`` picks on a CPU, pinned (``recipe.tier``) so that
    every trial trains that tier; searched: learning rate, weight decay, warm-up, label smoothing, dropout,
    width, PCA dimensions and crop padding. ``quick``: two trials of a 10-second budget, one epoch, 2,000 images."""
    tier, _ = tier_for(BUDGET_S)
    base: dict[str, Any] = {"example": "best", "budget": BUDGET_S, "set": {"recipe": {"tier": tier}}}
    search = {
        "recipe.learning_rate": "loguniform(5e-4, 8e-3)",
        "recipe.weight_decay": "loguniform(0.01, 0.3)",
        "recipe.warmup_epochs": "uniform(0.1, 1.0)",
        "recipe.smoothing": "uniform(0.0, 0.2)",
        "recipe.dropout": "uniform(0.0, 0.3)",
        "recipe.width": "categorical(1024, 1536, 2048)",
        "recipe.pca_dims": "categorical(256, 384, 512)",
        "recipe.padding": "int(0, 2)",
    }
    if quick:
        base.update(budget=10, epochs=1, num_train=2000)
        search = {"recipe.learning_rate": search["recipe.learning_rate"]}
    return {"base": base, "search": search, "trials": 2 if quick else 30, "runner": "example"}
