"""A name that a plugin package in plugins/ provides, asked for where that package is not installed:
the error names the package and a pip command that works (its folder; no index serves it)."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import json
import re
from pathlib import Path

import pytest

import minifc.registry.plugin_hints as plugin_hints
from minifc.errors import UnknownComponentError
from minifc.registry.core import Registry
from minifc.testing import invoke_cli

ROOT = Path(__file__).resolve().parents[2]
INDEX = json.loads((ROOT / "minifc" / "registry" / "plugin_index.json").read_text())


@pytest.fixture
def nothing_installed(monkeypatch):
    """The index's packages are not installed, whatever this environment holds."""
    real = md.distribution

    def distribution(name: str):
        if name in INDEX["packages"]:
            raise md.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(md, "distribution", distribution)


def test_every_indexed_package_lives_in_the_repository_folder_the_index_names():
    for dist in INDEX["packages"]:
        assert (ROOT / INDEX["folder"] / dist / "setup.cfg").is_file(), dist


def test_a_missing_plugin_component_names_the_package_folder_not_an_index_package(nothing_installed, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(UnknownComponentError) as info:
        Registry(entry_points=False).get("regularizer", "max_norm")
    message = str(info.value)
    # from a checkout the folder itself; installed from a wheel, the same folder in a clone
    assert "minifc-regularizers, which is not installed (pip install ./plugins/minifc-regularizers" in message
    assert not re.search(r"pip install minifc-", message)


def test_the_hint_carries_the_install_command(nothing_installed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = plugin_hints.provider_hint("layer", "batchnorm1d", {})
    assert f"which is not installed ({plugin_hints.install_command('minifc-norm')})." in message


def test_outside_the_checkout_the_hint_gives_the_real_folder(tmp_path):
    command = plugin_hints.install_command("minifc-norm", source_root=ROOT, cwd=tmp_path)
    assert command == f"pip install {(ROOT / 'plugins' / 'minifc-norm').resolve()}"
    inside = plugin_hints.install_command("minifc-norm", source_root=ROOT, cwd=ROOT)
    assert inside == "pip install ./plugins/minifc-norm"


def test_without_a_checkout_the_hint_says_where_the_folder_is(tmp_path):
    command = plugin_hints.install_command("minifc-norm", source_root=tmp_path, cwd=tmp_path)
    assert command == "pip install ./plugins/minifc-norm in a clone of the minifc repository"
    (tmp_path / "plugins" / "minifc-norm").mkdir(parents=True)
    (tmp_path / "plugins" / "minifc-norm" / "setup.cfg").write_text("[metadata]\n")
    assert plugin_hints.install_command("minifc-norm", source_root=tmp_path, cwd=tmp_path) == (
        "pip install ./plugins/minifc-norm"
    )


def test_the_documented_sample_toml_names_every_plugin_package_it_needs_with_its_install_command():
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    page = (ROOT / "docs" / "command-line.md").read_text()
    section = page[page.index("**Configuration files.**") :]
    intro, block = section.split("```toml\n", 1)
    sample = tomllib.loads(block.split("```", 1)[0])
    names = {("layer", sample["norm"])} | {
        ("regularizer", r.split(":")[0] if isinstance(r, str) else r["name"]) for r in sample["regularizers"]
    }
    needed = {dist for dist, kinds in INDEX["packages"].items() for kind, name in names if name in kinds.get(kind, [])}
    assert needed == {"minifc-norm", "minifc-regularizers"}
    for dist in needed:
        assert f"pip install ./plugins/{dist}" in intro, dist


class _Dist:
    """The installed distribution of minifc-optim-extra, as an entry point names it."""

    name = "minifc-optim-extra"
    version = "0.1.0"


class _EntryPoint:
    """The entry point minifc-optim-extra installs; ``module`` is what loading it imports."""

    name = "optim_extra"
    group = "minifc.plugins"
    dist = _Dist()

    def __init__(self, module: str = "minifc_optim_extra") -> None:
        self.value = module

    def load(self):
        return importlib.import_module(self.value)


@pytest.fixture
def no_plugin_env(monkeypatch):
    for var in ("MINIFC_STRICT_PLUGINS", "MINIFC_DISABLE_PLUGINS", "MINIFC_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


def test_a_blocked_plugin_package_is_named_as_blocked(no_plugin_env, monkeypatch):
    monkeypatch.setenv("MINIFC_DISABLE_PLUGINS", "minifc-optim-extra")
    reg = Registry(entry_points=[_EntryPoint("minifc_module_that_is_never_imported")])
    with pytest.raises(UnknownComponentError) as info:
        reg.get("update_rule", "adamw")
    assert reg.plugins["optim_extra"].status == "blocked"
    assert str(info.value).endswith(
        "It is provided by the plugin package minifc-optim-extra, which is installed but blocked by "
        "MINIFC_DISABLE_PLUGINS."
    )


def test_a_failed_plugin_package_is_named_with_its_error(no_plugin_env, capsys):
    reg = Registry(entry_points=[_EntryPoint("minifc_fake_optim_extra_that_does_not_exist")])
    with pytest.raises(UnknownComponentError) as info:
        reg.get("update_rule", "lion")
    assert reg.plugins["optim_extra"].status == "failed"
    message = str(info.value)
    assert "It is provided by the plugin package minifc-optim-extra, which is installed but failed to load: " in message
    assert "import failed: ModuleNotFoundError" in message and "minifc_fake_optim_extra_that_does_not_exist" in message
    assert "failed and is skipped" in capsys.readouterr().err  # reported once on stderr as well


def test_train_with_a_blocked_package_s_rule_says_blocked_without_a_traceback(no_plugin_env, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIFC_DISABLE_PLUGINS", "minifc-optim-extra")
    reg = Registry(entry_points=[_EntryPoint()])
    out = str(tmp_path / "run")
    result = invoke_cli("train", "--update-rule", "adamw", "--epochs", "1", "--out", out, registry=reg)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "--update-rule: unknown update rule 'adamw'" in lines[0]
    assert "minifc-optim-extra, which is installed but blocked by MINIFC_DISABLE_PLUGINS." in lines[0]
    assert not (tmp_path / "run").exists()


def test_a_missing_plugin_schedule_names_its_package(nothing_installed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownComponentError, match=r"unknown schedule 'one_cycle'.* minifc-recipes, which is not"):
        Registry(entry_points=False).get("schedule", "one_cycle")
