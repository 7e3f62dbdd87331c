"""`minifc plugins` and `minifc check` on an in-process registry (put in place as the default one)."""

from __future__ import annotations

import json
import types

import click
import pytest
from click.testing import CliRunner

import minifc.registry.core as registry_module
from minifc import nn
from minifc.cli import LazyGroup, main
from minifc.registry.core import Registry
from minifc.registry.hookspecs import hookimpl


@pytest.fixture
def use_registry(monkeypatch):
    """Install a registry as the process-wide one for this test; the previous one comes back after."""
    monkeypatch.setattr(registry_module, "_REPORTED", set())

    def install(reg: Registry) -> Registry:
        monkeypatch.setattr(registry_module, "_default", reg)
        return reg

    return install


def invoke(*args: str, cli: click.Group = main):
    return CliRunner().invoke(cli, list(args))


class WrongBackward(nn.Linear):
    """Linear whose backward forgets the bias gradient's sum over the batch."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.bias.grad = self.bias.grad / dout.shape[0]
        return dx


@hookimpl
def minifc_register_layers(register):
    register("wrong_linear", WrongBackward, description="a deliberately wrong backward")


def broken_hook(register):
    raise ImportError("needs a missing dependency")


def test_plugins_lists_every_plugin(use_registry):
    reg = use_registry(Registry(entry_points=False))
    reg.add_plugin(types.SimpleNamespace(minifc_register_layers=minifc_register_layers), "wrong", "minifc-wrong", "0.2")
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=hookimpl(broken_hook)), "broken", "minifc-broken", "1")
    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "builtins  [minifc" in out and "loaded" in out
    assert "update rules: adam, rmsprop, sgd, sgd_momentum" in out and "losses: softmax, svm" in out
    assert "wrong  [minifc-wrong 0.2]" in out and "layers: wrong_linear" in out
    assert "broken  [minifc-broken 1]" in out and "failed" in out and "needs a missing dependency" in out
    assert "module: minifc.registry.builtins" in out
    assert "examples: dropout, overfit, sgd-momentum, two-layer, update-rules" in out


def test_plugins_json(use_registry):
    reg = use_registry(Registry(entry_points=False))
    reg.add_plugin(types.SimpleNamespace(minifc_register_layers=minifc_register_layers), "wrong", "minifc-wrong", "0.2")
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=hookimpl(broken_hook)), "broken")
    result = invoke("plugins", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["builtins"]["status"] == "loaded" and plugins["builtins"]["distribution"] == "minifc"
    assert plugins["builtins"]["components"]["regularizer"] == ["l2"]
    assert plugins["wrong"] | {"path": None} == {
        "name": "wrong",
        "status": "loaded",
        "distribution": "minifc-wrong",
        "version": "0.2",
        "module": "SimpleNamespace",
        "path": None,
        "error": None,
        "components": {"layer": ["wrong_linear"]},
        "commands": [],
        "skipped": {},
    }
    assert plugins["broken"]["status"] == "failed" and "ImportError" in plugins["broken"]["error"]
    assert data["components"]["layer"]["wrong_linear"]["provider"] == "wrong (minifc-wrong 0.2)"
    assert data["components"]["update_rule"]["adam"]["plugin"] == "builtins"


def test_check_passes_on_the_builtins(use_registry):
    use_registry(Registry(entry_points=False))
    result = invoke("check")
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "all " in result.output and "checks passed (20 components" in result.output
    header = result.output.splitlines()[0].split()
    assert header == ["component", "kind", "provider", "check", "error", "result"]


def test_check_fails_on_a_wrong_backward(use_registry):
    reg = use_registry(Registry(entry_points=False))
    reg.add_plugin(types.SimpleNamespace(minifc_register_layers=minifc_register_layers), "wrong", "minifc-wrong", "0.2")
    result = invoke("check")
    assert result.exit_code == 1
    failing = [line for line in result.output.splitlines() if line.rstrip().endswith("FAIL")]
    assert failing and all(line.startswith("wrong_linear") for line in failing)
    assert any("train: grad bias" in line and "wrong (minifc-wrong 0.2)" in line for line in failing)
    assert "checks failed" in result.output

    result = invoke("check", "adam", "softmax")  # other components alone still pass
    assert result.exit_code == 0, result.output
    result = invoke("check", "wrong")  # by plugin name
    assert result.exit_code == 1 and "adam" not in result.output


def test_check_json_and_failed_only(use_registry):
    reg = use_registry(Registry(entry_points=False))
    reg.add_plugin(types.SimpleNamespace(minifc_register_layers=minifc_register_layers), "wrong")
    result = invoke("check", "--json", "wrong_linear", "relu")
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert {r["component"] for r in rows} == {"wrong_linear", "relu"}
    assert {"component", "kind", "provider", "check", "error", "passed", "detail"} <= set(rows[0])
    result = invoke("check", "--failed-only")
    assert result.exit_code == 1 and "relu" not in result.output.split("checks failed")[0]


def test_check_unknown_name_is_a_usage_error(use_registry):
    use_registry(Registry(entry_points=False))
    result = invoke("check", "sgd_momentun")
    assert result.exit_code == 2 and "did you mean 'sgd_momentum'?" in result.output


def test_check_fails_when_a_plugin_failed_to_load(use_registry):
    reg = use_registry(Registry(entry_points=False))
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=hookimpl(broken_hook)), "broken")
    result = invoke("check")
    assert result.exit_code == 1 and "[broken]" in result.output


def test_plugin_commands_reach_the_cli(use_registry):
    @hookimpl
    def minifc_register_commands(cli):
        @cli.command()
        def hello():
            """Say hello."""
            click.echo("hello from a plugin")

    reg = use_registry(Registry(entry_points=False))
    reg.add_plugin(types.SimpleNamespace(minifc_register_commands=minifc_register_commands), "greeter")
    cli = LazyGroup(name="minifc")  # a fresh group: the module's one caches plugin commands
    result = invoke("hello", cli=cli)
    assert result.exit_code == 0 and "hello from a plugin" in result.output
    assert "commands: hello" in invoke("plugins", cli=cli).output


def test_a_plugin_command_that_raises_is_one_error_line_naming_its_plugin(use_registry):
    @hookimpl
    def minifc_register_commands(cli):
        @cli.command()
        def boom():
            raise ValueError("bad day")

    reg = use_registry(Registry(entry_points=False))
    reg.add_plugin(types.SimpleNamespace(minifc_register_commands=minifc_register_commands), "boomer")
    result = invoke("boom", cli=LazyGroup(name="minifc"))
    assert result.exit_code == 1
    expected = "Error: the command 'boom' of plugin 'boomer' failed: ValueError: bad day"
    assert result.output.strip().splitlines() == [expected]


def test_strict_mode_in_train_is_one_error_line_naming_the_plugin(use_registry, monkeypatch):
    monkeypatch.setenv("MINIFC_STRICT_PLUGINS", "1")
    reg = use_registry(Registry(entry_points=False))
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=hookimpl(broken_hook)), "broken")
    result = invoke("train", "--print-config")
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: minifc: plugin 'broken' (in-process") and "needs a missing dependency" in line
    assert "update_rule" not in line


def test_a_strict_mode_value_that_cannot_be_read_is_one_error_line(use_registry, monkeypatch):
    monkeypatch.setenv("MINIFC_STRICT_PLUGINS", "sometimes")
    use_registry(Registry(entry_points=False))
    result = invoke("plugins")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: the environment variable MINIFC_STRICT_PLUGINS is 'sometimes': give 1, true, yes or on for strict "
        "mode, or 0, false, no, off or nothing for the default"
    ]


def test_check_fails_for_a_plugin_whose_component_clashed(use_registry):
    reg = use_registry(Registry(entry_points=False))
    reg.add_plugin(types.SimpleNamespace(minifc_register_layers=minifc_register_layers), "first")
    reg.add_plugin(types.SimpleNamespace(minifc_register_layers=hookimpl(
        lambda register: register("wrong_linear", nn.ReLU)
    )), "second")
    result = invoke("check", "second")
    assert result.exit_code == 1 and "[second]" in result.output and "registered twice" in result.output
