"""Ready-made comparisons (``minifc compare --preset NAME``): the course's comparisons, registered through the
``minifc_register_compare_presets`` hook like any plugin's.

A preset is a function ``preset(quick: bool) -> dict`` whose dict holds
:class:`~minifc.compare.settings.CompareSettings` fields: ``candidates`` and ``base`` (train keys), and optionally
``trials``, ``seeds``, ``lr_range``, ``tune_options``, ``pruner``, ``target``. ``quick=True`` (``--quick``) asks for
a comparison of seconds on tiny synthetic data (``base["data"] = QUICK_DATA``), for tests and a first look.
"""

from __future__ import annotations

from typing import Any

from ..sweeps.presets import registered_preset
from .errors import CompareError
from .quick_data import QUICK_DATA
from .settings import CompareSettings

__all__ = ["update_rules", "dropout", "BUILTIN_PRESETS", "preset_settings", "QUICK_BASE"]

_FIELDS = {"candidates", "base", "trials", "seeds", "lr_range", "tune_options", "pruner", "target", "extra"}
#: the quick mode's tiny run: a few seconds per trial on the synthetic data
QUICK_BASE = {"data": QUICK_DATA, "epochs": 3, "batch_size": 50, "weight_scale": 5e-2}


def update_rules(quick: bool = False) -> dict[str, Any]:
    """sgd, sgd_momentum, rmsprop and adam on the course's six-layer net ([100] * 5, weight scale 5e-2), 4,000
    CIFAR-10 training images, 5 epochs of batch 100: each rule's learning rate tuned alike, then 5 seeds."""
    base = {"hidden": [100] * 5, "weight_scale": 5e-2, "num_train": 4000, "epochs": 5, "batch_size": 100}
    if quick:
        base = {**QUICK_BASE, "hidden": [16] * 5}
    return {"candidates": ["sgd", "sgd_momentum", "rmsprop", "adam"], "base": base,
            "trials": 3 if quick else 6, "seeds": 2 if quick else 5, "lr_range": [1e-5, 3e-1]}


def dropout(quick: bool = False) -> dict[str, Any]:
    """Dropout 0, 0.25 and 0.5 on the two-layer net (one hidden layer of 256, adam), 1,000 CIFAR-10 training
    images, 10 epochs: the learning rate of each tuned alike, then 5 seeds."""
    base = {"hidden": [256], "num_train": 1000, "epochs": 10, "batch_size": 100, "update_rule": "adam"}
    if quick:
        base = {**QUICK_BASE, "hidden": [32], "update_rule": "adam"}
    return {"candidates": ["dropout=0", "dropout=0.25", "dropout=0.5"], "base": base,
            "trials": 3 if quick else 5, "seeds": 2 if quick else 5, "lr_range": [1e-4, 1e-2]}


BUILTIN_PRESETS = {
    "update-rules": (update_rules, "sgd, sgd_momentum, rmsprop, adam on the six-layer net, 4,000 CIFAR-10 images"),
    "dropout": (dropout, "dropout 0, 0.25, 0.5 on the two-layer net, 1,000 CIFAR-10 images"),
}


def preset_settings(name: str, quick: bool) -> dict[str, Any]:
    """The settings of the registered compare preset ``name`` (``quick``: its quick mode), checked.

    Raises:
        CompareError: unknown name (listing the known ones) or a preset that returns something else than a dict of
        compare settings (naming its plugin).
    """
    settings = registered_preset("compare_preset", name, quick, {"candidates", "base"}, _FIELDS, CompareError)
    if "lr_range" in settings:
        settings["lr_range"] = tuple(settings["lr_range"])
    CompareSettings(**settings, preset=name).check()
    return settings
