"""The plugin registry: providers, conflicts, overrides, failures and their isolation, env vars, specs."""

from __future__ import annotations

import importlib.metadata as md
import sys
import types

import click
import pytest

import minifc.registry.core as registry_module
from minifc import nn
from minifc.errors import UnknownComponentError
from minifc.registry.blame import layer_provider
from minifc.registry.components import PluginError
from minifc.registry.core import Registry
from minifc.registry.hookspecs import hookimpl
from minifc.registry.specs import parse_spec, parse_value, split_spec


@pytest.fixture(autouse=True)
def _fresh_reports(monkeypatch):
    """Every test sees its own failures reported (they are reported once per process)."""
    monkeypatch.setattr(registry_module, "_REPORTED", set())
    for var in ("MINIFC_STRICT_PLUGINS", "MINIFC_DISABLE_PLUGINS", "MINIFC_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


def plugin(name: str = "p", **hooks) -> types.SimpleNamespace:
    """A plugin object whose hooks register ``{kind: {name: obj}}`` (each hook marked)."""
    ns = types.SimpleNamespace(__name__=name)
    kinds = {
        "layers": "minifc_register_layers",
        "losses": "minifc_register_losses",
        "update_rules": "minifc_register_update_rules",
        "regularizers": "minifc_register_regularizers",
    }
    for key, table in hooks.items():

        def hook(register, table=table):
            for comp_name, value in table.items():
                obj, meta = value if isinstance(value, tuple) else (value, {})
                register(comp_name, obj, **meta)

        setattr(ns, kinds[key], hookimpl(hook))
    return ns


def my_loss(scores, y):
    return scores.sum(), scores


def other_loss(scores, y):
    return scores.sum(), scores


def my_rule(w, dw, config=None):
    return w, config or {}


def other_rule(w, dw, config=None):
    return w, config or {}


def test_builtins_come_from_the_builtins_plugin():
    reg = Registry(entry_points=False)
    c = reg.component("update_rule", "adam")
    assert c.plugin == "builtins" and c.distribution == "minifc"
    assert c.provider.startswith("builtins (minifc ")
    assert reg.names("layer") == ["dropout", "linear", "linear_relu", "relu"]
    assert reg.names("loss") == ["softmax", "svm"]
    assert reg.names("regularizer") == ["l2"]
    assert reg.component("regularizer", "l2").metadata["stage"] == "loss"
    assert reg.get("layer", "linear") is nn.Linear
    [info] = reg.plugin_list()
    assert info.status == "loaded" and info.components["loss"] == ["softmax", "svm"]


def test_in_process_plugin_records_distribution_and_version():
    reg = Registry(entry_points=False)
    reg.add_plugin(plugin(losses={"mine": my_loss}), "mine_plugin", "minifc-mine", "1.2.3")
    c = reg.component("loss", "mine")
    assert (c.obj, c.plugin, c.distribution, c.version) == (my_loss, "mine_plugin", "minifc-mine", "1.2.3")
    assert c.provider == "mine_plugin (minifc-mine 1.2.3)"
    reg.add_plugin(plugin(losses={"late": other_loss}), "late")  # after loading: activated at once
    assert reg.get("loss", "late") is other_loss


def test_conflict_names_both_providers_and_skips_only_the_clashing_component(capsys):
    reg = Registry(entry_points=False)
    reg.add_plugin(plugin(losses={"mine": my_loss}), "first", "dist-one", "1.0")
    reg.add_plugin(plugin(layers={"relu2": nn.ReLU}, losses={"ok": other_loss, "mine": other_loss}), "second",
                   "dist-two", "2.0")
    assert reg.get("loss", "mine") is my_loss
    info = reg.plugins["second"]
    assert info.status == "loaded" and info.skipped == {"loss": ["mine"]}
    assert info.components == {"layer": ["relu2"], "loss": ["ok"]}
    assert "first (dist-one 1.0)" in info.error and "second (dist-two 2.0)" in info.error
    assert "override=True" in info.error
    assert reg.get("loss", "ok") is other_loss  # the second plugin's other components are kept
    assert reg.get("layer", "relu2") is nn.ReLU
    err = capsys.readouterr().err
    assert err.count("plugin 'second'") == 1 and "dist-two" in err and "other components are loaded" in err


def test_conflict_with_a_builtin():
    reg = Registry(entry_points=False)
    reg.add_plugin(plugin(update_rules={"adam": my_rule, "mine": other_rule}), "mine", "dist", "0.1")
    reg.load()
    assert reg.plugins["mine"].skipped == {"update_rule": ["adam"]}
    assert "builtins (minifc" in reg.plugins["mine"].error and "mine (dist 0.1)" in reg.plugins["mine"].error
    assert reg.component("update_rule", "adam").plugin == "builtins"
    assert reg.get("update_rule", "mine") is other_rule


def test_a_component_of_a_failed_plugin_is_named_with_its_plugin():
    def half(register):
        register("first_loss", my_loss)
        raise RuntimeError("kaboom")

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=hookimpl(half)), "half", "minifc-half", "0.2")
    with pytest.raises(UnknownComponentError) as raised:
        reg.get("loss", "first_loss")
    message = str(raised.value)
    assert "the plugin 'half' (minifc-half 0.2) that registers it failed to load: RuntimeError: kaboom" in message
    assert "did you mean" not in message


