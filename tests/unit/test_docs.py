"""The documentation site (docs/, mkdocs.yml) covers what minifc offers: every public name of ``minifc``
has an API-reference entry, every plugin hook is on the Plugins page, every built-in command has its
generated ``--help`` in docs/cli-reference.md (which must be current) and its section on the command-line
page, and every page is in the navigation. Pure inspection of the files: no MkDocs needed (``tox -e docs``
builds the site itself, with --strict)."""

from __future__ import annotations

import configparser
import importlib.util
import re
from pathlib import Path

import minifc
from minifc.cli import COMMANDS
from minifc.registry.hookspecs import HOOKS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _pages() -> dict[str, str]:
    return {str(p.relative_to(DOCS)): p.read_text() for p in sorted(DOCS.rglob("*.md"))}


def _directives() -> set[str]:
    """The objects the API reference renders: the targets of its ``::: dotted.name`` lines."""
    return {m.group(1) for text in _pages().values() for m in re.finditer(r"^::: ([\w.]+)\s*$", text, re.M)}


def _cli_reference_module():
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_name_of_minifc_has_an_api_reference_entry():
    rendered = _directives()
    missing = [
        name for name in minifc.__all__
        if name != "__version__" and f"minifc.{name}" not in rendered
    ]
    assert missing == [], f"add '::: minifc.NAME' for these to a page under docs/api/: {missing}"
    assert "minifc.__version__" in _pages()["api/index.md"]


def test_every_plugin_hook_is_documented_on_the_plugins_page():
    page = _pages()["plugins.md"]
    rendered = re.findall(r"^\s+- (minifc_register_\w+)\s*$", page, re.M)  # the hookspecs directive's members
    missing = sorted(set(HOOKS) - set(rendered))
    assert missing == [], f"list these under '::: minifc.registry.hookspecs' in docs/plugins.md: {missing}"
    assert all(f"`{hook}" in page for hook in HOOKS), "and name it in the table of hooks"


def test_the_cli_reference_is_generated_from_the_current_commands():
    page = (DOCS / "cli-reference.md").read_text()
    assert page == _cli_reference_module().render(), "docs/cli-reference.md is stale: run python docs/cli_reference.py"
    for name in COMMANDS:
        assert f"\n## minifc {name}\n" in page


def test_every_command_is_explained_on_the_command_line_page():
    page = _pages()["command-line.md"]
    undocumented = [name for name in COMMANDS if not re.search(rf"^\s+minifc {name}\b", page, re.M)]
    assert undocumented == [], f"give an example line for each of these in docs/command-line.md: {undocumented}"


def test_every_page_is_in_the_navigation_and_the_readme_map():
    nav = (ROOT / "mkdocs.yml").read_text()
    nav = nav[nav.index("\nnav:"): nav.index("\ntheme:")]
    listed = set(re.findall(r"([\w/-]+\.md)", nav))
    assert listed == set(_pages()), "every page under docs/ belongs in mkdocs.yml's nav, and only those"
    readme = (ROOT / "README.md").read_text()
    top_level = {p for p in listed if "/" not in p or p == "api/index.md"} - {"index.md", "changelog.md"}
    assert {p for p in top_level if f"(docs/{p})" not in readme} == set(), "README's map links every page"


def test_tox_builds_the_site_strictly_without_installing_minifc():
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    assert "docs" in [e.strip() for e in tox["tox"]["env_list"].split(",")]
    env = tox["testenv:docs"]
    assert env["skip_install"] == "true"  # mkdocstrings reads the source (griffe); no torch in this env
    assert "mkdocs build --strict" in env["commands"]
    assert "torch" not in env["deps"]
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    docs_extra = {re.split(r"[<>=!~ ]", r)[0] for r in cfg["options.extras_require"]["docs"].split()}
    assert docs_extra == {"mkdocs", "mkdocs-material", "mkdocstrings-python"}
