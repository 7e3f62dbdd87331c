"""The import paths of minifc before 0.3, kept working for the 0.3 and 0.4 series.

0.3 moved most top-level modules into folders that name the layers (``minifc.trainer`` is now
``minifc.training.trainer``, ``minifc.checkpoint`` is ``minifc.io.checkpoint``, ...). A finder on
``sys.meta_path`` maps each old dotted name to its new module: ``import minifc.trainer`` gives the very
same module object as ``import minifc.training.trainer`` (so monkeypatching through either name works),
with a :class:`DeprecationWarning` naming the new path, once per old name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

#: old module (under ``minifc.``) -> its module since 0.3 (under ``minifc.``)
MOVED: dict[str, str] = {
    "augment": "data.augment",
    "blame": "registry.blame",
    "builtins": "registry.builtins",
    "callbacks": "training.callbacks",
    "check_forms": "verify.check_forms",
    "checkpoint": "io.checkpoint",
    "checks": "verify.checks",
    "classic_checkpoint": "io.classic_checkpoint",
    "classic_examples": "experiments.classic_examples",
    "classifier": "nn.classifier",
    "commands": "cli.commands",
    "commands.check": "cli.commands.check",
    "commands.common": "cli.commands.common",
    "commands.config_checks": "config.config_checks",
    "commands.evaluate": "cli.commands.evaluate",
    "commands.example": "cli.commands.example",
    "commands.launch": "cli.commands.launch",
    "commands.memory": "cli.commands.memory",
    "commands.plugins": "cli.commands.plugins",
    "commands.resume_config": "cli.commands.resume_config",
    "commands.resume_notes": "cli.commands.resume_notes",
    "commands.run_reports": "cli.commands.run_reports",
    "commands.toml_writer": "config.toml_writer",
    "commands.train": "cli.commands.train",
    "commands.train_config": "config.train_config",
    "commands.train_run": "cli.commands.train_run",
    "components": "registry.components",
    "ema": "training.ema",
    "example_options": "experiments.example_options",
    "examples": "experiments.examples",
    "hookspecs": "registry.hookspecs",
    "param_dict": "nn.param_dict",
    "parameter": "nn.parameter",
    "plots": "io.plots",
    "plugin_commands": "registry.plugin_commands",
    "plugin_env": "registry.plugin_env",
    "plugin_hints": "registry.plugin_hints",
    "plugin_hooks": "registry.plugin_hooks",
    "regularizers": "optim.regularizers",
    "run_folder": "io.run_folder",
    "runs": "io.runs",
    "safe_files": "io.safe_files",
    "schedules": "optim.schedules",
    "set_aside": "io.set_aside",
    "specs": "registry.specs",
    "summary": "nn.summary",
    "trainer": "training.trainer",
}


def new_path(old: str) -> str | None:
    """``minifc.<new>`` for an old dotted name ``minifc.<old>``, else None."""
    moved = MOVED.get(old.removeprefix("minifc.")) if old.startswith("minifc.") else None
    return None if moved is None else f"minifc.{moved}"


class _AliasLoader(importlib.abc.Loader):
    """Loads an old name as the module at its new path (the import system keeps what sits in
    ``sys.modules`` after ``exec_module``: the new module, not the empty one made for the old name)."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        old = module.__name__
        warnings.warn(f"{old} moved to {self.new}; import it from there", DeprecationWarning, stacklevel=2)
        sys.modules[old] = importlib.import_module(self.new)


class OldPathFinder(importlib.abc.MetaPathFinder):
    """Finds the old dotted names of :data:`MOVED` (first on ``sys.meta_path``, so a moved package's old
    name never loads one of its files a second time under another name)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = new_path(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install(package: ModuleType) -> None:
    """Put the finder first on ``sys.meta_path`` (once).

    An old module whose name the package also uses for something else (``minifc.summary``, the
    function) is registered under its old name at once, as it always was: importing it through the
    finder would rebind ``minifc.summary`` to the module."""
    if not any(isinstance(f, OldPathFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, OldPathFinder())
    for old, new in MOVED.items():
        taken = vars(package).get(old)
        if "." not in old and taken is not None and not isinstance(taken, ModuleType):
            sys.modules.setdefault(f"minifc.{old}", importlib.import_module(f"minifc.{new}"))


def old_attribute(name: str) -> ModuleType:
    """``minifc.<name>`` for an old top-level module name (``minifc.trainer`` without an import)."""
    if new_path(f"minifc.{name}") is None:
        raise AttributeError(f"module 'minifc' has no attribute {name!r}")
    return importlib.import_module(f"minifc.{name}")
