"""minifc plugin: the strong fully-connected CIFAR-10 recipe, registered as the example ``best``
(``minifc example best``; the function :func:`minifc_recipes.best.best`), and its components:

- schedule ``one_cycle``: the one-cycle policy (:func:`one_cycle`);
- loss ``softmax_smooth``: label-smoothed softmax cross-entropy (smoothing 0.1; other values with
  :func:`smoothed_softmax_loss`);
- layers ``gelu`` and ``residual_mlp`` (pre-LayerNorm inverted-bottleneck residual block);
- helpers :func:`fit_zca` / :func:`zca_apply` (input whitening, a fixed preprocessing),
  :func:`fit_pca` (PCA whitening to k dimensions) with :class:`ProjectedViews` (crops and mirrors of
  projected rows), :class:`ProjectedWarps` (random rotations and zooms of projected rows),
  :class:`MixUp` (an augment and a loss sharing each batch's mixing), :class:`CutMix` (the same with
  a box of the partner image pasted in),
  :func:`warmup_cosine_steps` (a schedule with its warm-up in steps) and, for training inside a
  time budget, :class:`FittedSchedule` and :class:`BudgetClock`.
"""

from __future__ import annotations

import math

from minifc.registry.hookspecs import Register, hookimpl
from minifc.validate import Interval

from . import best
from .budget import BudgetClock, FittedSchedule
from .cutmix import CutMix
from .layers import GELU, ResidualMLP
from .losses import DEFAULT_SMOOTHING, smoothed_softmax_loss, softmax_smooth
from .mixup import MixUp
from .pca import Projection, fit_pca
from .preprocess import Whitening, fit_zca
from .recipe import TIERS, Recipe
from .schedules import one_cycle, warmup_cosine_steps
from .sweeps import best_60s
from .views import ProjectedViews, ViewAveraged
from .warps import ProjectedWarps

__version__ = "0.3.0"
__all__ = [
    "Recipe",
    "TIERS",
    "ViewAveraged",
    "ProjectedViews",
    "ProjectedWarps",
    "Projection",
    "fit_pca",
    "MixUp",
    "CutMix",
    "BudgetClock",
    "FittedSchedule",
    "GELU",
    "ResidualMLP",
    "DEFAULT_SMOOTHING",
    "softmax_smooth",
    "smoothed_softmax_loss",
    "Whitening",
    "fit_zca",
    "warmup_cosine_steps",
    "one_cycle",
]


def _default_smoothing_loss(scores, y):  # noqa: ANN001, ANN202 - the registry's loss form
    return softmax_smooth(scores, y, DEFAULT_SMOOTHING)


@hookimpl
def minifc_register_layers(register: Register) -> None:
    register("gelu", GELU, description="x * Phi(x) (exact GELU)")
    register(
        "residual_mlp",
        ResidualMLP,
        description="pre-LayerNorm inverted-bottleneck residual block x + W2 act(W1 LN(x))",
        check_kwargs={"expansion": 2},
    )


@hookimpl
def minifc_register_losses(register: Register) -> None:
    register(
        "softmax_smooth",
        _default_smoothing_loss,
        description=f"softmax cross-entropy with label smoothing {DEFAULT_SMOOTHING}",
    )


@hookimpl
def minifc_register_schedules(register: Register) -> None:
    register(
        "one_cycle",
        one_cycle,
        description="one-cycle policy: cosine up to the base rate over pct_start of the steps, then down",
        bounds={
            "pct_start": Interval(0.0, 1.0, low_open=True, high_open=True),
            "div_factor": (1.0, math.inf),
            "final_div_factor": (1.0, math.inf),
        },
    )


@hookimpl
def minifc_register_sweep_presets(register: Register) -> None:
    register(
        "best-60s",
        best_60s,
        description="the 60-second tier of `minifc example best`: learning rate, weight decay, warm-up, smoothing, "
        "dropout, width, PCA dims, padding (each trial a fresh 60 s run; use --workers 1)",
    )


@hookimpl
def minifc_register_examples(register: Register) -> None:
    register(
        "best",
        best.best,
        description="the strongest fully-connected recipe within a time budget (--budget SECONDS, default 15 "
        "minutes): whitening, batchnorm, AdamW, test-time views",
        budget=True,
        settings=("recipe", "started_at"),
    )
