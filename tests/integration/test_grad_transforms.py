"""Gradient transforms in the Trainer: clip_norm against torch (float64, step for step), where the chain runs,
what it refuses, the first-step checks of a plugin's transform, and its state in checkpoints."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
from small_runs import OnStep, make_data, make_model, make_trainer

from minifc import hookimpl
from minifc.errors import CheckpointError, MinifcError, UnknownComponentError
from minifc.optim import gradient_transform
from minifc.testing import plugin_registry, use_registry
from minifc.training.integrity import CHECKSUM_KEY, state_checksum
from minifc.training.update import InProduct


def _torch_reference(model, data, rule: str, lr: float, max_norm: float, steps: int):
    """torch.nn + autograd + clip_grad_norm_ + torch.optim on the same net and data: params per step, norms."""
    p = {k: v.detach().clone().requires_grad_(True) for k, v in model.params.items()}
    if rule == "adam":
        opt = torch.optim.Adam(p.values(), lr=lr)
    else:
        opt = torch.optim.SGD(p.values(), lr=lr, momentum=0.9)
    X, y = data["X_train"], data["y_train"]
    seen, norms = [], []
    for _ in range(steps):
        opt.zero_grad()
        scores = torch.relu(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        torch.nn.functional.cross_entropy(scores, y).backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(p.values()), max_norm)))
        opt.step()
        seen.append({k: v.detach().clone() for k, v in p.items()})
    return seen, norms


@pytest.mark.parametrize("rule", ["sgd_momentum", "adam"])
def test_clip_norm_matches_torch_clip_grad_norm_step_for_step_in_float64(rule) -> None:
    data = {k: v.double() if v.is_floating_point() else v for k, v in make_data().items()}
    model = make_model(dtype=torch.float64)
    lr, max_norm, steps = (0.1 if rule == "sgd_momentum" else 0.01), 0.05, 6
    ref, ref_norms = _torch_reference(model, data, rule, lr, max_norm, steps)
    options = {"learning_rate": lr, **({"momentum": 0.9} if rule == "sgd_momentum" else {})}
    # one batch of all rows: the same loss as the reference's (the mean does not depend on the order)
    trainer = make_trainer(model, data, update_rule=rule, optim_config=options, batch_size=len(data["X_train"]),
                           gradient_transforms=[f"clip_norm:max_norm={max_norm}"])  # fmt: skip
    for step in range(steps):
        trainer.step()
        for name, w in trainer.model.params.items():
            torch.testing.assert_close(w, ref[step][name], rtol=1e-10, atol=1e-12, msg=f"step {step + 1} {name}")
    assert trainer.grad_norm_history == pytest.approx(ref_norms, rel=1e-10)
    assert min(ref_norms) > max_norm  # every step was clipped: the test sees the clipping


def test_without_clipping_the_reference_differs() -> None:
    """The reference comparison can fail: the same run without the transform leaves it."""
    data = {k: v.double() if v.is_floating_point() else v for k, v in make_data().items()}
    model = make_model(dtype=torch.float64)
    ref, _ = _torch_reference(model, data, "sgd_momentum", 0.1, 0.05, 2)
    trainer = make_trainer(model, data, update_rule="sgd_momentum", optim_config={"learning_rate": 0.1},
                           batch_size=len(data["X_train"]))  # fmt: skip
    trainer.step()
    trainer.step()
    assert not torch.allclose(trainer.model.params["W1"], ref[1]["W1"])
    assert trainer.grad_norm_history == []


def test_a_chain_turns_the_in_product_update_off_and_keeps_foreach() -> None:
    plain = make_trainer(update_rule="sgd_momentum", optim_config={"learning_rate": 0.1})
    chained = make_trainer(update_rule="sgd_momentum", optim_config={"learning_rate": 0.1},
                           gradient_transforms=["clip_value:value=10"])  # fmt: skip
    assert isinstance(plain.updater, InProduct)
    assert not isinstance(chained.updater, InProduct) and type(chained.updater).__name__ == "Foreach"
    assert plain.transforms is None  # no chain: the step does nothing more
    plain.train()
    chained.train()
    # clip_value with a bound no gradient reaches: the same run, apart from rounding of the in-product form
    for name, w in plain.model.params.items():
        torch.testing.assert_close(chained.model.params[name], w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("spec", "error", "words"),
    [
        (["clip_norm:max_norm=0"], ValueError, "clip_norm' (builtins"),
        (["clip_norm:max_norm=-1"], ValueError, "max_norm must be a finite number > 0"),
        (["clip_norm:maxnorm=1"], ValueError, "unknown option(s) maxnorm; it takes max_norm"),
        (["clip_nrm"], UnknownComponentError, "did you mean 'clip_norm'"),
        ("clip_norm", TypeError, "gradient_transforms=[...]"),
    ],
)
def test_unknown_or_out_of_range_transforms_are_refused_naming_them(spec, error, words) -> None:
    with pytest.raises(error) as e:
        make_trainer(gradient_transforms=spec)
    assert words in str(e.value)


# -- a third party's transforms -----------------------------------------------------------------


class _Averaged:
    """A stateful transform: an exponential average of the gradients (state tensors like the parameters)."""

    def __init__(self, decay: float) -> None:
        self.decay = decay

    def init(self, params):
        return {f"avg.{n}": torch.zeros_like(p) for n, p in params.items()} | {"count": 0}

    def update(self, grads, state, params):
        new = {f"avg.{n}": self.decay * state[f"avg.{n}"] + (1 - self.decay) * g for n, g in grads.items()}
        return {n: new[f"avg.{n}"] for n in grads}, {**new, "count": state["count"] + 1}


@gradient_transform({"decay": 0.5}, {"decay": (0.0, 1.0)})
def averaged(decay: float = 0.5) -> _Averaged:
    return _Averaged(decay)


class _Broken:
    def __init__(self, how: str) -> None:
        self.how = how

    def init(self, params):
        return {}

    def update(self, grads, state, params):
        if self.how == "none":
            return None, state
        if self.how == "nan":
            return {n: g * float("nan") for n, g in grads.items()}, state
        return {n: g.reshape(-1) for n, g in grads.items()}, state


@hookimpl
def minifc_register_gradient_transforms(register) -> None:
    register("averaged", averaged, description="exponential average of the gradients")
    for how in ("none", "nan", "shape"):
        register(f"broken_{how}", lambda how=how: _Broken(how))


PLUGIN = types.SimpleNamespace(
    __name__="thirdparty", minifc_register_gradient_transforms=minifc_register_gradient_transforms
)


@pytest.fixture
def registry():
    with use_registry(plugin_registry(PLUGIN, "thirdparty")) as reg:
        yield reg


@pytest.mark.parametrize(("how", "words"), [("none", "returned None"), ("nan", "NaN/Inf"), ("shape", "of shape")])
def test_a_broken_plugin_transform_is_named_at_the_first_step(registry, how, words) -> None:
    trainer = make_trainer(gradient_transforms=[f"broken_{how}"])
    before = {k: v.clone() for k, v in trainer.model.params.items()}
    with pytest.raises(MinifcError) as e:
        trainer.step()
    assert f"gradient transform 'broken_{how}' (thirdparty)" in str(e.value) and words in str(e.value)
    assert all(torch.equal(before[k], v) for k, v in trainer.model.params.items())  # nothing was updated


def test_a_plugin_transform_is_found_by_name_and_resumed_exactly_after_a_kill(registry, tmp_path: Path) -> None:
    opts = {"update_rule": "adam", "optim_config": {"learning_rate": 1e-2}, "num_epochs": 3,
            "gradient_transforms": ["averaged:decay=0.7", "clip_norm:max_norm=0.2"]}  # fmt: skip
    unbroken = make_trainer(**opts).train()
    path = tmp_path / "c.pt"

    def kill(trainer) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # killed in its second epoch: the checkpoint holds the first
        make_trainer(**opts, checkpoint_path=path, callbacks=[OnStep(6, kill)]).train()
    resumed = make_trainer(**opts, checkpoint_path=path).train(resume=True)
    for name, w in unbroken.model.params.items():
        assert torch.equal(resumed.model.params[name], w), name
    assert resumed.grad_norm_history == unbroken.grad_norm_history and len(unbroken.grad_norm_history) == 12
    assert resumed.training_state.transform_states[0]["count"] == 12


def test_resuming_with_another_chain_is_refused_and_other_options_are_noted(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    make_trainer(gradient_transforms=["clip_norm:max_norm=0.5"], checkpoint_path=path, num_epochs=1).train()
    for other in (None, ["clip_value"], ["clip_norm", "clip_value"]):
        trainer = make_trainer(gradient_transforms=other, checkpoint_path=path)
        with pytest.raises(CheckpointError, match=r"written with gradient transforms \['clip_norm'\]"):
            trainer.train(resume=True)
    with pytest.warns(UserWarning, match=r"gradient transform options of \['clip_norm'\]"):
        make_trainer(gradient_transforms=["clip_norm:max_norm=2"], checkpoint_path=path).load_checkpoint(path)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda s: s["transform_states"][0].update(grad_norm=torch.zeros(3)), "transform_states[0] (gradient"),
        (lambda s: s["transform_states"][0].pop("grad_norm"), "must hold the keys ['grad_norm']"),
        (lambda s: s["transform_states"][0].update(grad_norm=torch.tensor(float("nan"))), "holds NaN or Inf"),
        (lambda s: s.update(transform_states=[]), "one dict per gradient transform"),
        (lambda s: s.update(grad_norm_history=[-1.0]), "grad_norm_history must be a list of numbers >= 0"),
    ],
)
def test_a_checkpoint_with_bad_transform_state_is_refused_naming_it(tmp_path: Path, damage, words) -> None:
    path = tmp_path / "c.pt"
    make_trainer(gradient_transforms=["clip_norm:max_norm=0.5"], checkpoint_path=path, num_epochs=1).train()
    state = torch.load(path, weights_only=True)
    damage(state)
    state[CHECKSUM_KEY] = state_checksum(state)
    torch.save(state, path)
    trainer = make_trainer(gradient_transforms=["clip_norm:max_norm=0.5"], checkpoint_path=path)
    before = {k: v.clone() for k, v in trainer.model.params.items()}
    with pytest.raises(CheckpointError) as e:
        trainer.load_checkpoint(path)
    assert words in str(e.value)
    assert all(torch.equal(before[k], v) for k, v in trainer.model.params.items())
