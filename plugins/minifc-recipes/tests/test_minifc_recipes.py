"""minifc-recipes: each component against numeric gradients and a torch autograd oracle (tests only),
the registry / build_net by name, ZCA whitening, the schedule, and `minifc check`."""

from __future__ import annotations

import math

import minifc_recipes
import pytest
import torch
import torch.nn.functional as TF
from minifc_recipes import (
    GELU,
    ResidualMLP,
    fit_zca,
    one_cycle,
    smoothed_softmax_loss,
    softmax_smooth,
    warmup_cosine_steps,
)

from minifc.builder import build_net
from minifc.errors import LabelError, ShapeError
from minifc.functional import softmax_loss
from minifc.gradcheck import check_loss, check_module
from minifc.models import FullyConnectedNet
from minifc.testing import check_plugin, entry_point_installed, invoke_cli, plugin_registry, use_registry
from minifc.training.trainer import Trainer

F64 = torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# -- softmax_smooth -------------------------------------------------------------------------------


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_softmax_smooth_matches_torch_cross_entropy(smoothing):
    scores = torch.randn(7, 5, dtype=F64, generator=_gen()) * 3
    y = torch.randint(0, 5, (7,), generator=_gen(1))
    loss, dscores = softmax_smooth(scores, y, smoothing)
    ref_scores = scores.clone().requires_grad_(True)
    ref = TF.cross_entropy(ref_scores, y, label_smoothing=smoothing)
    ref.backward()
    torch.testing.assert_close(loss, ref.detach())
    torch.testing.assert_close(dscores, ref_scores.grad)
    assert check_loss(lambda s, t: softmax_smooth(s, t, smoothing), scores, y) < 1e-7


def test_softmax_smooth_zero_is_the_plain_softmax_loss_and_factory():
    scores = torch.randn(4, 3, dtype=F64, generator=_gen())
    y = torch.tensor([0, 2, 1, 2])
    for a, b in zip(softmax_smooth(scores, y, 0.0), softmax_loss(scores, y), strict=True):
        torch.testing.assert_close(a, b)
    loss = smoothed_softmax_loss(0.25)
    assert loss.smoothing == 0.25 and "0.25" in loss.__name__
    torch.testing.assert_close(loss(scores, y)[0], softmax_smooth(scores, y, 0.25)[0])
    for bad in (-0.1, 1.0, "0.1", True):
        with pytest.raises(ValueError, match="smoothing"):
            smoothed_softmax_loss(bad)
    with pytest.raises(LabelError):
        softmax_smooth(scores, torch.tensor([0, 1, 2, 3]))


def test_softmax_smooth_is_stable_for_huge_scores():
    scores = torch.tensor([[1e4, 0.0, -1e4]], dtype=torch.float32)
    loss, dscores = softmax_smooth(scores, torch.tensor([0]), 0.1)
    assert math.isfinite(float(loss)) and bool(torch.isfinite(dscores).all())


# -- layers -----------------------------------------------------------------------------------------


def test_gelu_matches_torch_and_numeric_gradient():
    x = torch.randn(6, 4, dtype=F64, generator=_gen()) * 2
    layer = GELU()
    torch.testing.assert_close(layer.forward(x), TF.gelu(x))
    assert check_module(GELU(), x)["dx"] < 1e-7
    with pytest.raises(RuntimeError, match="before forward"):
        GELU().backward(x)