def test_a_hook_that_exits_fails_its_plugin_only(capsys):
    def leave(register):
        sys.exit(0)

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=hookimpl(leave)), "quitter")
    reg.add_plugin(plugin(losses={"mine": my_loss}), "good")
    assert reg.get("loss", "mine") is my_loss
    assert reg.plugins["quitter"].status == "failed" and "SystemExit: 0" in reg.plugins["quitter"].error
    assert "plugin 'quitter'" in capsys.readouterr().err


def test_ctrl_c_while_importing_a_plugin_names_it(capsys):
    class Interrupted:
        name, value, dist = "slowpoke", "slowpoke_module", None

        def load(self):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Registry(entry_points=[Interrupted()]).load()
    assert "interrupted while importing the plugin 'slowpoke' (slowpoke_module)" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1", "true", "Yes", " on "])
def test_strict_mode_values_that_turn_it_on(monkeypatch, value):
    monkeypatch.setenv("MINIFC_STRICT_PLUGINS", value)
    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=hookimpl(lambda register: 1 / 0)), "bad")
    with pytest.raises(PluginError, match="ZeroDivisionError"):
        reg.load()


@pytest.mark.parametrize("value", ["0", "false", "No", "off", "OFF", ""])
def test_strict_mode_values_that_leave_it_off(monkeypatch, value):
    monkeypatch.setenv("MINIFC_STRICT_PLUGINS", value)
    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=hookimpl(lambda register: 1 / 0)), "bad")
    reg.load()
    assert reg.plugins["bad"].status == "failed"


def test_strict_mode_value_that_cannot_be_read_is_refused(monkeypatch):
    monkeypatch.setenv("MINIFC_STRICT_PLUGINS", "maybe")
    with pytest.raises(PluginError, match=r"MINIFC_STRICT_PLUGINS is 'maybe': give 1, true, yes or on"):
        Registry(entry_points=False).load()


def test_override_replaces_a_builtin_on_purpose():
    reg = Registry(entry_points=False)
    reg.add_plugin(plugin(update_rules={"adam": (my_rule, {"override": True})}), "mine")
    reg.load()
    c = reg.component("update_rule", "adam")
    assert c.obj is my_rule and c.plugin == "mine" and c.override
    assert "override" not in c.metadata
    reg.add_plugin(plugin(update_rules={"adam": (other_rule, {"override": True})}), "third")
    assert reg.plugins["third"].skipped == {"update_rule": ["adam"]}  # two overrides of one name: ambiguous
    assert "mine" in reg.plugins["third"].error and reg.get("update_rule", "adam") is my_rule


def test_same_object_twice_is_harmless():
    reg = Registry(entry_points=False)
    reg.add_plugin(plugin(layers={"relu": nn.ReLU}, losses={"softmax": reg_softmax()}), "again")
    reg.load()
    assert reg.plugins["again"].status == "loaded"
    assert reg.component("layer", "relu").plugin == "builtins"


def reg_softmax():
    from minifc.functional import softmax_loss

    return softmax_loss


