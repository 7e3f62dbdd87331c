"""minifc-optim-extra: each rule against a reference (torch.optim where it has one), state, and `minifc check`."""

from __future__ import annotations

import minifc_optim_extra
import pytest
import torch
from minifc_optim_extra import adagrad, adamw, lion, nesterov

from minifc.optim import check_config
from minifc.testing import check_plugin, entry_point_installed, invoke_cli, plugin_registry

RULES = {"nesterov": nesterov, "adamw": adamw, "lion": lion, "adagrad": adagrad}


def _run(rule, config, torch_opt_factory, steps=5):
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    grads = [torch.randn(4, 3, dtype=torch.float64, generator=gen) for _ in range(steps)]
    ref = w.clone()
    opt = torch_opt_factory([ref])
    for g in grads:
        w, config = rule(w, g.clone(), config)
        ref.grad = g.clone()
        with torch.no_grad():
            opt.step()
    return w, ref


def test_adamw_matches_torch():
    cfg = {"learning_rate": 1e-2, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-8, "weight_decay": 0.1}
    w, ref = _run(
        adamw, dict(cfg), lambda p: torch.optim.AdamW(p, lr=1e-2, betas=(0.8, 0.95), eps=1e-8, weight_decay=0.1)
    )
    torch.testing.assert_close(w, ref, rtol=1e-10, atol=1e-12)


def test_adagrad_matches_torch():
    w, ref = _run(adagrad, {"learning_rate": 0.1}, lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-8))
    torch.testing.assert_close(w, ref, rtol=1e-10, atol=1e-12)


def test_nesterov_matches_torch_sgd_nesterov():
    w, ref = _run(
        nesterov,
        {"learning_rate": 0.05, "momentum": 0.8},
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    )
    torch.testing.assert_close(w, ref, rtol=1e-10, atol=1e-12)


def test_lion_two_steps_by_hand():
    w0 = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    g1 = torch.tensor([[0.3, -0.1], [-2.0, 0.0]], dtype=torch.float64)
    g2 = torch.tensor([[-1.0, -0.1], [0.1, 1.0]], dtype=torch.float64)
    lr, b1, b2, wd = 0.1, 0.9, 0.99, 0.5
    cfg = {"learning_rate": lr, "beta1": b1, "beta2": b2, "weight_decay": wd}
    w, cfg = lion(w0.clone(), g1, cfg)
    expect = w0 * (1 - lr * wd) - lr * torch.sign((1 - b1) * g1)
    torch.testing.assert_close(w, expect)
    m1 = (1 - b2) * g1
    torch.testing.assert_close(cfg["m"], m1)
    w, cfg = lion(w, g2, cfg)
    expect = expect * (1 - lr * wd) - lr * torch.sign(b1 * m1 + (1 - b1) * g2)
    torch.testing.assert_close(w, expect)


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_in_place_state_like_w_and_defaults(name, dtype):
    rule = RULES[name]
    w = torch.randn(5, 2, dtype=dtype)
    next_w, cfg = rule(w, torch.randn(5, 2, dtype=dtype))
    assert next_w is w
    assert set(rule.defaults) <= set(cfg)
    for key in rule.state_keys:
        value = cfg[key]
        if isinstance(value, torch.Tensor):
            assert value.dtype == dtype and value.shape == w.shape
    check_config(rule, dict(rule.defaults), name)  # the declared defaults are valid


def test_registered_through_the_hook_and_checked():
    reg = plugin_registry(minifc_optim_extra, "optim_extra", "minifc-optim-extra", "0.1.0")
    for name, rule in RULES.items():
        c = reg.component("update_rule", name)
        assert c.obj is rule and c.distribution == "minifc-optim-extra"
    rows = check_plugin(minifc_optim_extra, "optim_extra")  # raises, listing the failures, when a check fails
    assert {r.component for r in rows} == set(RULES)


def test_cli_check_on_installed_entry_point():
    if not entry_point_installed("minifc-optim-extra"):
        pytest.skip("minifc-optim-extra is not installed (pip install ./plugins/minifc-optim-extra)")
    result = invoke_cli("check", "optim_extra")
    assert result.exit_code == 0, result.output
    assert "adamw" in result.output and "FAIL" not in result.output
