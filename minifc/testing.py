"""Helpers for a plugin's own tests: register it in a fresh registry and verify it as ``minifc check`` does.

A plugin package's test suite needs no installed entry point::

    import minifc_myplugin
    from minifc.testing import check_plugin, plugin_registry

    def test_minifc_check_passes():
        rows = check_plugin(minifc_myplugin)   # raises CheckFailed listing every failing check
        assert {r.component for r in rows} == {"leaky_relu", "adamax"}

    def test_build_by_name():
        net = build_net(["linear:8", "leaky_relu"], 4, 3, registry=plugin_registry(minifc_myplugin))

and one component, registered or not yet::

    check_component("update_rule", adamax)          # an object: registered under its __name__
    check_component("layer", "leaky_relu", registry=plugin_registry(minifc_myplugin))

:func:`use_registry` puts a registry in place as the process-wide one for a block (what the
Trainer, ``build_net`` and the CLI look names up in), :func:`invoke_cli` runs ``minifc ARGS``
in-process, :func:`entry_point_installed` tells whether a package's entry point is installed, and
:func:`synthetic_data` makes a small data dict in the layout of :func:`minifc.data.load_cifar10`.
"""

from __future__ import annotations

import importlib.metadata as md
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from click.testing import CliRunner

from .cli import main
from .registry import core as _registry
from .registry.components import KINDS, PluginError
from .registry.core import Registry
from .registry.hookspecs import ENTRY_POINT_GROUP, hookimpl
from .verify.checks import TOLERANCE, CheckResult, check_components
from .verify.checks import check_component as _check_one

__all__ = [
    "CheckFailed",
    "plugin_registry",
    "check_plugin",
    "check_component",
    "use_registry",
    "invoke_cli",
    "entry_point_installed",
    "synthetic_data",
]


class CheckFailed(AssertionError):
    """Some checks failed; ``rows`` holds every row (passed and failed), the message the failures."""

    def __init__(self, rows: list[CheckResult]) -> None:
        self.rows = rows
        failed = [r for r in rows if not r.passed]
        lines = [f"{len(failed)} of {len(rows)} checks failed:"]
        lines += [f"  {r.kind} {r.component} [{r.provider}] {r.check}: {r.detail or 'failed'}" for r in failed]
        super().__init__("\n".join(lines))


def _plugin_name(plugin: Any) -> str:
    return str(getattr(plugin, "__name__", None) or type(plugin).__name__)


def plugin_registry(
    plugin: Any,
    name: str | None = None,
    distribution: str | None = None,
    version: str | None = None,
    *,
    builtins: bool = True,
) -> Registry:
    """A fresh registry with the built-ins (unless ``builtins=False``) and ``plugin`` (a module or
    object with ``@minifc.hookimpl`` functions), loaded; no installed entry point is read.

    ``name`` is the plugin's name in listings and in ``check`` selections (default: the module's
    ``__name__``). Raises :class:`minifc.registry.components.PluginError` with the registry's reason when the
    plugin fails to load (bad hook, bad component, ...) or one of its components is skipped (a name
    clash with a built-in).
    """
    name = name or _plugin_name(plugin)
    reg = Registry(entry_points=False, builtins=builtins)
    reg.add_plugin(plugin, name, distribution, version)
    reg.load()
    info = reg.plugins.get(name)
    if info is None or info.status != "loaded" or info.skipped:  # skipped: a component clashed
        reason = info.error if info is not None else "it was not loaded"
        raise PluginError(f"plugin {name!r} failed to load: {reason}")
    return reg


def _raise_on_failure(rows: list[CheckResult]) -> list[CheckResult]:
    if any(not r.passed for r in rows):
        raise CheckFailed(rows)
    return rows


def check_plugin(
    plugin: Any,
    name: str | None = None,
    distribution: str | None = None,
    version: str | None = None,
    *,
    tol: float = TOLERANCE,
    device: str | torch.device = "cpu",
) -> list[CheckResult]:
    """Register ``plugin`` in a fresh registry (:func:`plugin_registry`) and verify every component
    it registers exactly as ``minifc check NAME`` does (examples are not run).

    Returns the rows (:class:`minifc.verify.checks.CheckResult`); raises :class:`CheckFailed` when one
    fails, :class:`minifc.registry.components.PluginError` when the plugin does not load.
    """
    name = name or _plugin_name(plugin)
    reg = plugin_registry(plugin, name, distribution, version)
    return _raise_on_failure(check_components([name], registry=reg, tol=tol, device=device))


def check_component(
    kind: str,
    name_or_obj: Any,
    *,
    name: str | None = None,
    registry: Registry | None = None,
    tol: float = TOLERANCE,
    device: str | torch.device = "cpu",
    **metadata: Any,
) -> list[CheckResult]:
    """Verify one component of ``kind`` (layer, loss, update_rule, regularizer, gradient_transform) as ``minifc check``
    does.

    ``name_or_obj`` is a registered name (looked up in ``registry``, default the process-wide one)
    or the object itself, registered for the check in a fresh registry under ``name`` (default its
    ``__name__``) with ``metadata`` (``check_kwargs=``, ``check_config=``, ``stage=``, ...): what
    ``register(name, obj, **metadata)`` in your hook would pass. Returns the rows; raises
    :class:`CheckFailed` when one fails.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    if isinstance(name_or_obj, str):
        if metadata or name is not None:
            raise TypeError("name= and metadata apply to an object, not to the registered name " + repr(name_or_obj))
        component = (registry or _registry.default_registry()).component(kind, name_or_obj)
    else:
        name = name or getattr(name_or_obj, "__name__", None)
        if not name:
            raise ValueError(f"pass name= for {name_or_obj!r}: it has no __name__")

        def hook(register: Any, obj: Any = name_or_obj) -> None:
            register(name, obj, **metadata)

        plugin = types.SimpleNamespace(__name__=f"check_{name}", **{KINDS[kind]: hookimpl(hook)})
        component = plugin_registry(plugin, plugin.__name__).component(kind, name)
    return _raise_on_failure(_check_one(component, tol=tol, device=device))


@contextmanager
def use_registry(registry: Registry | None = None) -> Iterator[Registry]:
    """Make ``registry`` the process-wide one inside the block (default: a fresh one that loads the
    installed entry points); the previous one comes back after."""
    previous = _registry._default
    reg = _registry.reset_default_registry(registry)
    try:
        yield reg
    finally:
        _registry._default = previous


def invoke_cli(*args: str, registry: Registry | None = None) -> Any:
    """Run ``minifc ARGS`` in-process with ``registry`` as the process-wide one (default: a fresh one
    that loads the installed entry points); returns click's ``Result`` (``exit_code``, ``output``)."""
    with use_registry(registry):
        return CliRunner().invoke(main, list(args))


def entry_point_installed(name: str) -> bool:
    """Whether an installed package declares ``name`` (entry-point or distribution name) in the
    ``minifc.plugins`` entry-point group."""
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if name in (ep.name, ep.dist.name if ep.dist is not None else None):
            return True
    return False


def synthetic_data(
    num_train: int = 200,
    num_val: int = 50,
    num_test: int = 50,
    dim: int = 3 * 32 * 32,
    num_classes: int = 10,
    separation: float = 0.5,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """Gaussian clusters in the layout of :func:`minifc.data.load_cifar10`: ``X_train`` (num_train,
    dim) ... ``y_test`` (num_test,) int64 labels in [0, num_classes). Values are on the scale of
    CIFAR-10's preprocessed pixels (noise of std 0.25); ``separation`` is the spread of the class
    centres in units of that noise (0.5: a TwoLayerNet reaches about 90% validation accuracy in 5
    epochs of 500 images; 0.2: hard). Deterministic for a seed; CPU tensors."""
    gen = torch.Generator().manual_seed(seed)
    scale = 0.25  # the noise's std per value, about that of mean-subtracted pixels in [0, 1]
    centres = torch.randn(num_classes, dim, generator=gen, dtype=dtype) * (scale * separation)
    data = {}
    for split, n in (("train", num_train), ("val", num_val), ("test", num_test)):
        y = torch.randint(0, num_classes, (n,), generator=gen)
        data[f"X_{split}"] = centres[y] + torch.randn(n, dim, generator=gen, dtype=dtype) * scale
        data[f"y_{split}"] = y
    return data