def test_unknown_name_suggests_the_closest_and_lists_known():
    reg = Registry(entry_points=False)
    with pytest.raises(UnknownComponentError) as e:
        reg.get("update_rule", "adamm")
    msg = str(e.value)
    assert "did you mean 'adam'?" in msg and "sgd_momentum" in msg
    with pytest.raises(KeyError):  # also a KeyError
        reg.get("layer", "nothing_like_it")
    with pytest.raises(ValueError, match="unknown component kind"):
        reg.get("optimizer", "adam")


def test_hook_exception_fails_the_plugin_others_work(capsys):
    def boom(register):
        register("fine_layer", nn.ReLU)
        raise RuntimeError("kaboom")

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_layers=hookimpl(boom)), "bad", "minifc-bad", "0.0.1")
    reg.add_plugin(plugin(losses={"mine": my_loss}), "good")
    assert reg.get("loss", "mine") is my_loss
    assert reg.plugins["bad"].status == "failed" and "RuntimeError: kaboom" in reg.plugins["bad"].error
    assert "fine_layer" not in reg.names("layer")  # all or nothing
    err = capsys.readouterr().err
    assert "minifc-bad" in err and "kaboom" in err and "MINIFC_DISABLE_PLUGINS=bad" in err


def test_bad_hook_signature_fails_the_plugin():
    def typo(regster):  # not an argument of the hook
        pass

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=hookimpl(typo)), "typo")
    reg.load()
    assert reg.plugins["typo"].status == "failed"
    assert "invalid hook implementation" in reg.plugins["typo"].error
    assert reg.names("loss") == ["softmax", "svm"]


@pytest.mark.parametrize(
    "hooks, message",
    [
        ({"losses": {"one_arg": lambda scores: scores}}, "must be callable as one_arg(scores, y)"),
        ({"update_rules": {"two": lambda w, dw: (w, {})}}, "(w, dw, config)"),
        ({"regularizers": {"r": lambda w: w}}, "(w, config)"),
        ({"regularizers": {"r": (lambda w, c: (w, w), {"stage": "after"})}}, "stage must be one of"),
        ({"regularizers": {"r": (lambda w, c: (w, w), {"applies_to": "biases"})}}, "applies_to must be one of"),
        ({"layers": {"notmodule": dict}}, "must subclass minifc.nn.Module"),
        ({"losses": {"x": 3}}, "must be callable"),
        ({"losses": {"a:b": my_loss}}, "names must be"),
    ],
)
def test_bad_components_fail_the_plugin(hooks, message):
    reg = Registry(entry_points=False)
    reg.add_plugin(plugin(**hooks), "bad")
    reg.load()
    assert reg.plugins["bad"].status == "failed"
    assert message in reg.plugins["bad"].error


def test_unmarked_and_unknown_hooks_fail_the_plugin():
    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_losses=lambda register: None), "unmarked")
    reg.add_plugin(types.SimpleNamespace(minifc_register_layer=hookimpl(lambda register: None)), "misspelt")
    reg.load()
    assert "not marked with @minifc.hookimpl" in reg.plugins["unmarked"].error
    assert "unknown hook(s) ['minifc_register_layer']" in reg.plugins["misspelt"].error


def test_a_second_plugin_with_a_taken_name_keeps_the_first_listed():
    reg = Registry(entry_points=False)
    reg.add_plugin(plugin(losses={"mine": my_loss}), "dup", "dist-a", "1")
    reg.add_plugin(plugin(losses={"other": other_loss}), "dup", "dist-b", "1")
    reg.load()
    assert reg.plugins["dup"].status == "loaded" and reg.plugins["dup"].distribution == "dist-a"
    assert reg.plugins["dup (dist-b)"].status == "failed"


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("MINIFC_STRICT_PLUGINS", "1")
    reg = Registry(entry_points=False)
    reg.add_plugin(plugin(update_rules={"adam": my_rule}), "clash")
    with pytest.raises(PluginError, match="registered twice") as raised:
        reg.load()
    assert "is skipped" not in str(raised.value)  # strict mode raises: nothing is skipped
    assert "MINIFC_STRICT_PLUGINS is set" in str(raised.value)


# -- entry points: hand-made EntryPoint objects pointing at modules put in sys.modules -------------


@pytest.fixture
def fake_modules(monkeypatch):
    def make(module_name: str, **hooks) -> str:
        module = types.ModuleType(module_name)
        for attr, value in vars(plugin(module_name, **hooks)).items():
            if attr.startswith("minifc_"):
                setattr(module, attr, value)
        monkeypatch.setitem(sys.modules, module_name, module)
        return module_name

    return make


