"""examples/: each script runs in its quick mode, and the plugin template registers, passes `minifc check`
and passes its own tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import minifc
import minifc.optim
from minifc.experiments.example_options import ExampleOptions
from minifc.experiments.examples import run_example
from minifc.testing import check_plugin, plugin_registry, synthetic_data, use_registry

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
    assert {(r.kind, r.component) for r in rows} == {
        ("layer", "leaky_relu"),
        ("update_rule", "adamax"),
        ("schedule", "polynomial"),
        ("gradient_transform", "clip_spikes"),
    }
    reg = plugin_registry(template, "myplugin")
    assert reg.component("example", "leaky-relu").description
    assert reg.plugins["myplugin"].components == {
        "layer": ["leaky_relu"],
        "update_rule": ["adamax"],
        "example": ["leaky-relu"],
        "schedule": ["polynomial"],
        "gradient_transform": ["clip_spikes"],
    }


def test_plugin_template_update_rule_is_declared_with_bounds(template):
    assert template.adamax.defaults["learning_rate"] == 2e-3 and set(template.adamax.state_keys) == {"m", "u", "t"}
    with pytest.raises(ValueError, match="beta1"):
        minifc.optim.check_config(template.adamax, {"beta1": 1.5})


def test_plugin_template_plot_starts_at_epoch_1(template, monkeypatch, tmp_path):
    seen = {}

    def plot(runs, path, title="", first_epoch=0, **kwargs):
        seen["first_epoch"] = first_epoch
        return Path(path)

    module = sys.modules[template.leaky_relu_example.__module__]
    monkeypatch.setattr(module, "have_matplotlib", lambda: True)
    monkeypatch.setattr(module, "plot_histories", plot)
    data = synthetic_data(num_train=100, num_val=20, num_test=20, dim=12, num_classes=3)
    options = ExampleOptions(out=tmp_path, epochs=1, device="cpu", verbose=False)
    with use_registry(plugin_registry(template, "myplugin")) as registry:
        run_example("leaky-relu", data, options, registry=registry)
    assert seen == {"first_epoch": 1}


def run_template_tests(package: Path) -> subprocess.CompletedProcess:
    """``pytest PACKAGE/tests`` from the folder above it, as its README says, with nothing installed: the
    ``-c`` runner puts only that folder (not the package root) on sys.path, like the ``pytest`` script."""
    code = "import sys, pytest; sys.exit(pytest.main(sys.argv[1:]))"
    proc = run(["-c", code, "-q", "-p", "no:cacheprovider", str(package / "tests")])
    return proc


@pytest.mark.subprocess
def test_plugin_template_passes_its_own_tests():
    proc = run_template_tests(TEMPLATE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout


@pytest.mark.subprocess
def test_a_renamed_copy_of_the_plugin_template_passes_its_own_tests(tmp_path):
    copy = tmp_path / "minifc-coolplugin"
    shutil.copytree(TEMPLATE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    # The renames its README lists: the module folder, setup.cfg (include, entry point, name), the tests' imports.
    (copy / "minifc_myplugin").rename(copy / "minifc_coolplugin")
    renames = [
        ("minifc_myplugin", "minifc_coolplugin"),
        ("minifc-myplugin", "minifc-coolplugin"),
        ("myplugin =", "coolplugin ="),
    ]
    for path in [copy / "setup.cfg", *sorted((copy / "tests").glob("*.py"))]:
        text = path.read_text()
        for old, new in renames:
            text = text.replace(old, new)
        path.write_text(text)
    assert "myplugin" not in (copy / "setup.cfg").read_text().replace("coolplugin", "")
    proc = run_template_tests(copy)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 4, out
    # Not installed: the entry-point test skips, naming the renamed distribution.
    assert "SKIPPED" in proc.stdout and "minifc-coolplugin is not installed" in proc.stdout, out
