"""A third-party package, installed for real in a temporary site folder (its dist-info declares the
``minifc.plugins`` entry point), that registers a schedule and a callback: found by name from Python,
the command line and configuration files, verified by ``minifc check``, and a run using both killed
mid-epoch and resumed gives exactly the parameters of a run that was never killed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from small_runs import make_trainer

from minifc.io.checkpoint import safe_load
from minifc.registry.core import Registry
from minifc.testing import invoke_cli, use_registry
from minifc.training.trainer import Trainer

PACKAGE = '''
from minifc import hookimpl
from minifc.training.callbacks import Callback


def triangle(peak: float = 0.5, floor: float = 0.1):
    """Up from floor to 1 at peak (a fraction of the run), then down to floor."""

    def schedule(step, total_steps):
        t = step / max(1, total_steps)
        rise = t / peak if t < peak else (1.0 - t) / (1.0 - peak)
        return floor + (1.0 - floor) * rise

    return schedule


class StepLog(Callback):
    """Records every ``every``-th step."""

    def __init__(self, every: int = 1):
        self.every, self.steps = every, []

    def on_step_end(self, trainer):
        if trainer.step_count % self.every == 0:
            self.steps.append(trainer.step_count)


@hookimpl
def minifc_register_schedules(register):
    register("triangle", triangle, description="triangle", bounds={"peak": (0.01, 0.99), "floor": (0.001, 1.0)})


@hookimpl
def minifc_register_callbacks(register):
    register("step_log", StepLog, description="records steps", bounds={"every": (1, 10**6)})
'''


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A fresh registry reading the installed entry points, minifc-thirdkinds 1.0 among them."""
    site = tmp_path / "site"
    (site / "minifc_thirdkinds").mkdir(parents=True)
    (site / "minifc_thirdkinds" / "__init__.py").write_text(textwrap.dedent(PACKAGE))
    info = site / "minifc_thirdkinds-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: minifc-thirdkinds\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[minifc.plugins]\nthirdkinds = minifc_thirdkinds\n")
    monkeypatch.syspath_prepend(str(site))
    for var in ("MINIFC_STRICT_PLUGINS", "MINIFC_DISABLE_PLUGINS", "MINIFC_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    return Registry()


def test_found_by_name_from_python_and_listed(registry):
    with use_registry(registry):
        trainer = make_trainer(schedule="triangle:peak=0.25", callbacks=["step_log:every=2"], num_epochs=2)
        trainer.train()
        (log,) = trainer.callbacks
        assert type(log).__name__ == "StepLog" and log.steps == [2, 4, 6, 8]
        assert registry.component("schedule", "triangle").provider == "thirdkinds (minifc-thirdkinds 1.0)"
        result = invoke_cli("plugins", "--json", registry=registry)
    plugin = {p["name"]: p for p in json.loads(result.output)["plugins"]}["thirdkinds"]
    assert plugin["status"] == "loaded" and plugin["distribution"] == "minifc-thirdkinds"
    assert plugin["components"] == {"schedule": ["triangle"], "callback": ["step_log"]}


def test_minifc_check_verifies_both(registry):
    result = invoke_cli("check", "thirdkinds", registry=registry)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith(("triangle", "step_log"))]
    assert len(lines) == 3 and all(line.endswith("pass") for line in lines), result.output


def _args(tiny_cifar, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(tiny_cifar), "--out", str(out), "--batch-size", "40", "--device", "cpu",
            "--quiet", "--epochs", "3", "--num-train", "120", "--hidden", "8", "--lr", "0.05", *extra]  # fmt: skip


def test_cli_and_config_file_runs_killed_and_resumed_are_exact(registry, tiny_cifar, tmp_path, monkeypatch):
    config = tmp_path / "run.toml"
    config.write_text('schedule = "triangle:peak=0.25,floor=0.2"\ncallbacks = [{ name = "step_log", every = 2 }]\n')
    whole = tmp_path / "whole"
    result = invoke_cli(*_args(tiny_cifar, whole, "--config", str(config)), registry=registry)
    assert result.exit_code == 0, result.output

    kill = {"at": 4}  # 3 steps per epoch: in the second epoch, after the first checkpoint
    step = Trainer.step

    def killed_step(self: Trainer) -> float:
        if self.step_count == kill.get("at"):
            kill.clear()
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(Trainer, "step", killed_step)
    out = tmp_path / "killed"
    options = ("--schedule", "triangle:peak=0.25,floor=0.2", "--callback", "step_log:every=2")
    result = invoke_cli(*_args(tiny_cifar, out, *options), registry=registry)
    assert result.exit_code == 130 and "interrupted: continue with" in result.output, result.output
    assert safe_load(out / "checkpoint.pt")["epoch"] == 1
    result = invoke_cli(*_args(tiny_cifar, out, "--resume"), registry=registry)
    assert result.exit_code == 0, result.output

    a, b = safe_load(whole / "checkpoint.pt"), safe_load(out / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == 3 and a["run_config"] == b["run_config"]
    assert a["run_config"]["schedule"] == {"name": "triangle", "peak": 0.25, "floor": 0.2}
    for name, w in a["params"].items():
        assert torch.equal(w, b["params"][name]), name
    assert a["loss_history"] == b["loss_history"]
