"""minifc-myplugin: each component against a reference, `minifc check` through minifc.testing, the
names in a Trainer, and the example on synthetic data. Runs without installing the package."""

from __future__ import annotations

import configparser
from pathlib import Path

import minifc_myplugin as plugin
import pytest
import torch
from minifc_myplugin import LeakyReLU, adamax, clip_spikes, polynomial

import minifc
from minifc.experiments.example_options import ExampleOptions
from minifc.experiments.examples import run_example
from minifc.gradcheck import check_module
from minifc.models import FullyConnectedNet
from minifc.testing import (
    check_component,
    check_plugin,
    entry_point_installed,
    invoke_cli,
    plugin_registry,
    synthetic_data,
    use_registry,
)
from minifc.training.trainer import Trainer

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def package_names() -> tuple[str, str]:
    """``(distribution, entry point)`` as setup.cfg declares them: a renamed copy tests its own names."""
    cfg = configparser.ConfigParser()
    cfg.read(PACKAGE_ROOT / "setup.cfg")
    entry = next(line for line in cfg["options.entry_points"]["minifc.plugins"].splitlines() if line.strip())
    name, module = (part.strip() for part in entry.split("=", 1))
    assert module == plugin.__name__, f"setup.cfg's entry point {entry!r} does not name the module {plugin.__name__}"
    return cfg["metadata"]["name"], name


DISTRIBUTION, ENTRY_POINT = package_names()


def test_minifc_check_passes():
    rows = check_plugin(plugin, ENTRY_POINT)  # raises, listing every failing check
    assert {r.component for r in rows} == {"leaky_relu", "adamax", "polynomial", "clip_spikes"}


def test_leaky_relu_matches_torch_and_its_numeric_gradient():
    x = torch.randn(5, 4, dtype=torch.float64)
    layer = LeakyReLU(0.2)
    torch.testing.assert_close(layer.forward(x), torch.nn.functional.leaky_relu(x, 0.2))
    assert check_module(LeakyReLU(0.2), x)["dx"] < 1e-7
    check_component("layer", LeakyReLU, name="leaky_relu", check_kwargs={"negative_slope": 0.3})
    with pytest.raises(ValueError, match="negative_slope"):
        LeakyReLU(-1)
    with pytest.raises(RuntimeError, match="before forward"):
        LeakyReLU().backward(x)


def test_adamax_matches_torch_optim():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    ref = w.clone()
    opt = torch.optim.Adamax([ref], lr=1e-2, betas=(0.8, 0.9), eps=1e-8)
    config = {"learning_rate": 1e-2, "beta1": 0.8, "beta2": 0.9}
    for _ in range(5):
        g = torch.randn(4, 3, dtype=torch.float64, generator=gen)
        w, config = adamax(w, g.clone(), config)
        ref.grad = g.clone()
        opt.step()
    torch.testing.assert_close(w, ref, rtol=1e-10, atol=1e-12)
    assert config["m"].dtype == w.dtype and config["t"] == 5


def test_polynomial_matches_torch_polynomial_lr():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    ref = torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=20, power=2.0)
    schedule = polynomial(power=2.0)
    for step in range(20):
        assert schedule(step, 20) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        ref.step()
    assert polynomial(end_factor=0.1)(20, 20) == pytest.approx(0.1)


def test_polynomial_by_name_in_a_trainer_with_its_options_checked():
    data = synthetic_data(num_train=40, num_val=10, num_test=10, dim=5, num_classes=3)
    with use_registry(plugin_registry(plugin, ENTRY_POINT)):
        net = FullyConnectedNet([8], input_dim=5, num_classes=3)
        trainer = Trainer(net, data, schedule="polynomial:power=2", optim_config={"learning_rate": 0.1},
                          batch_size=10, num_epochs=2, device="cpu", verbose=False, seed=0)  # fmt: skip
        trainer.train()
        assert trainer.lr_history == pytest.approx([0.1 * (1 - 3 / 8) ** 2, 0.1 * (1 - 7 / 8) ** 2])
        with pytest.raises(ValueError, match="polynomial.*power must be"):
            Trainer(net, data, schedule="polynomial:power=-1", device="cpu", verbose=False)
        with pytest.raises(ValueError, match="has no option 'pwr'; did you mean 'power'"):
            Trainer(net, data, schedule="polynomial:pwr=2", device="cpu", verbose=False)


def test_names_work_in_a_trainer_and_the_example_runs(tmp_path):
    data = synthetic_data(num_train=200, num_val=50, num_test=50, dim=30, num_classes=3, separation=2.0)
    with use_registry(plugin_registry(plugin, ENTRY_POINT)) as registry:
        options = ExampleOptions(out=tmp_path, epochs=3, device="cpu", verbose=False)
        summary = run_example("leaky-relu", data, options, registry=registry)
    assert [row["name"] for row in summary["rows"]] == ["relu", "leaky_relu"]
    assert all(row["best_val_acc"] > 0.6 for row in summary["rows"]), summary["rows"]


def test_installed_entry_point_passes_minifc_check():
    if not entry_point_installed(DISTRIBUTION):
        pytest.skip(f"{DISTRIBUTION} is not installed (pip install {PACKAGE_ROOT}); its entry point is not tested")
    result = invoke_cli("check", ENTRY_POINT)
    assert result.exit_code == 0, result.output
    components = {r.component for r in check_plugin(plugin, ENTRY_POINT)}
    assert all(name in result.output for name in components), result.output
    assert "FAIL" not in result.output


def test_clip_spikes_passes_the_usual_scale_and_cuts_a_spike():
    t = clip_spikes(factor=2.0, decay=0.5)
    g = {"w": torch.full((4,), 0.5, dtype=torch.float64)}  # norm 1
    state = t.init(g)
    for _ in range(3):
        out, state = t.update(g, state, g)
        assert torch.equal(out["w"], g["w"])  # the usual scale: unchanged
    spike = {"w": 100 * g["w"]}
    out, state = t.update(spike, state, g)
    assert float(torch.linalg.vector_norm(out["w"])) == pytest.approx(2.0)  # factor x the running average


def test_clip_spikes_by_name_in_a_trainer_with_its_options_checked():
    data = synthetic_data(40, 10, 10, dim=6, num_classes=3)
    with use_registry(plugin_registry(plugin, ENTRY_POINT)):
        model = minifc.FullyConnectedNet([8], input_dim=6, num_classes=3)
        with pytest.raises(ValueError, match="'clip_spikes'.*factor must be a finite number >= 1"):
            minifc.Trainer(model, data, gradient_transforms=["clip_spikes:factor=0.5"], device="cpu")
        trainer = minifc.Trainer(model, data, gradient_transforms=["clip_spikes:factor=3"], batch_size=10,
                                 num_epochs=2, device="cpu", verbose=False)  # fmt: skip
        trainer.train()
    assert trainer.training_state.transform_states[0]["steps"] == 8
