"""The sweep preset ``best-60s`` (``minifc sweep --preset best-60s``): the 60-second tier of ``minifc example best``
searched on its validation accuracy, each trial a fresh ``minifc example best --budget 60`` process."""

from __future__ import annotations

from typing import Any

from .recipe import tier_for

__all__ = ["BUDGET_S", "best_60s"]

BUDGET_S = 60


def best_60s(quick: bool = False) -> dict[str, Any]:
    """Settings of the tier ``minifc example best --budget 60`` picks on a CPU, pinned (``recipe.tier``) so that
    every trial starts from that tier, in the precision ``auto`` picks (bf16-mixed where bfloat16 products are
    fast); searched: learning rate, weight decay, width (one hidden layer: in 60 s a second one trains too few
    epochs), batch size, PCA dimensions, crop padding (1 or 2 pixels), label smoothing and the shift of the
    test-time views (1 or 2 pixels: 18 views). A trial scores ``val_acc_tta``: all 10,000 validation
    images with the views chosen on them, what the test split is then scored with.
    ``quick``: two trials of a 10-second budget, one epoch, 2,000 images."""
    tier, _ = tier_for(BUDGET_S)
    base: dict[str, Any] = {"example": "best", "budget": BUDGET_S, "precision": "auto",
                            "set": {"recipe": {"tier": tier}}}
    search = {
        "recipe.learning_rate": "loguniform(1.5e-3, 6e-3)",
        "recipe.weight_decay": "loguniform(0.03, 0.6)",
        "recipe.width": "categorical(1024, 1536, 2048)",
        "recipe.batch_size": "categorical(256, 512)",
        "recipe.pca_dims": "categorical(256, 384, 512)",
        "recipe.padding": "int(1, 2)",
        "recipe.smoothing": "uniform(0.0, 0.2)",
        "recipe.tta_shift": "int(1, 2)",
    }
    if quick:
        base.update(budget=10, epochs=1, num_train=2000)
        search = {"recipe.learning_rate": search["recipe.learning_rate"]}
    return {"base": base, "search": search, "trials": 2 if quick else 30, "runner": "example",
            "metric": "val_acc_tta"}
