"""examples/: each script runs in its quick mode, and the plugin template registers, passes `minifc check`
and passes its own tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import minifc
from minifc.testing import check_plugin, plugin_registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TEMPLATE = EXAMPLES / "plugin_template"


def run(args: list[str], extra_path: tuple[Path, ...] = (), **env: str) -> subprocess.CompletedProcess:
    """``python ARGS`` with this process's minifc first on the path, synthetic data (no $MINIFC_DATA)."""
    paths = [str(Path(minifc.__file__).parents[1]), *map(str, extra_path)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    clean = {k: v for k, v in os.environ.items() if k not in ("MINIFC_DATA", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, *args],
        env={**clean, "PYTHONPATH": os.pathsep.join(paths), "MPLBACKEND": "Agg", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.subprocess
def test_classic_course_quick():
    proc = run(["examples/classic_course.py", "--quick"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "synthetic clusters" in out and "  all pass" in out
    assert "final training accuracy: 1.00" in out
    assert "== TwoLayerNet (hidden 200)" in out and "test accuracy" in out
    for rule in ("sgd", "sgd_momentum", "rmsprop", "adam"):
        assert f"\n  {rule} " in out


@pytest.mark.subprocess
def test_classic_course_quick_from_the_environment():
    proc = run(["examples/classic_course.py", "--help"], MINIFC_EXAMPLES_QUICK="1")
    assert proc.returncode == 0 and "--quick" in proc.stdout


@pytest.mark.subprocess
def test_trainer_with_plugins_quick_or_a_clear_skip():
    proc = run(["examples/trainer_with_plugins.py", "--quick"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if proc.stdout.startswith("skipping:"):
        assert "pip install ./plugins/minifc-" in proc.stdout
        return
    assert "batchnorm1d  from norm (minifc-norm" in proc.stdout
    assert "adamw        from optim_extra (minifc-optim-extra" in proc.stdout
    assert "best validation accuracy" in proc.stdout


@pytest.mark.subprocess
def test_trainer_with_plugins_skips_without_them():
    proc = run(["examples/trainer_with_plugins.py", "--quick"], MINIFC_DISABLE_PLUGINS="norm,optim_extra")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("skipping: this example needs the layer 'batchnorm1d', update rule 'adamw'")


@pytest.fixture
def template(monkeypatch):
    monkeypatch.syspath_prepend(str(TEMPLATE))
    import minifc_myplugin

    return minifc_myplugin


def test_plugin_template_registers_and_passes_minifc_check(template):
    rows = check_plugin(template, "myplugin", "minifc-myplugin", "0.1.0")
    assert {(r.kind, r.component) for r in rows} == {("layer", "leaky_relu"), ("update_rule", "adamax")}
    reg = plugin_registry(template, "myplugin")
    assert reg.component("example", "leaky-relu").description
    assert reg.plugins["myplugin"].components == {
        "layer": ["leaky_relu"],
        "update_rule": ["adamax"],
        "example": ["leaky-relu"],
    }


@pytest.mark.subprocess
def test_plugin_template_passes_its_own_tests():
    proc = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", str(TEMPLATE / "tests")], extra_path=(TEMPLATE,))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout
