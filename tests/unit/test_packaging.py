"""The packages' metadata: the plugin packages (and the template) bound the minifc they need and carry
a license; the core names no plugin package."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

import minifc

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "setup.cfg").exists())
PACKAGES.append(ROOT / "examples" / "plugin_template")
PLUGIN_MODULES = ("minifc_recipes", "minifc_norm", "minifc_optim_extra", "minifc_regularizers")


def _setup_cfg(package: Path) -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(package / "setup.cfg")
    return cfg


def _requirements(cfg: configparser.ConfigParser) -> list[str]:
    return [line.strip() for line in cfg["options"]["install_requires"].splitlines() if line.strip()]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_plugin_packages_bound_minifc_and_carry_an_mit_license(package):
    cfg = _setup_cfg(package)
    major, minor = minifc.__version__.split(".")[:2]
    minifc_req = [r for r in _requirements(cfg) if re.match(r"minifc\s*[<>=!~]|minifc$", r)]
    assert minifc_req == [f"minifc>={major}.{minor},<{major}.{int(minor) + 1}"]
    assert cfg["metadata"]["license"] == "MIT"
    license_text = (package / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "the minifc authors" in license_text
    assert "minifc.plugins" in cfg["options.entry_points"]


def test_the_recipes_package_requires_the_plugins_its_recipe_uses():
    cfg = _setup_cfg(ROOT / "plugins" / "minifc-recipes")
    names = {re.split(r"[<>=!~ ]", r)[0] for r in _requirements(cfg)}
    assert {"minifc", "minifc-norm", "minifc-optim-extra"} <= names


def test_the_core_names_no_plugin_package():
    pattern = re.compile("|".join(PLUGIN_MODULES) + "|" + "|".join(m.replace("_", "-") for m in PLUGIN_MODULES))
    hits = [
        f"{path.relative_to(ROOT)}:{i}"
        for path in sorted((ROOT / "minifc").rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []
