"""`minifc example`: names resolved through the registry (the minifc_register_examples hook), its help,
its output-folder rule and its device default. No CIFAR-10 needed: the data loader is replaced."""

from __future__ import annotations

import json
import types

import pytest

import minifc.cli.commands.example as example_command
from minifc.errors import UnknownComponentError
from minifc.experiments.classic_examples import CLASSIC_EXAMPLES
from minifc.experiments.example_options import ExampleOptions
from minifc.experiments.examples import run_example
from minifc.registry.components import PluginError
from minifc.registry.core import Registry
from minifc.registry.hookspecs import hookimpl
from minifc.testing import invoke_cli, plugin_registry, synthetic_data
from minifc.training.trainer import resolve_device

PLUGIN_PACKAGES = ("minifc-recipes", "minifc_recipes", "minifc-norm", "minifc-optim-extra", "minifc_norm")

CALLS: list[ExampleOptions] = []


def tiny(data, options):
    """Records its options, writes one 'plot' and returns a summary with one row."""
    CALLS.append(options)
    plot = options.out / "tiny.png"
    plot.write_bytes(b"\x89PNG\r\n\x1a\n")
    row = {"name": "tiny", "final_train_acc": 1.0, "final_val_acc": 0.5, "best_val_acc": 0.5, "seconds": 0.0}
    return {"rows": [row], "plots": [str(plot)], "target": ("best_val_acc", 0.4)}


@hookimpl
def minifc_register_examples(register):
    register("tiny", tiny, description="a stand-in that trains nothing")
    register("timed", tiny, description="a stand-in that takes a time budget", budget=True)


def with_tiny() -> Registry:
    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_examples=minifc_register_examples), "tinyplugin")
    return reg


@pytest.fixture(autouse=True)
def no_cifar(monkeypatch):
    """The command's data: a small synthetic set instead of CIFAR-10."""
    CALLS.clear()
    monkeypatch.setattr(example_command, "load_data", lambda root, dtype, device: synthetic_data(20, 10, 10))


def test_the_classic_examples_are_builtins_registered_through_the_hook():
    reg = Registry(entry_points=False)
    assert reg.names("example") == sorted(CLASSIC_EXAMPLES)
    for name, (fn, description) in CLASSIC_EXAMPLES.items():
        c = reg.component("example", name)
        assert c.obj is fn and c.plugin == "builtins" and c.description == description


def test_run_example_resolves_plugin_examples_and_names_the_closest(tmp_path):
    summary = run_example("tiny", synthetic_data(20, 10, 10), ExampleOptions(out=tmp_path / "o"), registry=with_tiny())
    assert summary["rows"][0]["name"] == "tiny" and (tmp_path / "o" / "tiny.png").exists()
    with pytest.raises(UnknownComponentError, match="did you mean 'tiny'.*Known examples: dropout"):
        run_example("tiyn", {}, ExampleOptions(out=tmp_path), registry=with_tiny())


def test_an_example_must_take_data_and_options():
    @hookimpl
    def minifc_register_examples(register):
        register("bad", lambda data: {}, description="one argument only")

    plugin = types.SimpleNamespace(__name__="badplugin", minifc_register_examples=minifc_register_examples)
    with pytest.raises(PluginError, match=r"example 'bad' must be callable as bad\(data, options\)"):
        plugin_registry(plugin)


def test_help_lists_registered_examples_and_names_no_plugin_package():
    result = invoke_cli("example", "--help", registry=Registry(entry_points=False))
    assert result.exit_code == 0, result.output
    listed = result.output.split("Examples (NAME):")[1]
    for name in CLASSIC_EXAMPLES:
        assert f"\n  {name} " in listed
    assert "best" not in listed
    assert not any(p in result.output for p in PLUGIN_PACKAGES)
    assert "[default: auto]" in result.output and "CPU" in result.output
    result = invoke_cli("example", "--help", registry=with_tiny())
    assert "tiny" in result.output and "a stand-in that trains nothing" in result.output


def test_unknown_example_is_a_one_line_usage_error(tmp_path):
    result = invoke_cli("example", "best", "--out", str(tmp_path / "o"), registry=Registry(entry_points=False))
    assert result.exit_code == 2
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1
    assert error[0].startswith(
        "Error: unknown example 'best'. Known examples: dropout, overfit, sgd-momentum, two-layer, update-rules."
    )
    assert "plugin package minifc-recipes" in error[0]  # which package provides it
    assert not (tmp_path / "o").exists()


