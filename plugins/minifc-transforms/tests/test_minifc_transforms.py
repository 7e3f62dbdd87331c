"""minifc-transforms: each transform's math, `minifc check`, exact resume of the noise, skipped steps."""

from __future__ import annotations

import minifc_transforms
import pytest
import torch
from minifc_transforms import adaptive_clip, add_noise, centralize, skip_nonfinite

import minifc
from minifc.errors import DivergenceError
from minifc.testing import check_plugin, entry_point_installed, invoke_cli, plugin_registry, use_registry

F64 = torch.float64


def _gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_adaptive_clip_scales_only_the_units_above_their_limit() -> None:
    w = torch.randn(6, 4, dtype=F64, generator=_gen())
    g = 1e-4 * torch.randn(6, 4, dtype=F64, generator=_gen(2))
    g[:, 1] *= 1e4  # only column 1 is above 0.01 * its weights' norm
    t = adaptive_clip(clipping=0.01)
    out, _ = t.update({"W": g}, t.init({"W": w}), {"W": w})
    norms = torch.linalg.vector_norm(out["W"], dim=0)
    assert float(norms[1]) == pytest.approx(0.01 * float(torch.linalg.vector_norm(w[:, 1])), rel=1e-9)
    keep = [0, 2, 3]
    assert torch.equal(out["W"][:, keep], g[:, keep])


def test_centralize_gives_zero_mean_columns_and_leaves_biases() -> None:
    g = {"W": torch.randn(5, 3, dtype=F64, generator=_gen()), "b": torch.randn(3, dtype=F64, generator=_gen(2))}
    t = centralize()
    out, _ = t.update(dict(g), t.init(g), g)
    torch.testing.assert_close(out["W"].mean(dim=0), torch.zeros(3, dtype=F64))
    torch.testing.assert_close(out["W"], g["W"] - g["W"].mean(dim=0))
    assert torch.equal(out["b"], g["b"])


def test_add_noise_has_the_annealed_variance() -> None:
    g = {"W": torch.zeros(400, 500, dtype=F64)}
    t = add_noise(eta=0.3, gamma=0.55)
    state = t.init(g, _gen())
    for step in range(3):
        out, state = t.update(g, state, g)
        assert float(out["W"].var()) == pytest.approx(0.3 / (1 + step) ** 0.55, rel=0.02)


def test_every_transform_passes_minifc_check() -> None:
    rows = check_plugin(minifc_transforms, "transforms")  # raises, listing the failures, when a check fails
    assert {r.component for r in rows} == {"adaptive_clip", "add_noise", "centralize", "skip_nonfinite"}


def _trainer(chain, **kwargs) -> minifc.Trainer:
    g = _gen(0)
    X, y = torch.randn(40, 5, generator=g), torch.randint(3, (40,), generator=g)
    torch.manual_seed(0)
    model = minifc.FullyConnectedNet([8], input_dim=5, num_classes=3)
    return minifc.Trainer(model, {"X_train": X, "y_train": y, "X_val": X[:10], "y_val": y[:10]}, update_rule="adam",
                          optim_config={"learning_rate": 1e-2}, batch_size=10, num_epochs=3, device="cpu",
                          seed=0, verbose=False, gradient_transforms=chain, **kwargs)  # fmt: skip


class _Kill:
    def on_step_end(self, trainer) -> None:
        if trainer.step_count == 6:
            raise KeyboardInterrupt


def test_noise_resumes_exactly_after_a_kill(tmp_path) -> None:
    chain = ["add_noise:eta=0.3", "centralize", "adaptive_clip"]
    with use_registry(plugin_registry(minifc_transforms, "transforms")):
        unbroken = _trainer(chain).train()
        with pytest.raises(KeyboardInterrupt):
            _trainer(chain, checkpoint_path=tmp_path / "c.pt", callbacks=[_Kill()]).train()
        resumed = _trainer(chain, checkpoint_path=tmp_path / "c.pt").train(resume=True)
        other_seed = _trainer(["add_noise:eta=0.3"]).train()
    for name, w in unbroken.model.params.items():
        assert torch.equal(resumed.model.params[name], w), name
    assert not torch.equal(other_seed.model.params["W1"], unbroken.model.params["W1"])


class _Poison:
    """Inf gradients at the given steps (1-based)."""

    def __init__(self, steps) -> None:
        self.steps = set(steps)

    def init(self, params):
        return {"step": 0}

    def update(self, grads, state, params):
        step = state["step"] + 1
        bad = step in self.steps
        return {n: g * float("inf") if bad else g for n, g in grads.items()}, {"step": step}


def test_skip_nonfinite_skips_and_counts_then_stops_at_its_limit() -> None:
    with use_registry(plugin_registry(minifc_transforms, "transforms")):
        trainer = _trainer([_Poison({3, 4}), "skip_nonfinite:max_skips=2"])
        seen = []
        for _ in range(5):
            trainer.step()
            seen.append({k: v.clone() for k, v in trainer.model.params.items()})
        assert trainer.training_state.transform_states[1] == {"skipped": 2}
        assert all(torch.equal(seen[1][k], seen[3][k]) for k in seen[1])  # steps 3 and 4 changed nothing
        assert not torch.equal(seen[3]["W1"], seen[4]["W1"])
        stopping = _trainer([_Poison({2, 3}), skip_nonfinite(max_skips=1)])
        stopping.step()
        stopping.step()
        with pytest.raises(DivergenceError, match="skip_nonfinite.*max_skips=1"):
            stopping.step()


def test_options_are_checked_by_name() -> None:
    with use_registry(plugin_registry(minifc_transforms, "transforms")):
        with pytest.raises(ValueError, match="'adaptive_clip'.*clipping must be a finite number > 0"):
            _trainer(["adaptive_clip:clipping=0"])
        with pytest.raises(ValueError, match="max_skips must be an integer"):
            _trainer(["skip_nonfinite:max_skips=1.5"])


def test_cli_check_on_installed_entry_point() -> None:
    if not entry_point_installed("minifc-transforms"):
        pytest.skip("minifc-transforms is not installed (pip install ./plugins/minifc-transforms)")
    result = invoke_cli("check", "transforms")
    assert result.exit_code == 0, result.output
