"""minifc.compare.candidates and presets: what a candidate spec sets on the base configuration, the options
--tune-options searches, and the refusals that name the candidate."""

from __future__ import annotations

import pytest

from minifc.compare.candidates import candidate_base, option_rules, parse_candidate, parse_candidates
from minifc.compare.errors import CompareError
from minifc.compare.presets import preset_settings
from minifc.compare.quick_data import QUICK_DATA
from minifc.compare.settings import CompareSettings

BASE = {"hidden": [8], "update_rule": "sgd", "update_rule_options": {"foo": 1}, "regularizers": [{"name": "l2"}]}


def test_an_update_rule_with_options_replaces_the_base_rule_and_its_options():
    cand = parse_candidate("sgd_momentum:momentum=0.95", BASE)
    assert cand.components == (("update_rule", "sgd_momentum"),)
    config = candidate_base(BASE, cand)
    assert config["update_rule"] == "sgd_momentum" and config["update_rule_options"] == {"momentum": 0.95}
    assert config["hidden"] == [8]


def test_a_regularizer_is_added_and_a_train_setting_is_set():
    cand = parse_candidate("adam+l2:reg=0.001+dropout=0.25", BASE)
    config = candidate_base(BASE, cand)
    assert config["regularizers"] == [{"name": "l2"}, {"name": "l2", "reg": 0.001}]
    assert config["dropout"] == 0.25 and config["update_rule"] == "adam"
    assert ("regularizer", "l2") in cand.components


def test_a_schedule_is_a_candidate_too():
    config = candidate_base(BASE, parse_candidate("warmup_cosine:warmup_fraction=0.1", BASE))
    assert config["schedule"] == {"name": "warmup_cosine", "warmup_fraction": 0.1}


def test_the_same_candidate_twice_gets_two_folders():
    assert [c.slug for c in parse_candidates(["adam", "adam", "adam"], BASE)] == ["adam", "adam-2", "adam-3"]


def test_an_unknown_candidate_is_refused_with_the_closest_name():
    with pytest.raises(CompareError, match=r"candidate 'adma'.*did you mean 'adam'"):
        parse_candidate("adma", BASE)
    with pytest.raises(CompareError, match="same for every candidate"):
        parse_candidate("seed=3", BASE)
    with pytest.raises(CompareError, match="empty part"):
        parse_candidate("adam+", BASE)


def test_tune_options_searches_the_declared_options_the_spec_leaves_free():
    rules = option_rules(parse_candidate("adam:beta1=0.8", BASE), BASE)
    assert "update_rule.beta1" not in rules and "update_rule.learning_rate" not in rules
    assert rules["update_rule.beta2"] == "uniform()"
    assert "update_rule.epsilon" not in rules  # declared >= 0: no finite range to search


@pytest.mark.parametrize("name", ["update-rules", "dropout"])
def test_presets_are_registered_and_their_quick_mode_uses_the_synthetic_data(name):
    full, quick = preset_settings(name, False), preset_settings(name, True)
    assert len(full["candidates"]) >= 3 and full["base"].get("data") is None
    assert quick["base"]["data"] == QUICK_DATA and quick["trials"] < full["trials"]


def test_settings_refuse_one_seed_and_a_bad_lr_range():
    with pytest.raises(CompareError, match="--seeds"):
        CompareSettings(["adam"], {}, seeds=1).check()
    with pytest.raises(CompareError, match="--lr-range"):
        CompareSettings(["adam"], {}, lr_range=(1.0, 1e-3)).check()
    with pytest.raises(CompareError, match="nothing to compare"):
        CompareSettings([], {}).check()


def test_a_plugin_adds_a_compare_preset_and_a_bad_one_is_named():
    import types

    from minifc import hookimpl
    from minifc.testing import plugin_registry, use_registry

    def mine(quick):
        return {"candidates": ["adam", "sgd"], "base": {"hidden": [8]}, "seeds": 3}

    def broken(quick):
        return {"candidates": ["adam"]}

    def hook(register):
        register("mine", mine)
        register("broken", broken)

    plugin = types.SimpleNamespace(__name__="presets", minifc_register_compare_presets=hookimpl(hook))
    with use_registry(plugin_registry(plugin)):
        assert preset_settings("mine", False)["seeds"] == 3
        with pytest.raises(CompareError, match=r"compare preset 'broken' \(presets.*must return a dict"):
            preset_settings("broken", False)
        with pytest.raises(CompareError, match="update-rules"):
            preset_settings("update-rule", False)