def test_runs_a_plugin_example_and_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "o"
    args = ("example", "tiny", "--out", str(out), "--device", "cpu")
    first = invoke_cli(*args, registry=with_tiny())
    assert first.exit_code == 0, first.output
    assert "tiny: summary" in first.output and "target: best_val_acc >= 0.4: reached" in first.output
    summary = (out / "summary.json").read_text()
    assert json.loads(summary)["rows"][0]["name"] == "tiny"

    again = invoke_cli(*args, registry=with_tiny())
    assert again.exit_code == 2 and len(CALLS) == 1
    assert "already holds the results of an example (summary.json, tiny.png)" in again.output
    assert "--force" in again.output
    assert (out / "summary.json").read_text() == summary

    (out / "summary.json").unlink()  # plots alone are results too
    assert invoke_cli(*args, registry=with_tiny()).exit_code == 2

    forced = invoke_cli(*args, "--force", registry=with_tiny())
    assert forced.exit_code == 0, forced.output
    assert len(CALLS) == 2 and (out / "summary.json").exists()


def test_an_example_names_its_own_columns(tmp_path):
    def labelled(data, options):
        summary = tiny(data, options)
        summary["columns"] = {"name": "name", "best_val_acc": "val acc (64 images, 1 view)", "seconds": "s (budget 9)"}
        return summary

    @hookimpl
    def minifc_register_examples(register):
        register("labelled", labelled, description="a stand-in with its own column headers")

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_examples=minifc_register_examples), "labelplugin")
    result = invoke_cli("example", "labelled", "--out", str(tmp_path / "o"), "--device", "cpu", registry=reg)
    assert result.exit_code == 0, result.output
    header, _, line = result.output.split("labelled: summary\n", 1)[1].splitlines()[:3]
    assert header.split("  ")[0] == "name" and "val acc (64 images, 1 view)" in header and "s (budget 9)" in header
    assert "final_val_acc" not in header and line.split() == ["tiny", "0.5000", "0.00"]


def test_an_empty_or_unrelated_out_folder_is_fine(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke_cli("example", "tiny", "--out", str(tmp_path), "--device", "cpu", registry=with_tiny())
    assert result.exit_code == 0, result.output
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_device_defaults_to_auto_like_train(tmp_path):
    (param,) = [p for p in example_command.example.params if p.name == "device"]
    assert param.default == "auto"
    result = invoke_cli("example", "tiny", "--out", str(tmp_path / "o"), "--quiet", registry=with_tiny())
    assert result.exit_code == 0, result.output
    assert CALLS[-1].device == str(resolve_device("auto"))
    assert ExampleOptions(out=tmp_path).device == "auto"


def test_an_example_that_returns_no_summary_is_named(tmp_path):
    @hookimpl
    def minifc_register_examples(register):
        register("broken", lambda data, options: None, description="returns nothing")

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_examples=minifc_register_examples), "brokenplugin")
    result = invoke_cli("example", "broken", "--out", str(tmp_path / "o"), "--device", "cpu", registry=reg)
    assert result.exit_code == 1
    assert "example broken returned NoneType, not a summary dict" in result.output


def test_check_does_not_run_examples_and_says_so():
    result = invoke_cli("check", "two-layer", registry=Registry(entry_points=False))
    assert result.exit_code == 2
    assert "'two-layer' is an example" in result.output and "minifc example two-layer" in result.output
    result = invoke_cli("check", registry=Registry(entry_points=False))
    assert result.exit_code == 0 and "(20 components" in result.output


def test_set_puts_parsed_values_into_extra_and_budget_into_options(tmp_path):
    args = ("example", "timed", "--out", str(tmp_path / "o"), "--device", "cpu", "--quiet")
    result = invoke_cli(
        *args, "--budget", "20", "--set", "recipe.width=512", "--set", "recipe.flip=false",
        "--set", "note=two words", "--set", "lr=1e-3", registry=with_tiny(),
    )
    assert result.exit_code == 0, result.output
    options = CALLS[-1]
    assert options.budget == 20.0
    assert options.extra == {"recipe": {"width": 512, "flip": False}, "note": "two words", "lr": 1e-3}
    assert "target:" not in result.output  # --set: the target is for the example's own settings (and a budget)
    result = invoke_cli("example", "timed", "--out", str(tmp_path / "p"), "--quiet", registry=with_tiny())
    assert result.exit_code == 0 and CALLS[-1].budget is None and CALLS[-1].extra == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("width", "'width' is not key=value"),
        ("=3", "'=3' is not key=value"),
        ("recipe..width=3", "is not key=value"),
        ("a=1 --set a.b=2", None),
    ],
)
def test_bad_set_items_are_named(tmp_path, item, message):
    result = invoke_cli("example", "tiny", "--out", str(tmp_path / "o"), "--set", item, registry=with_tiny())
    if message is None:  # a value may hold anything after the first '='
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2 and "--set" in result.output and message in result.output
    assert not CALLS and not (tmp_path / "o").exists()


def test_parse_settings_rejects_a_key_set_twice_or_under_a_value():
    with pytest.raises(ValueError, match="'a' is set twice"):
        example_command.parse_settings(["a=1", "a=2"])
    with pytest.raises(ValueError, match="'a' is already set to a value"):
        example_command.parse_settings(["a=1", "a.b=2"])
    assert example_command.parse_settings(["a.b=1", "a.c=x=y"]) == {"a": {"b": 1, "c": "x=y"}}


def test_budget_is_refused_for_an_example_without_one(tmp_path):
    result = invoke_cli("example", "tiny", "--out", str(tmp_path / "o"), "--budget", "60", registry=with_tiny())
    assert result.exit_code == 2 and not CALLS
    assert "example tiny has no time budget, so --budget does not apply to it (examples that take one: timed)" in (
        " ".join(result.output.split())
    )
    result = invoke_cli("example", "timed", "--out", str(tmp_path / "o"), "--budget", "0", registry=with_tiny())
    assert result.exit_code == 2 and "--budget" in result.output


@pytest.mark.parametrize("budget", ["inf", "nan", "0.001", "1e9", "-5"])
def test_a_budget_that_is_not_finite_or_out_of_range_is_refused_naming_the_range(tmp_path, budget):
    result = invoke_cli("example", "timed", "--out", str(tmp_path / "o"), "--budget", budget, registry=with_tiny())
    assert result.exit_code == 2 and not CALLS
    text = " ".join(result.output.split())
    assert "--budget" in text and "a budget must be a finite number of seconds from 5" in text and "2592000" in text


@hookimpl
def _examples_with_settings(register):
    register("declared", tiny, description="reads options.extra['width']", settings=("width",))


def test_set_of_a_key_that_an_example_does_not_take_is_refused_naming_it(tmp_path):
    out = str(tmp_path / "o")
    builtins_only = Registry(entry_points=False)
    result = invoke_cli("example", "two-layer", "--out", out, "--set", "nosuchkey=1", registry=builtins_only)
    assert result.exit_code == 2 and "--set" in result.output
    assert "example two-layer has no setting 'nosuchkey': it takes no --set settings" in " ".join(result.output.split())
    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_examples=_examples_with_settings), "declaring")
    result = invoke_cli("example", "declared", "--out", out, "--set", "widht=3", registry=reg)
    assert result.exit_code == 2 and "has no setting 'widht': it takes width" in " ".join(result.output.split())
    result = invoke_cli("example", "declared", "--out", out, "--set", "width=3", registry=reg)
    assert result.exit_code == 0, result.output
    assert CALLS[-1].extra == {"width": 3}


def test_a_seed_beyond_torchs_range_names_the_option(tmp_path):
    result = invoke_cli("example", "tiny", "--out", str(tmp_path / "o"), "--seed", str(2**64), registry=with_tiny())
    assert result.exit_code == 2 and "--seed" in result.output and not CALLS


def test_precision_reaches_the_example_and_a_classic_example_trains_in_bf16_mixed(tmp_path):
    result = invoke_cli("example", "tiny", "--out", str(tmp_path / "o"), "--quiet", "--precision", "bf16-mixed",
                        registry=with_tiny())
    assert result.exit_code == 0, result.output
    assert CALLS[-1].precision == "bf16-mixed" and ExampleOptions(out=tmp_path).precision is None
    result = invoke_cli("example", "two-layer", "--out", str(tmp_path / "c"), "--quiet", "--device", "cpu",
                        "--epochs", "1", "--precision", "bf16-mixed", registry=Registry(entry_points=False))
    assert result.exit_code == 0, result.output
    bad = invoke_cli("example", "tiny", "--out", str(tmp_path / "b"), "--precision", "16", registry=with_tiny())
    assert bad.exit_code == 2 and "'16' is not one of '32', '64', 'bf16-mixed', 'auto'" in bad.output
