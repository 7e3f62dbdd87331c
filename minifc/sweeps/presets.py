"""Ready-made sweeps (``minifc sweep --preset NAME``): the course's hand searches, registered through the
``minifc_register_sweep_presets`` hook like any plugin's (a plugin adds its own the same way).

A preset is a function ``preset(quick: bool) -> dict`` whose dict holds :class:`~minifc.sweeps.settings.
SweepSettings` fields: ``base`` (train keys), ``search`` (``{key: "DIST(ARGS)"}``), ``trials``, and optionally
``objective``, ``target``, ``pruner``, ``runner``, ``metric``. ``quick=True`` (``--quick``) asks for a sweep of a few
seconds on tiny settings, for tests and a first look.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..registry.core import default_registry
from .errors import SweepError
from .settings import SweepSettings

__all__ = ["overfit", "two_layer", "BUILTIN_PRESETS", "preset_settings"]

_FIELDS = {"base", "search", "trials", "objective", "target", "pruner", "runner", "metric", "seed", "extra"}


def overfit(quick: bool = False) -> dict[str, Any]:
    """The notebook's hand search: learning rate and weight scale for which the five-layer net ([100] * 4, sgd,
    batch 25) reaches 100% training accuracy on 50 images in 20 epochs (objective: best training accuracy)."""
    base = {"hidden": [100] * 4, "num_train": 50, "epochs": 20, "batch_size": 25, "update_rule": "sgd"}
    if quick:
        base.update(hidden=[16] * 4, epochs=2, num_train=20, batch_size=10)
    return {
        "base": base,
        "search": {"lr": "loguniform(1e-4, 1.0)", "weight_scale": "loguniform(1e-3, 2e-1)"},
        "trials": 3 if quick else 40,
        "objective": "best_train_acc",
    }


def two_layer(quick: bool = False) -> dict[str, Any]:
    """Hidden size, learning rate, its decay and L2 strength of the two-layer net, for the best validation accuracy
    (the course's search past 50%)."""
    base = {"epochs": 10, "batch_size": 200, "update_rule": "sgd"}
    search = {
        "hidden": "categorical(100, 200, 500)",
        "lr": "loguniform(1e-4, 1e-1)",
        "lr_decay": "uniform(0.85, 1.0)",
        "reg": "loguniform(1e-6, 1e-1)",
    }
    if quick:
        base.update(epochs=2, num_train=40, batch_size=20)
        search["hidden"] = "categorical(8, 16)"
    return {"base": base, "search": search, "trials": 3 if quick else 30, "pruner": "none" if quick else "median"}


BUILTIN_PRESETS = {
    "overfit": (overfit, "lr and weight scale for a five-layer net to reach 100% train acc on 50 images in 20 epochs"),
    "two-layer": (two_layer, "hidden size, lr, lr_decay and reg of the two-layer net for the best val acc"),
}


def registered_preset(
    kind: str, name: str, quick: bool, required: set[str], fields: set[str], error: Callable[[str], Exception]
) -> dict[str, Any]:
    """What the registered preset ``name`` of ``kind`` (``sweep_preset``, ``compare_preset``) returns for
    ``quick``, checked to be a dict with the ``required`` keys and no key outside ``fields``.

    Raises:
        ``error``: unknown name (listing the known ones), a preset that raises, or one that returns something
        else (naming its plugin).
    """
    what = kind.replace("_", " ")
    try:
        component = default_registry().component(kind, name)
    except KeyError as e:
        raise error(f"--preset: {e}") from None
    try:
        got = component.obj(quick)
    except Exception as e:  # noqa: BLE001 - a plugin's preset that raises is named, not a traceback
        raise error(f"{what} {name!r} ({component.provider}) raised {type(e).__name__}: {e}") from None
    if not isinstance(got, Mapping) or not required <= set(got) or set(got) - fields:
        raise error(
            f"{what} {name!r} ({component.provider}) must return a dict with {', '.join(sorted(required))} (and "
            f"optionally {', '.join(sorted(fields - required))}), got {got!r:.200}"
        )
    return dict(got)


def preset_settings(name: str, quick: bool) -> dict[str, Any]:
    """The settings of the registered preset ``name`` (``quick``: its quick mode), checked.

    Raises:
        SweepError: unknown name (listing the known ones) or a preset that returns something else than a dict of
        sweep settings (naming its plugin).
    """
    settings = registered_preset("sweep_preset", name, quick, {"base", "search", "trials"}, _FIELDS, SweepError)
    SweepSettings(**settings, preset=name).check()  # the settings as a sweep reads them
    return settings