def _oracle(block: ResidualMLP, x: torch.Tensor, dout: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The block's forward written with torch ops and differentiated by autograd (a test oracle)."""
    params = {n: p.data.clone().requires_grad_(True) for n, p in block.named_parameters()}
    xr = x.clone().requires_grad_(True)
    u = TF.layer_norm(xr, (x.shape[1],), params["gamma"], params["beta"], eps=block.eps)
    a = u @ params["w1"] + params["b1"]
    h = TF.relu(a) if block.activation == "relu" else TF.gelu(a)
    out = xr + h @ params["w2"] + params["b2"]
    out.backward(dout)
    return out.detach(), {"dx": xr.grad, **{n: p.grad for n, p in params.items()}}


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_residual_mlp_matches_autograd_oracle_and_numeric(activation):
    block = ResidualMLP(5, expansion=3, activation=activation, dtype=F64, generator=_gen())
    block.gamma.data = torch.rand(5, dtype=F64, generator=_gen(2)) + 0.5
    block.beta.data = torch.randn(5, dtype=F64, generator=_gen(3))
    x = torch.randn(8, 5, dtype=F64, generator=_gen(4)) * 2 + 1
    dout = torch.randn(8, 5, dtype=F64, generator=_gen(5))
    ref_out, ref_grads = _oracle(block, x, dout)
    torch.testing.assert_close(block.forward(x), ref_out)
    block.zero_grad()
    torch.testing.assert_close(block.backward(dout), ref_grads["dx"])
    for name, p in block.named_parameters():
        torch.testing.assert_close(p.grad, ref_grads[name], msg=name)
    errors = check_module(block, x)
    assert max(errors.values()) < 1e-6, errors


def test_residual_mlp_shapes_init_and_errors():
    block = ResidualMLP(4, expansion=2)
    assert block.hidden == 8 and block.out_features == 4 and block.w1.shape == (4, 8) and block.w2.shape == (8, 4)
    assert ResidualMLP(4, hidden=3).hidden == 3
    identity = ResidualMLP(4, zero_init=0.0)
    x = torch.randn(3, 4)
    torch.testing.assert_close(identity.forward(x), x)
    with pytest.raises(ShapeError, match="expected input"):
        block.forward(torch.randn(3, 5))
    with pytest.raises(RuntimeError, match="before forward"):
        ResidualMLP(4).backward(x)
    for kwargs in ({"in_features": 0}, {"in_features": 4, "activation": "tanh"}, {"in_features": 4, "eps": 0}):
        with pytest.raises(ValueError):
            ResidualMLP(**kwargs)
    block.to(F64)
    assert all(t.dtype == F64 for t in block.state_dict().values())


def _registry():
    return plugin_registry(minifc_recipes, "recipes", "minifc-recipes", "0.1.0")


def test_build_net_by_name_and_registered_loss():
    reg = _registry()
    net = build_net(
        ["linear:6", "residual_mlp:expansion=2", "gelu", "residual_mlp:activation=relu"], 5, 3, registry=reg
    )
    assert [type(m).__name__ for m in net] == ["Linear", "ResidualMLP", "GELU", "ResidualMLP", "Linear"]
    assert net[1].hidden == 12 and net[3].activation == "relu"
    assert net.forward(torch.randn(2, 5)).shape == (2, 3)
    loss = reg.get("loss", "softmax_smooth")
    scores, y = torch.randn(4, 3, dtype=F64), torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(loss(scores, y)[0], softmax_smooth(scores, y, minifc_recipes.DEFAULT_SMOOTHING)[0])


def test_check_passes_in_process():
    rows = check_plugin(minifc_recipes, "recipes")  # raises, listing the failures, when a check fails
    assert {r.component for r in rows} == {"gelu", "residual_mlp", "softmax_smooth", "one_cycle"}  # not examples


def test_cli_check_on_installed_entry_point():
    if not entry_point_installed("minifc-recipes"):
        pytest.skip("minifc-recipes is not installed (pip install ./plugins/minifc-recipes)")
    result = invoke_cli("check", "recipes")
    assert result.exit_code == 0, result.output
    assert "residual_mlp" in result.output and "FAIL" not in result.output


# -- preprocessing and schedule --------------------------------------------------------------------


def test_fit_zca_whitens_and_keeps_coordinates():
    gen = _gen()
    mixing = torch.randn(6, 6, dtype=F64, generator=gen)
    X = torch.randn(5000, 6, dtype=F64, generator=gen) @ mixing + 3.0
    w = fit_zca(X, eps_ratio=1e-6, max_samples=None)
    assert w.matrix.shape == (6, 6) and torch.allclose(w.matrix, w.matrix.t())
    Z = w.apply(X, batch_size=700)
    assert Z.shape == X.shape and Z.dtype == X.dtype
    torch.testing.assert_close(Z.mean(0), torch.zeros(6, dtype=F64), atol=1e-8, rtol=0)
    torch.testing.assert_close(torch.cov(Z.t()), torch.eye(6, dtype=F64), atol=1e-4, rtol=0)
    # a larger eps shrinks the weak directions instead of blowing them up
    strong = fit_zca(X.float(), eps_ratio=1.0, max_samples=1000)
    assert strong.matrix.dtype == torch.float32 and strong.eps > 0
    assert float(torch.cov(strong.apply(X.float()).t()).diagonal().max()) < 1.0
    with pytest.raises(ValueError):
        fit_zca(X, eps_ratio=0)
    with pytest.raises(ValueError):
        w.apply(X[:, :5])


def test_warmup_cosine_steps():
    s = warmup_cosine_steps(4, final_factor=0.1)
    assert [s(i, 20) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert s(4, 20) == pytest.approx(1.0)
    assert s(12, 20) == pytest.approx(0.55)
    assert s(20, 20) == pytest.approx(0.1) and s(30, 20) == pytest.approx(0.1)
    # the warm-up does not depend on the total
    assert s(2, 100) == s(2, 20)
    assert warmup_cosine_steps(0)(0, 10) == 1.0
    for bad in (-1, 1.5):
        with pytest.raises(ValueError):
            warmup_cosine_steps(bad)


@pytest.mark.parametrize("total", [37, 100])
def test_one_cycle_matches_torch_one_cycle_lr(total):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=total, pct_start=0.25)
    schedule = one_cycle(pct_start=0.25)
    for step in range(total):
        assert schedule(step, total) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        opt.step()
        if step < total - 1:
            ref.step()


def test_one_cycle_by_name_in_a_trainer_and_refused_out_of_range():
    data = {"X_train": torch.randn(20, 4), "y_train": torch.arange(20) % 3, "X_val": torch.randn(5, 4),
            "y_val": torch.arange(5) % 3}  # fmt: skip
    with use_registry(_registry()):
        net = FullyConnectedNet([6], input_dim=4, num_classes=3)
        trainer = Trainer(net, data, schedule="one_cycle:pct_start=0.5", optim_config={"learning_rate": 0.1},
                          batch_size=10, num_epochs=2, device="cpu", verbose=False, seed=0)  # fmt: skip
        trainer.train()
        assert trainer.lr_history[-1] < 1e-3  # annealed to base / (div_factor * final_div_factor) at the end
        with pytest.raises(ValueError, match=r"schedule 'one_cycle' \(recipes.*pct_start"):
            Trainer(net, data, schedule="one_cycle:pct_start=1.0", device="cpu", verbose=False)


# -- the sweep preset -----------------------------------------------------------------------------


@pytest.mark.parametrize("quick", [False, True])
def test_the_best_60s_sweep_preset_is_a_valid_sweep_of_the_60_second_tier(quick):
    from minifc.sweeps.presets import preset_settings
    from minifc.sweeps.space import parse_space
    from minifc.testing import use_registry

    with use_registry(plugin_registry(minifc_recipes, "minifc_recipes")):
        settings = preset_settings("best-60s", quick)
    assert settings["runner"] == "example" and settings["base"]["example"] == "best"
    assert settings["base"]["set"]["recipe"]["tier"] == minifc_recipes.recipe.tier_for(60)[0]
    space = parse_space(settings["search"], "best-60s", check_keys=False)
    assert "recipe.learning_rate" in space and (quick or len(space) == 8)
    assert settings["metric"] == "val_acc_tta" and settings["base"]["precision"] == "auto"
