"""The plugin packages in plugins/, installed for real (entry points): listed, checked, trained by name.

Run by ``tox -e plugins``, which installs them; skipped where they are not installed.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

import minifc.registry.core as registry_module
from minifc.registry.core import Registry

PACKAGES = {"optim_extra": "minifc-optim-extra", "regularizers": "minifc-regularizers", "norm": "minifc-norm"}
INSTALLED = {ep.name: ep for ep in md.entry_points(group="minifc.plugins") if ep.name in PACKAGES}

pytestmark = [
    pytest.mark.skipif(
        len(INSTALLED) < len(PACKAGES),
        reason="the plugin packages in plugins/ are not installed (run `tox -e plugins`, or "
        "`pip install ./plugins/minifc-optim-extra ./plugins/minifc-regularizers ./plugins/minifc-norm`)",
    ),
    pytest.mark.subprocess,
]


@pytest.fixture
def installed_registry(monkeypatch):
    """A fresh process-wide registry that loads the installed entry points."""
    for var in ("MINIFC_STRICT_PLUGINS", "MINIFC_DISABLE_PLUGINS", "MINIFC_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    reg = Registry()
    monkeypatch.setattr(registry_module, "_default", reg)
    return reg


def minifc_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``minifc ARGS`` in a fresh interpreter (the installed console entry point's code path)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MINIFC_")}
    return subprocess.run(
        [sys.executable, "-c", "from minifc.cli import main; main()", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_minifc_plugins_json_shows_them_loaded():
    proc = minifc_cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}
    for name, dist in PACKAGES.items():
        info = plugins[name]
        assert info["status"] == "loaded", info
        assert info["distribution"] == dist and info["version"] == md.version(dist)
        assert info["module"] == dist.replace("-", "_") and info["path"].endswith("__init__.py")
    assert sorted(plugins["optim_extra"]["components"]["update_rule"]) == ["adagrad", "adamw", "lion", "nesterov"]
    assert sorted(plugins["regularizers"]["components"]["regularizer"]) == [
        "elastic_net",
        "l1",
        "max_norm",
        "weight_decay",
    ]
    assert sorted(plugins["norm"]["components"]["layer"]) == ["batchnorm1d", "layernorm", "syncbatchnorm"]


def _statuses(proc: subprocess.CompletedProcess) -> dict[str, str]:
    """Status of the built-ins and of this repo's packages (other installed plugins are ignored)."""
    assert proc.returncode == 0, proc.stderr
    return {p["name"]: p["status"] for p in json.loads(proc.stdout)["plugins"] if p["name"] in {*PACKAGES, "builtins"}}


def test_env_vars_block_installed_plugins():
    proc = minifc_cli("plugins", "--json", MINIFC_DISABLE_PLUGINS="minifc-norm")  # by distribution name
    expected = {"builtins": "loaded", "norm": "blocked", "optim_extra": "loaded", "regularizers": "loaded"}
    assert _statuses(proc) == expected
    proc = minifc_cli("plugins", "--json", MINIFC_PLUGINS="optim_extra")
    expected = {"builtins": "loaded", "norm": "blocked", "optim_extra": "loaded", "regularizers": "blocked"}
    assert _statuses(proc) == expected
    assert {p["status"] for p in json.loads(proc.stdout)["plugins"] if p["name"] not in expected} <= {"blocked"}


def test_minifc_check_passes_on_everything_installed(installed_registry):
    from minifc.cli import main

    result = CliRunner().invoke(main, ["check", "builtins", *PACKAGES])  # not other plugins installed here
    assert result.exit_code == 0, result.output
    for name in ("lion", "adamw", "nesterov", "adagrad", "l1", "elastic_net", "max_norm", "batchnorm1d", "layernorm"):
        assert f"\n{name} " in result.output
    assert "FAIL" not in result.output


def test_a_broken_entry_point_beside_the_real_ones(monkeypatch, capsys):
    monkeypatch.setattr(registry_module, "_REPORTED", set())
    broken = md.EntryPoint(name="broken", value="minifc_no_such_module", group="minifc.plugins")
    reg = Registry(entry_points=[*INSTALLED.values(), broken])
    assert reg.component("update_rule", "lion").distribution == "minifc-optim-extra"
    status = {p.name: p.status for p in reg.plugin_list()}
    assert status == {"builtins": "loaded", "broken": "failed", "norm": "loaded", "optim_extra": "loaded"} | {
        "regularizers": "loaded"
    }  # only the entry points given: the real ones of this repo and the broken one
    assert capsys.readouterr().err.count("'broken'") == 1


def _data(n: int = 200, d: int = 10, classes: int = 3) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(classes, d, generator=gen) * 3
    y = torch.randint(0, classes, (n,), generator=gen)
    X = centres[y] + torch.randn(n, d, generator=gen)
    return {"X_train": X[:160], "y_train": y[:160], "X_val": X[160:], "y_val": y[160:]}


@pytest.mark.parametrize(
    "rule, config, regularizers",
    [
        ("lion", {"learning_rate": 3e-3}, ["l1", {"name": "max_norm", "max_norm": 3.0}]),
        ("adamw", {"learning_rate": 1e-2, "weight_decay": 1e-3}, ["l1", {"name": "max_norm", "max_norm": 3.0}]),
        ("nesterov", {"learning_rate": 5e-2}, ["elastic_net:reg=1e-3", "weight_decay:weight_decay=1e-3"]),
        ("adagrad", {"learning_rate": 5e-2}, ["l2:reg=1e-4"]),
    ],
)
def test_train_by_plugin_names(installed_registry, rule, config, regularizers):
    from minifc import Classifier, Trainer
    from minifc.builder import build_net

    torch.manual_seed(0)
    net = build_net(["linear:16", "batchnorm1d", "relu", "linear:16", "layernorm", "relu"], 10, 3)
    assert [type(m).__name__ for m in net][1:5:3] == ["BatchNorm1d", "LayerNorm"]
    trainer = Trainer(
        Classifier(net, "softmax"),
        _data(),
        update_rule=rule,
        optim_config=config,
        regularizers=regularizers,
        batch_size=40,
        num_epochs=8,
        device="cpu",
        seed=0,
        verbose=False,
        progress=False,
    )
    trainer.train()
    losses = trainer.loss_history
    assert sum(losses[-4:]) / 4 < 0.7 * sum(losses[:4]) / 4, losses
    assert trainer.val_acc_history[-1] > 0.8
    if any(isinstance(r, dict) and r["name"] == "max_norm" for r in regularizers):
        for p in net.parameters():
            if p.data.dim() >= 2:
                assert float(p.data.norm(dim=0).max()) <= 3.0 + 1e-5
    assert net[1].running_var.ne(1).any()  # batchnorm's statistics were updated in training
