"""The sweep's search space, presets and storage checks: no Optuna needed (the core env runs these too)."""

from __future__ import annotations

import types

import pytest

from minifc import hookimpl
from minifc.sweeps.errors import SweepError
from minifc.sweeps.presets import preset_settings
from minifc.sweeps.space import apply_params, parse_rule, parse_space
from minifc.sweeps.storage import check_storage, storage_kind
from minifc.testing import plugin_registry, use_registry


class FakeTrial:
    """Records what a rule asks Optuna for; returns the low end (or the last choice)."""

    def __init__(self):
        self.asked = []

    def suggest_float(self, name, low, high, *, log=False):
        self.asked.append(("float", name, low, high, log))
        return low

    def suggest_int(self, name, low, high, *, step=1, log=False):
        self.asked.append(("int", name, low, high, step, log))
        return low

    def suggest_categorical(self, name, choices):
        self.asked.append(("categorical", name, tuple(choices)))
        return choices[-1]


def test_each_distribution_asks_optuna_for_its_kind():
    trial = FakeTrial()
    assert parse_rule("lr", "loguniform(1e-4, 1e-1)", "w").suggest(trial) == 1e-4
    assert parse_rule("dropout", "uniform(0, 0.5)", "w").suggest(trial) == 0.0
    assert parse_rule("batch_size", "int(50, 200, 50)", "w").suggest(trial) == 50
    assert parse_rule("epochs", "logint(1, 64)", "w").suggest(trial) == 1
    assert trial.asked == [("float", "lr", 1e-4, 1e-1, True), ("float", "dropout", 0.0, 0.5, False),
                           ("int", "batch_size", 50, 200, 50, False), ("int", "epochs", 1, 64, 1, True)]


def test_categorical_choices_may_be_lists_and_words():
    trial = FakeTrial()
    assert parse_rule("hidden", "categorical([100], [100, 100])", "w").suggest(trial) == [100, 100]
    assert trial.asked[-1] == ("categorical", "hidden", ("[100]", "[100, 100]"))  # Optuna stores JSON text
    assert parse_rule("update_rule", 'categorical("sgd", "adam")', "w").suggest(trial) == "adam"
    assert parse_rule("norm", "categorical(none, 'batchnorm1d')", "w").choices == (None, "batchnorm1d")


def test_a_component_option_takes_the_bounds_the_component_declares():
    rule = parse_rule("update_rule.beta1", "uniform()", "w", {"update_rule": "adam"})
    assert rule.low == 0.0 and 0.999 < rule.high < 1.0  # [0, 1): the open end is never drawn
    with pytest.raises(SweepError, match=r"leaves the bounds the component declares \(in \[0, 1\)\)"):
        parse_rule("update_rule.beta1", "uniform(0.5, 1.5)", "w", {"update_rule": "adam"})
    with pytest.raises(SweepError, match="give the range"):  # learning rates and regs: >= 0, unbounded above
        parse_rule("regularizer.l2.reg", "loguniform()", "w")
    with pytest.raises(SweepError, match="has no option 'beta3'; it takes beta1, beta2, epsilon"):
        parse_rule("update_rule.beta3", "uniform()", "w", {"update_rule": "adam"})


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("lr", "gauss(0, 1)", "unknown distribution 'gauss'"),
        ("lr", "loguniform(0, 1)", "LOW > 0"),
        ("lr", "uniform(1, 1)", "LOW < HIGH"),
        ("epochs", "int(1.5, 3)", "takes integers"),
        ("lr", "uniform(a, 1)", "cannot read the arguments"),
        ("lr", "0.1", "expected DIST(ARGS)"),
        ("out", "categorical('a')", "cannot search 'out'"),
        ("batchsize", "int(1, 2)", "did you mean 'batch_size'"),
        ("hidden", "categorical()", "at least one choice"),
    ],
)
def test_bad_rules_are_refused_naming_where(key, text, message):
    with pytest.raises(SweepError, match="^run.toml: \\[search\\] key") as e:
        parse_space({key: text}, "run.toml")
    assert message in str(e.value)


def test_params_apply_to_keys_rule_options_and_regularizers():
    base = {"hidden": [10], "regularizers": [{"name": "l2", "reg": 0.1}]}
    got = apply_params(base, {"hidden": [20, 20], "update_rule.beta1": 0.8, "regularizer.l2.reg": 0.5,
                              "regularizer.max_norm.max_norm": 3.0})
    assert got["hidden"] == [20, 20] and got["update_rule_options"] == {"beta1": 0.8}
    assert got["regularizers"] == [{"name": "l2", "reg": 0.5}, {"name": "max_norm", "max_norm": 3.0}]
    assert base["regularizers"] == [{"name": "l2", "reg": 0.1}]  # the base is not changed


def test_storages_are_checked_before_anything_opens():
    assert storage_kind(None) == "journal" and storage_kind("postgresql+psycopg2://u@h/db") == "postgresql"
    assert check_storage("sqlite:///s.db", 1) == "sqlite"
    with pytest.raises(SweepError, match="database is locked"):
        check_storage("sqlite:///s.db", 2)
    with pytest.raises(SweepError, match="expected a database URL") as e:
        check_storage("redis://u:secret@host", 1)
    assert "secret" not in str(e.value)


def _preset(quick=False):
    return {"base": {"epochs": 1 if quick else 5}, "search": {"lr": "loguniform(1e-3, 1e-1)"}, "trials": 4}


def test_a_plugin_registers_a_sweep_preset_through_the_hook():
    plugin = types.SimpleNamespace(minifc_register_sweep_presets=hookimpl(
        lambda register: register("mine", _preset, description="a plugin's sweep")))
    with use_registry(plugin_registry(plugin, "mine-plugin")):
        assert preset_settings("mine", quick=True)["base"] == {"epochs": 1}
        assert preset_settings("two-layer", quick=False)["trials"] == 30
        with pytest.raises(SweepError, match="--preset: unknown sweep preset 'nope'"):
            preset_settings("nope", quick=False)


def test_a_preset_returning_something_else_is_refused_naming_its_plugin():
    plugin = types.SimpleNamespace(minifc_register_sweep_presets=hookimpl(
        lambda register: register("broken", lambda quick: {"search": {}}, description="")))
    with use_registry(plugin_registry(plugin, "broken-plugin")), pytest.raises(SweepError, match="broken-plugin"):
        preset_settings("broken", quick=False)