def ep(name: str, value: str) -> md.EntryPoint:
    return md.EntryPoint(name=name, value=value, group="minifc.plugins")


def test_import_error_is_reported_once_and_isolated(fake_modules, capsys):
    good = fake_modules("minifc_fake_good", losses={"mine": my_loss})
    eps = [ep("broken", "minifc_fake_does_not_exist"), ep("good", good)]
    reg = Registry(entry_points=eps)
    assert reg.get("loss", "mine") is my_loss
    info = reg.plugins["broken"]
    assert info.status == "failed" and "import failed: ModuleNotFoundError" in info.error
    Registry(entry_points=eps).load()  # the same failure in a second registry is not printed again
    reg.names("loss")
    err = capsys.readouterr().err
    assert err.count("'broken'") == 1
    assert "entry point broken = minifc_fake_does_not_exist" in err


def test_hook_exception_in_an_entry_point(fake_modules):
    def boom(register):
        raise ValueError("bad plugin")

    module = types.ModuleType("minifc_fake_boom")
    module.minifc_register_update_rules = hookimpl(boom)
    sys.modules["minifc_fake_boom"] = module
    try:
        reg = Registry(entry_points=[ep("boom", "minifc_fake_boom"), ep("good", fake_modules("minifc_fake_g2"))])
        reg.load()
    finally:
        del sys.modules["minifc_fake_boom"]
    assert reg.plugins["boom"].status == "failed" and "bad plugin" in reg.plugins["boom"].error
    assert reg.plugins["good"].status == "loaded"
    assert reg.get("update_rule", "sgd")


def test_strict_mode_raises_on_import_error(monkeypatch):
    monkeypatch.setenv("MINIFC_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="import failed"):
        Registry(entry_points=[ep("broken", "minifc_fake_does_not_exist")]).load()


def test_disable_and_allow_lists(fake_modules, monkeypatch):
    a = fake_modules("minifc_fake_a", losses={"loss_a": my_loss})
    b = fake_modules("minifc_fake_b", losses={"loss_b": other_loss})
    eps = [ep("a", a), ep("b", b)]

    monkeypatch.setenv("MINIFC_DISABLE_PLUGINS", "a, zzz")
    reg = Registry(entry_points=eps)
    assert reg.names("loss") == ["loss_b", "softmax", "svm"]
    assert reg.plugins["a"].status == "blocked" and "MINIFC_DISABLE_PLUGINS" in reg.plugins["a"].error
    with pytest.raises(UnknownComponentError):
        reg.get("loss", "loss_a")

    monkeypatch.delenv("MINIFC_DISABLE_PLUGINS")
    monkeypatch.setenv("MINIFC_PLUGINS", "a")
    reg = Registry(entry_points=eps)
    assert reg.names("loss") == ["loss_a", "softmax", "svm"]  # built-ins always load
    assert reg.plugins["b"].status == "blocked" and "MINIFC_PLUGINS" in reg.plugins["b"].error
    assert reg.plugins["builtins"].status == "loaded"


def test_entry_points_are_loaded_lazily(fake_modules):
    reg = Registry(entry_points=[ep("a", fake_modules("minifc_fake_lazy", losses={"lazy": my_loss}))])
    assert reg.plugins == {}
    assert reg.get("loss", "lazy") is my_loss


# -- the commands hook -------------------------------------------------------------------------


def test_commands_hook_adds_subcommands_and_a_failing_one_is_isolated(capsys):
    def add(cli):
        @cli.command()
        def hello():
            click.echo("hi")

    def broken(cli):
        @cli.command()
        def half():
            pass

        raise RuntimeError("no commands today")

    reg = Registry(entry_points=False)
    reg.add_plugin(types.SimpleNamespace(minifc_register_commands=hookimpl(add)), "cmds")
    failing = plugin(update_rules={"adam": (my_rule, {"override": True})})
    failing.minifc_register_commands = hookimpl(broken)
    reg.add_plugin(failing, "failing")
    group = click.Group()
    assert reg.get("update_rule", "adam") is my_rule
    reg.call_commands_hook(group)
    assert "hello" in group.commands and "half" not in group.commands
    assert reg.plugins["cmds"].commands == ["hello"]
    assert reg.plugins["failing"].status == "failed"
    assert reg.component("update_rule", "adam").plugin == "builtins"  # its override is undone
    assert "no commands today" in capsys.readouterr().err


# -- specs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("adam", ("adam", {})),
        ("l1:reg=1e-4", ("l1", {"reg": 1e-4})),
        ("x:a=1,b=0.5,c=true,d=False,e=hello", ("x", {"a": 1, "b": 0.5, "c": True, "d": False, "e": "hello"})),
        (" max_norm : max_norm = 3 ", ("max_norm", {"max_norm": 3})),
        ({"name": "max_norm", "max_norm": 3.0}, ("max_norm", {"max_norm": 3.0})),
        (("l1", {"reg": 0.1}), ("l1", {"reg": 0.1})),
    ],
)
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


