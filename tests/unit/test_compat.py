"""The import paths before 0.3 keep working: each old dotted name is the very module at its new path,
with a DeprecationWarning naming that path."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

import minifc
from minifc.compat import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_new_module(old):
    new = importlib.import_module(f"minifc.{MOVED[old]}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert importlib.import_module(f"minifc.{old}") is new
        if "." not in old and old != "summary":
            assert getattr(minifc, old) is new
    assert new.__name__ == f"minifc.{MOVED[old]}"  # the new module keeps its own name and spec
    assert new.__spec__.name == new.__name__


@pytest.mark.subprocess
def test_old_path_warns_once_naming_the_new_path():
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    import minifc.trainer, minifc.trainer\n"
        "    import minifc.commands.example\n"
        "    from minifc.hookspecs import hookimpl\n"
        "print([str(x.message) for x in w if x.category is DeprecationWarning])\n"
        "import minifc.training.trainer as t, minifc.cli.commands.example as e\n"
        "assert minifc.trainer is t and minifc.commands.example is e, 'not the same module'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.count("minifc.trainer moved to minifc.training.trainer") == 1
    assert "minifc.commands.example moved to minifc.cli.commands.example" in out
    assert "minifc.hookspecs moved to minifc.registry.hookspecs" in out


def test_monkeypatching_through_the_old_name_reaches_the_new_module(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = importlib.import_module("minifc.checkpoint")
    monkeypatch.setattr(old, "pid_alive", lambda pid: "patched")
    from minifc.io import checkpoint

    assert checkpoint.pid_alive(1) == "patched"


def test_old_registry_names_forward_to_the_core():
    from minifc.registry import core

    with pytest.warns(DeprecationWarning, match="minifc.registry.core.default_registry"):
        from minifc.registry import default_registry
    assert default_registry is core.default_registry
    with pytest.raises(AttributeError):
        minifc.registry.no_such_name  # noqa: B018


def test_unknown_top_level_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_module"):
        minifc.no_such_module  # noqa: B018


def test_the_old_summary_module_leaves_the_summary_function_in_place():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import minifc.summary  # noqa: F401
    from minifc.nn.summary import summary

    assert minifc.summary is summary and callable(minifc.summary)
