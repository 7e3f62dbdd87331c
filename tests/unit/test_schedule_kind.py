"""Schedules as a plugin kind: the built-ins (constant, warmup_cosine, step, exponential) registered by
name, their options checked, a plugin's schedule found by name, and `minifc check` on schedules."""

from __future__ import annotations

import math
import types

import pytest
import torch
from small_runs import IPE, make_model, make_trainer

from minifc import hookimpl
from minifc.errors import UnknownComponentError
from minifc.optim.schedules import exponential_decay, step_decay
from minifc.registry.components import PluginError
from minifc.registry.core import default_registry
from minifc.testing import check_component, plugin_registry, use_registry


def test_the_built_in_schedules_are_registered_by_name():
    assert {"constant", "warmup_cosine", "step", "exponential"} <= set(default_registry().names("schedule"))
    assert default_registry().component("schedule", "step").provider.startswith("builtins")


def test_step_decay_is_torch_step_lr_stepped_per_epoch():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    ref = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    schedule = step_decay(step_size=2, gamma=0.5, num_epochs=6)
    for epoch in range(6):
        for step in range(epoch * 10, (epoch + 1) * 10):
            assert schedule(step, 60) == opt.param_groups[0]["lr"]
        opt.step()
        ref.step()


def test_exponential_decay_is_gamma_per_epoch_applied_smoothly():
    schedule = exponential_decay(gamma=0.9, num_epochs=4)
    assert schedule(0, 40) == 1.0 and schedule(10, 40) == pytest.approx(0.9)
    assert schedule(25, 40) == pytest.approx(0.9**2.5)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    ref = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    for epoch in range(4):
        assert schedule(epoch * 10, 40) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        ref.step()


def test_a_schedule_by_name_sets_the_rate_of_every_epoch():
    trainer = make_trainer(schedule="step:step_size=2,gamma=0.5", num_epochs=5, optim_config={"learning_rate": 0.1})
    trainer.train()
    assert trainer.lr_history == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    as_dict = make_trainer(schedule={"name": "exponential", "gamma": 0.5}, optim_config={"learning_rate": 0.1})
    as_dict.train()
    assert as_dict.lr_history[-1] == pytest.approx(0.1 * 0.5 ** ((2 * IPE - 1) / IPE))


def test_step_with_step_size_one_is_the_classic_lr_decay_bit_for_bit():
    by_name = make_trainer(schedule="step:gamma=0.5", num_epochs=3).train()
    classic = make_trainer(lr_decay=0.5, num_epochs=3).train()
    assert by_name.lr_history == classic.lr_history
    for name, w in by_name.model.params.items():
        assert torch.equal(w, classic.model.params[name]), name


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("stepp", UnknownComponentError, r"unknown schedule 'stepp'; did you mean 'step'\? Known schedules: .*expon"),
        ("step:gamma=1.5", ValueError, r"schedule 'step' \(builtins.*gamma must be a finite number in \(0, 1\], got 1"),
        ("step:step_size=0", ValueError, r"step_size must be a finite number >= 1, got 0"),
        ("step:step_size=1.5", ValueError, r"step_size must be an integer, got 1.5"),
        ("exponential:gama=0.5", ValueError, r"has no option 'gama'; did you mean 'gamma'\? It takes gamma"),
        ("warmup_cosine:warmup_fraction=1", ValueError, r"warmup_fraction must be a finite number in \[0, 1\)"),
        ("constant:x=1", ValueError, r"schedule 'constant' .*has no option 'x'. It takes none"),
        ("step:", ValueError, r"nothing after ':'"),
    ],
)
def test_an_unknown_schedule_or_option_is_refused_naming_it_before_anything_changes(spec, error, message):
    model = make_model()
    before = {k: v.clone() for k, v in model.params.items()}
    with pytest.raises(error, match=message):
        make_trainer(model, schedule=spec)
    assert all(torch.equal(v, before[k]) for k, v in model.params.items())


def _plugin(register_defaults=None):
    def sawtooth(period: int = 2, low: float = 0.5):
        def schedule(step: int, total_steps: int) -> float:
            return 1.0 - (1.0 - low) * (step % period) / period

        return schedule

    def hook(register):
        register("sawtooth", sawtooth, description="saw", bounds={"low": (0.01, 1.0), "period": (1, math.inf)},
                 **({"defaults": register_defaults} if register_defaults is not None else {}))  # fmt: skip

    return types.SimpleNamespace(__name__="sawplugin", minifc_register_schedules=hookimpl(hook))


def test_a_plugin_schedule_is_found_by_name_with_its_options_checked():
    with use_registry(plugin_registry(_plugin(), "sawplugin", "minifc-saw", "1.0")):
        trainer = make_trainer(schedule="sawtooth:period=4,low=0.25", optim_config={"learning_rate": 0.1}).train()
        assert trainer.lr_history == pytest.approx([0.1 * (1 - 0.75 * 3 / 4)] * 2)
        with pytest.raises(ValueError, match=r"schedule 'sawtooth' \(sawplugin \(minifc-saw 1.0\)\): low must be"):
            make_trainer(schedule="sawtooth:low=0")


def test_a_plugin_schedule_with_bad_defaults_fails_its_plugin(monkeypatch):
    monkeypatch.setenv("MINIFC_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="schedule 'sawtooth': defaults must be a dict"):
        plugin_registry(_plugin(register_defaults=[1]), "sawplugin")


def test_minifc_check_passes_the_built_ins_and_names_a_schedule_that_goes_negative():
    for name in ("constant", "warmup_cosine", "step", "exponential"):
        rows = check_component("schedule", name)
        checks = ["factor finite and > 0 over 1000 steps", "same factor when asked again (resume)"]
        assert [r.check for r in rows] == checks

    def falling():
        return lambda step, total: 1.0 - 2 * step / total

    with pytest.raises(AssertionError, match=r"schedule falling .*factor finite and > 0.*step 500: factor 0.0"):
        check_component("schedule", falling)

    def impure():
        calls = []

        def schedule(step, total):
            calls.append(step)
            return 1.0 / len(calls)

        return schedule

    with pytest.raises(AssertionError, match="same factor when asked again"):
        check_component("schedule", impure)
