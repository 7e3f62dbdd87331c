"""Larger nets when the machine is fast: the next tiers measured on this machine before training.

The CPU tiers (:data:`minifc_recipes.recipe.TIERS`) were chosen by budget on one 2-core machine. On a
machine several times as fast, a budget's tier gets several times the epochs it was tuned for, and
then overfits (the short tiers) or reaches its epoch cap long before the budget ends (the longest). The
next tier in :data:`minifc_recipes.recipe.STEP_UP` would use the time better once enough of its epochs
fit: :func:`step_up` times a few of its training steps (on random data shaped like its input, with a
stand-in for its augmentation), predicts its epochs, and climbs while the prediction reaches the tier's
minimum.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .losses import smoothed_softmax_loss
from .recipe import STEP_UP, Recipe

__all__ = ["TRAIN_SHARE", "SIZE_SETTINGS", "SpeedCheck", "measure_step_seconds", "step_up"]

TRAIN_SHARE = 0.9
"""The share of the time left that training is predicted to get (the rest: preprocessing, evaluations)."""

SIZE_SETTINGS = ("pca_dims", "pca_samples", "zca_eps", "width", "depth", "residual", "expansion",
                 "batch_size")
"""Settings that size the net and its input: given explicitly, they are kept, and there is no climb."""


@dataclass
class SpeedCheck:
    """One tier measured on this machine: seconds per training step, the epochs predicted to fit, and the
    epochs it needs to be trained instead of the tier below it."""

    tier: str
    step_seconds: float
    epochs: float
    needed: float


def measure_step_seconds(
    recipe: Recipe, num_classes: int, device: torch.device, steps: int = 6, warmup: int = 2,
    precision: str | None = None,
) -> float:
    """Seconds per training step of ``recipe``'s net and update rule at its batch size, on random inputs
    of its width (``pca_dims``, or 3072), the fastest of ``steps`` after ``warmup``. The augmentation is a
    stand-in of the same cost: one (k, k) product per batch for the projected views; ``precision`` is the
    Trainer's (None: float32). The global RNG is left as it was."""
    from minifc.builder import build_net
    from minifc.data.augment import crop_flip
    from minifc.training.trainer import Trainer

    dims = recipe.pca_dims or 3072
    n = recipe.batch_size * 2
    with torch.random.fork_rng(devices=[]):
        g = torch.Generator().manual_seed(0)
        X = torch.randn(n, dims, generator=g).to(device)
        y = torch.randint(num_classes, (n,), generator=g).to(device)
        if recipe.pca_dims is not None:
            view_map = torch.randn(dims, dims, generator=g).div_(dims**0.5).to(device)

            def augment(rows: torch.Tensor) -> torch.Tensor:
                return rows.mm(view_map)

        else:
            augment = crop_flip(recipe.padding, recipe.flip)
        net = build_net(recipe.layers(), dims, num_classes, device=device)
        loss: Any = smoothed_softmax_loss(recipe.smoothing) if recipe.smoothing else "softmax"
        trainer = Trainer(
            net,
            {"X_train": X, "y_train": y, "X_val": X[:1], "y_val": y[:1]},
            update_rule=recipe.update_rule,
            optim_config={"learning_rate": recipe.learning_rate, "weight_decay": recipe.weight_decay},
            loss=loss,
            batch_size=recipe.batch_size,
            device=device,
            seed=0,
            augment=augment,
            verbose=False,
            progress=False,
            precision=precision,
        )
        times = []
        for i in range(warmup + steps):
            start = time.perf_counter()
            trainer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return min(times)


def step_up(
    recipe: Recipe,
    extra: dict[str, Any],
    seconds_left: float,
    n_train: int,
    num_classes: int,
    device: torch.device,
    measure: Callable[[Recipe, int, torch.device], float] = measure_step_seconds,
) -> tuple[Recipe, list[SpeedCheck]]:
    """The recipe to train for ``seconds_left`` on this machine, and the measurements behind the choice.

    ``recipe`` is the budget's tier (from ``Recipe.from_options(extra, ...)``). While its tier has a next
    one in :data:`~minifc_recipes.recipe.STEP_UP`, the next is measured (``measure(recipe, num_classes,
    device)``: seconds per step) and its epochs predicted (``TRAIN_SHARE * seconds_left`` over the
    seconds of an epoch of ``n_train`` images); it is taken when they reach its minimum (and there are
    more training images than its PCA dimensions). A tier named in ``extra["recipe"]["tier"]``, or any of
    :data:`SIZE_SETTINGS` there, keeps the recipe as it is; the other settings in ``extra["recipe"]``
    apply to whichever tier is taken. Nets measured once are not measured again (two tiers may share one).
    """
    overrides = dict(extra.get("recipe") or {})
    checks: list[SpeedCheck] = []
    if overrides.get("tier") is not None or any(key in overrides for key in SIZE_SETTINGS):
        return recipe, checks
    seconds_by_net: dict[tuple, float] = {}
    while recipe.tier in STEP_UP:
        name, min_epochs = STEP_UP[str(recipe.tier)]
        larger = Recipe.from_options({"recipe": {**overrides, "tier": name}}, budget=recipe.budget_s)
        if larger.pca_dims is not None and larger.pca_dims >= min(n_train, larger.pca_samples):
            break  # too few training images to fit its projection
        crops = (larger.padding, larger.flip) if larger.pca_dims is None else None  # what the stand-in depends on
        net = (larger.pca_dims, crops, repr(larger.layers()), larger.batch_size, larger.update_rule, larger.smoothing)
        if net not in seconds_by_net:
            seconds_by_net[net] = measure(larger, num_classes, device)
        seconds = seconds_by_net[net]
        steps_per_epoch = max(n_train // min(larger.batch_size, n_train), 1)
        epochs = TRAIN_SHARE * seconds_left / (max(seconds, 1e-9) * steps_per_epoch)
        checks.append(SpeedCheck(name, seconds, epochs, min_epochs))
        if epochs < min_epochs:
            break
        recipe = larger
    return recipe, checks
