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


def test_each_plugin_requirement_on_a_sibling_package_admits_its_version_in_this_repo():
    from packaging.requirements import Requirement

    versions = {_setup_cfg(p)["metadata"]["name"]: _setup_cfg(p)["metadata"]["version"] for p in PACKAGES}
    checked = 0
    for package in PACKAGES:
        for line in _requirements(_setup_cfg(package)):
            req = Requirement(line)
            if req.name in versions:
                assert req.specifier.contains(versions[req.name]), (package.name, line, versions[req.name])
                checked += 1
    assert checked >= 2  # minifc-recipes needs minifc-norm and minifc-optim-extra


def test_the_core_names_no_plugin_package():
    pattern = re.compile("|".join(PLUGIN_MODULES) + "|" + "|".join(m.replace("_", "-") for m in PLUGIN_MODULES))
    hits = [
        f"{path.relative_to(ROOT)}:{i}"
        for path in sorted((ROOT / "minifc").rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def _readme_install_command() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Install and quick start")
    match = re.search(r"pip install -e '\.\[([^\]]*)\]'", readme[start:])
    assert match, "README's install section names no `pip install -e '.[...]'`"
    return match.group(0)


def _readme_quick_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r'^\s*(pytest -m "[^"]*")', readme[readme.index("## Tests"):], re.MULTILINE)
    assert match, "README's Tests section names no quick pytest command"
    return match.group(1)


def test_the_readme_install_command_installs_what_its_test_commands_need():
    install = _readme_install_command()
    extras = {e.strip() for e in re.search(r"\[([^\]]*)\]", install).group(1).split(",")}
    assert "test" in extras, install
    cfg = _setup_cfg(ROOT)
    test_requirements = {re.split(r"[<>=!~ ]", r.strip())[0] for r in cfg["options.extras_require"]["test"].split()}
    assert "pytest" in test_requirements


def test_ci_runs_the_readme_install_then_its_quick_tests_then_tox():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    install, quick = _readme_install_command(), _readme_quick_test_command()
    assert install in lines, f".ci/run does not run README's {install!r}"
    assert quick in lines, f".ci/run does not run README's {quick!r}"
    assert "pip install tox && tox" in lines
    assert lines.index(install) < lines.index(quick) < lines.index("pip install tox && tox")
    # the commands above run in the fresh venv: it is activated before the first of them
    activate = next(i for i, line in enumerate(lines) if line.startswith(". ") and "bin/activate" in line)
    assert activate < lines.index(install)
    assert "set -euo pipefail" in lines  # any failing step (pytest's exit 5 included) fails CI


def test_the_lint_env_type_checks_the_package_with_few_type_ignores():
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    lint = tox["testenv:lint"]
    assert "mypy" in lint["commands"].split() and "mypy" in lint["deps"].split()
    assert (ROOT / "minifc" / "py.typed").is_file()
    ignores = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "minifc").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "type: ignore" in line
    ]
    assert len(ignores) <= 5, ignores
