"""The settings of the example ``best`` (:class:`Recipe`) and how a time budget picks them (:data:`TIERS`).

A budget selects a tier: the settings that did best on the validation split for that much time on a
2-core CPU (:data:`TIERS`), or on a CUDA device (:data:`CUDA_TIERS`). Settings given explicitly
(``options.extra["recipe"]``, ``minifc example best --set recipe.width=512``) override the tier's.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "BUDGET_S", "TIERS", "TARGETS", "LONGEST", "LONGEST_SETTINGS", "CUDA_TIERS", "CUDA_LONGEST", "CPU_LARGEST",
    "STEP_UP", "Recipe", "tier_for",
    "tier_named", "target_for",
]

BUDGET_S = 15 * 60
"""Default wall-clock budget of the whole example (from the start of the process), in seconds."""

TIERS: list[tuple[float, str, dict[str, Any]]] = [
    # (up to this many seconds, name, settings that differ from the Recipe defaults)
    (
        30,
        "pca256-1x1024",
        {
            "pca_dims": 256,
            "pca_samples": 1024,
            "width": 1024,
            "depth": 1,
            "padding": 0,
            "learning_rate": 2e-3,
            "warmup_epochs": 0.3,
            "tta_shift": 0,
            "weight_decay": 0.05,
        },
    ),
    (
        90,
        "pca384-1x2048",
        {
            "pca_dims": 384,
            "pca_samples": 1536,
            "width": 2048,
            "depth": 1,
            "padding": 1,
            "learning_rate": 2e-3,
            "warmup_epochs": 0.5,
            "tta_shift": 0,
            "weight_decay": 0.05,
        },
    ),
    (
        180,
        "pca384-1x2048-views18",
        {
            "pca_dims": 384,
            "pca_samples": 1536,
            "width": 2048,
            "depth": 1,
            "padding": 1,
            "learning_rate": 2e-3,
            "warmup_epochs": 0.5,
            "tta_shift": 1,
            "weight_decay": 0.05,
        },
    ),
    (
        420,
        "pca512-2x1024",
        {
            "pca_dims": 512,
            "pca_samples": 2048,
            "width": 1024,
            "depth": 2,
            "padding": 2,
            "warmup_epochs": 0.5,
            "weight_decay": 0.05,
        },
    ),
]
"""Budget tiers, shortest first; a budget above the last tier's bound uses :data:`LONGEST`."""


TARGETS: dict[float, float] = {20: 0.54, 60: 0.62, 900: 0.75}
"""Test accuracy (with the views chosen on validation) a budget of at least this many seconds should reach
on a 2-core CPU."""


def target_for(budget_s: float) -> float | None:
    """The target of the longest budget in :data:`TARGETS` not above ``budget_s`` (None below them all)."""
    reached = [seconds for seconds in TARGETS if seconds <= budget_s]
    return TARGETS[max(reached)] if reached else None


LONGEST = "pca512-2x1024-long"
"""The name of the settings for budgets above every tier's bound: the Recipe defaults with
:data:`LONGEST_SETTINGS`."""

LONGEST_SETTINGS: dict[str, Any] = {"batch_size": 512, "learning_rate": 2e-3}
"""What :data:`LONGEST` changes in the Recipe defaults: batches of 512 at twice the learning rate. At a fixed
number of epochs they match batches of 256 at that rate in accuracy and take about 12% less time per epoch on
a 2-core CPU; in a 5- or 15-minute budget the extra epochs added about half a point with views."""


# On a GPU a step of these nets costs about a millisecond whatever their width (kernel launches, not
# arithmetic, bound it), so past the shortest budgets the widest net that still gets its epochs wins.
CUDA_TIERS: list[tuple[float, str, dict[str, Any]]] = [TIERS[0]]
"""Budget tiers on a CUDA device (measured on an H200), shortest first; above the last bound: :data:`CUDA_LONGEST`."""

CUDA_LONGEST: tuple[str, dict[str, Any]] = ("pca1024-2x2048", {"pca_dims": 1024, "width": 2048})
"""(name, settings) for CUDA budgets above every CUDA tier's bound: the Recipe defaults with PCA to 1024
dimensions and 2048-wide layers."""

CPU_LARGEST: tuple[str, dict[str, Any]] = (
    "pca1024-2x2048-b512",
    {**CUDA_LONGEST[1], **LONGEST_SETTINGS},
)
"""(name, settings) of the largest CPU tier, which only a fast machine climbs to (:data:`STEP_UP`): the net of
:data:`CUDA_LONGEST` with the batches and learning rate of :data:`LONGEST_SETTINGS`."""

STEP_UP: dict[str, tuple[str, float]] = {
    "pca256-1x1024": ("pca384-1x2048", 20),
    "pca384-1x2048": ("pca384-1x2048-views18", 40),
    "pca384-1x2048-views18": ("pca512-2x1024", 50),
    "pca512-2x1024": (LONGEST, 150),
    LONGEST: (CPU_LARGEST[0], 120),
}
"""On a CPU: tier -> (the next larger tier, the epochs it must be predicted to fit to be trained instead).

The tiers were tuned on a 2-core machine where each got about 10, 22, 48, 58 and 190 epochs in its own
budget; a machine several times as fast fits the next tier's epochs into a shorter budget, and
:func:`minifc_recipes.speed.step_up` then climbs. The thresholds sit below the epochs each tier had
where it was tuned, and nearly twice or more what the tuning machine predicts for the budget below it."""


def tier_for(budget_s: float, device_type: str = "cpu") -> tuple[str, dict[str, Any]]:
    """(name, settings) of the tier for a budget of ``budget_s`` seconds on a device of type ``device_type``
    (``torch.device.type``: "cuda" picks from :data:`CUDA_TIERS`, anything else from :data:`TIERS`)."""
    tiers, longest = (CUDA_TIERS, CUDA_LONGEST) if device_type == "cuda" else (TIERS, (LONGEST, LONGEST_SETTINGS))
    for bound, name, settings in tiers:
        if budget_s <= bound:
            return name, dict(settings)
    return longest[0], dict(longest[1])


def tier_named(name: str) -> dict[str, Any]:
    """The settings of the tier called ``name`` (CPU or CUDA); raises ValueError listing the names."""
    known = {tier: settings for _, tier, settings in TIERS + CUDA_TIERS}
    known |= {LONGEST: LONGEST_SETTINGS, CUDA_LONGEST[0]: CUDA_LONGEST[1], CPU_LARGEST[0]: CPU_LARGEST[1]}
    if name not in known:
        raise ValueError(f"best: unknown tier {name!r}; tiers: {', '.join(known)}")
    return dict(known[name])