def test_parse_spec_positional_and_errors():
    assert parse_spec("dropout:0.25", positional=["p"]) == ("dropout", {"p": 0.25})
    assert split_spec("linear:512,weight_scale=0.01") == ("linear", [512], {"weight_scale": 0.01})
    for bad, error in [
        ("l1:0.1", ValueError),  # a bare value without a key for it
        ("l1:", ValueError),
        ("l1:reg=1,", ValueError),
        ("x:a=1,2", ValueError),
        ("x:1bad=2", ValueError),
        (":reg=1", ValueError),
        ({"reg": 1}, ValueError),
        (3, TypeError),
    ]:
        with pytest.raises(error):
            parse_spec(bad)
    with pytest.raises(ValueError, match="given twice"):
        parse_spec("dropout:0.5,p=0.3", positional=["p"])
    spec = {"name": "l1", "reg": 0.1}
    parse_spec(spec)[1]["reg"] = 5
    assert spec["reg"] == 0.1  # a new dict


def test_parse_value():
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("-1e-3") == -1e-3 and parse_value("TRUE") is True
    assert parse_value("relu") == "relu"


def test_a_slow_plugin_import_is_named(monkeypatch, capsys):
    import minifc.registry.core as registry_module

    class SlowEntryPoint:
        name, value, dist = "sleepy", "sleepy_module", None

        def load(self):
            import time

            time.sleep(0.05)
            return object()

    monkeypatch.setattr(registry_module, "SLOW_IMPORT_S", 0.01)
    reg = registry_module.Registry(entry_points=[SlowEntryPoint()])
    reg.load()
    err = capsys.readouterr().err
    assert "plugin 'sleepy' (sleepy_module) took" in err and "MINIFC_DISABLE_PLUGINS=sleepy" in err


def test_the_registry_module_offers_its_own_names_not_the_parsers_nor_unused_helpers():
    own = {"DEFAULT_PLUGINS", "Registry", "default_registry", "reset_default_registry", "get", "get_loss"}
    assert set(registry_module.__all__) == own
    for name in ("parse_spec", "split_spec", "parse_value", "get_layer", "get_update_rule", "get_regularizer",
                 "get_example", "signature_accepts", "REGULARIZER_STAGES"):
        assert not hasattr(registry_module, name), name  # specs / components own them


def test_a_registered_layer_class_names_its_plugin_without_the_process_wide_registry():
    class Scaled(nn.ReLU):
        pass

    class ScaledMore(Scaled):  # not registered: named by its class, not by its base's plugin
        pass

    def broken(cli):
        raise RuntimeError("no commands today")

    failing = plugin("late", layers={"scaled": Scaled})
    failing.minifc_register_commands = hookimpl(broken)
    reg = Registry(entry_points=False)  # not the process-wide registry
    reg.add_plugin(failing, "late", "minifc-late", "0.1")
    assert reg.get("layer", "scaled") is Scaled
    assert layer_provider(Scaled()) == "plugin late (minifc-late 0.1)"
    assert layer_provider(ScaledMore()).startswith("class ") and "ScaledMore" in layer_provider(ScaledMore())
    assert layer_provider(nn.ReLU()).startswith("plugin builtins (minifc")
    reg.call_commands_hook(click.Group())  # the plugin fails late: its layer is no longer its
    assert reg.plugins["late"].status == "failed"
    assert layer_provider(Scaled()).startswith("class ")