@dataclass
class Recipe:
    """The settings of :func:`minifc_recipes.best.best`.

    Input: ``zca_eps`` (None: no whitening and no projection) is the whitening's regularizer as a multiple of the mean
    eigenvalue; ``pca_dims`` None whitens all 3072 dimensions (ZCA, fitted on ``zca_samples`` images),
    a number k projects on the top k principal directions instead (:mod:`minifc_recipes.pca`, fitted on
    ``pca_samples`` images), and the views (crops, mirrors) are then made on the projected rows.
    Net: ``depth`` x [linear ``width``, ``norm``, relu, dropout ``dropout`` (0: none)], then ``residual``
    pre-LayerNorm inverted-bottleneck blocks (``residual_mlp`` with hidden width ``expansion`` x ``width``)
    and a ``layernorm`` (0: none).
    Training: random crops of the ``padding``-padded image and mirror images (``flip``); with ``rotate``
    (degrees) or ``zoom`` (a fraction) above 0, instead a bank of ``warps`` random affine warps that also
    rotate and scale the image (:class:`minifc_recipes.warps.ProjectedWarps`; PCA tiers only), MixUp with
    ``mixup`` alpha (0: off) or CutMix with ``cutmix`` alpha (0: off; a bank of 64 boxes,
    :class:`minifc_recipes.cutmix.CutMix`), the label smoothing, the update rule and its settings, a warm-up of
    ``warmup_epochs`` then a cosine fitted to the budget, and an exponential moving average of the weights
    with decay ``ema`` per step (0: none; :class:`minifc.training.ema.EMA`, updated every ``ema_every`` steps), which
    is then what every evaluation measures and what the run keeps; the accuracy measured after each epoch (to keep
    the best parameters) uses ``val_samples`` random validation images (None: all), the final
    evaluation always all of them. Test: views shifted by ``tta_shift`` and
    mirrored (``tta_flip``). ``tier``: the name of the tier whose settings these are (given explicitly,
    it picks that tier's settings whatever the budget).
    """

    width: int = 1024
    depth: int = 2
    norm: str = "batchnorm1d"
    residual: int = 0
    expansion: float = 4.0
    dropout: float = 0.0
    zca_eps: float | None = 1.0
    zca_samples: int = 20000
    pca_dims: int | None = 512
    pca_samples: int = 4096
    padding: int = 3
    flip: bool = True
    rotate: float = 0.0
    zoom: float = 0.0
    warps: int = 96
    mixup: float = 0.0
    cutmix: float = 0.0
    smoothing: float = 0.1
    update_rule: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 0.5
    batch_size: int = 256
    warmup_epochs: float = 1.0
    max_epochs: int = 200
    ema: float = 0.0
    ema_every: int = 4
    val_samples: int | None = 2000
    budget_s: float = BUDGET_S
    tta_flip: bool = True
    tta_shift: int = 2
    tier: str | None = None

    @classmethod
    def from_options(cls, extra: dict[str, Any], budget: float | None = None, device_type: str = "cpu") -> Recipe:
        """The tier of ``budget`` (else of ``extra["recipe"]["budget_s"]``, else 15 minutes) on a device of
        type ``device_type`` (see :func:`tier_for`) overridden
        by ``extra["recipe"]``; raises ValueError naming unknown settings. The strings "none" and "null"
        (the command line's ``--set recipe.pca_dims=none``) mean None for the settings that take it."""
        overrides = dict(extra.get("recipe") or {})
        for key in ("pca_dims", "zca_eps", "val_samples"):
            if isinstance(overrides.get(key), str) and overrides[key].strip().lower() in ("none", "null"):
                overrides[key] = None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"best: unknown recipe setting(s) {unknown}; known: {sorted(known)}")
        if budget is not None:
            overrides["budget_s"] = budget
        seconds = overrides.get("budget_s", BUDGET_S)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ValueError(f"best: the budget must be a number of seconds > 0, got {seconds!r}")
        name, settings = tier_for(seconds, device_type)
        if overrides.get("tier") is not None:
            name, settings = str(overrides["tier"]), tier_named(str(overrides["tier"]))
        return cls(**{**settings, **overrides, "tier": name})

    def layers(self) -> list[Any]:
        """The layer specs for :func:`minifc.builder.build_net` (the output layer is added there)."""
        specs: list[Any] = []
        for _ in range(self.depth):
            specs += [{"name": "linear", "out_features": self.width}, self.norm, "relu"]
            if self.dropout:
                specs.append({"name": "dropout", "p": self.dropout})
        if isinstance(self.residual, bool) or not isinstance(self.residual, int) or self.residual < 0:
            raise ValueError(f"best: recipe setting residual must be a whole number >= 0, got {self.residual!r}")
        if self.residual:
            specs += [{"name": "residual_mlp", "expansion": self.expansion} for _ in range(self.residual)]
            specs.append("layernorm")
        return specs

    def describe_net(self) -> str:
        """The hidden layers in words, e.g. ``2 x [linear 1024, batchnorm1d, relu]``."""
        text = f"{self.depth} x [linear {self.width}, {self.norm}, relu]"
        if self.residual:
            text += f" + {self.residual} x residual_mlp (expansion {self.expansion:g}), layernorm"
        return text
