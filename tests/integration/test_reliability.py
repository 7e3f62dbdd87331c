"""What happens when things go wrong: bad input, divergence, failed or hostile checkpoints, and
misbehaving plugin components. Every test here fails if the protection it checks is removed."""

from __future__ import annotations

import hashlib
import os
import pickle
import types
from pathlib import Path

import pytest
import torch

from minifc.checkpoint import atomic_save, safe_load
from minifc.errors import CheckpointError, DivergenceError, LabelError, MinifcError, ShapeError, UnknownComponentError
from minifc.hookspecs import hookimpl
from minifc.models import FullyConnectedNet
from minifc.nn import Linear, Module, Parameter, ReLU, Sequential
from minifc.registry import Registry, default_registry, reset_default_registry
from minifc.trainer import Trainer

N, D, C = 40, 5, 3
IPE = 4  # iterations per epoch with N=40 and batch_size=10


def make_data(n: int = N, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, D, generator=g)
    y = torch.randint(C, (n,), generator=g)
    return {"X_train": X, "y_train": y, "X_val": X[:10].clone(), "y_val": y[:10].clone()}


def make_model(**kwargs) -> FullyConnectedNet:
    torch.manual_seed(0)
    return FullyConnectedNet([8], input_dim=D, num_classes=C, **kwargs)


def make_trainer(model=None, data=None, **kwargs) -> Trainer:
    opts = {"batch_size": 10, "num_epochs": 2, "device": "cpu", "verbose": False, "seed": 0, **kwargs}
    return Trainer(model if model is not None else make_model(), data if data is not None else make_data(), **opts)


def with_data(**changes) -> dict[str, torch.Tensor]:
    data = make_data()
    data.update(changes)
    return data


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class OnStep:
    """Callback running ``action(trainer)`` once, after the step that brings step_count to ``step``."""

    def __init__(self, step: int, action) -> None:
        self.step, self.action = step, action

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.step_count == self.step:
            self.action(trainer)


# -- bad input at the Trainer level ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "key", "pattern"),
    [
        ({"y_train": torch.full((N,), -1)}, "y_train", "negative"),
        ({"y_train": torch.full((N,), C)}, "y_train", r"labels up to 3 .* 3 classes"),
        ({"y_val": torch.full((10,), 7)}, "y_val", r"labels up to 7 .* 3 classes"),
        ({"y_train": torch.zeros(N)}, "y_train", "integer"),
        ({"y_val": torch.zeros(10, dtype=torch.bool)}, "y_val", "integer"),
        ({"y_train": torch.zeros(N - 1, dtype=torch.long)}, "y_train", r"shape \(39,\); expected \(40,\)"),
        ({"y_val": torch.zeros(10, 1, dtype=torch.long)}, "y_val", r"shape \(10, 1\)"),
    ],
    ids=["negative", "too-large-train", "too-large-val", "float", "bool", "wrong-length", "2d"],
)
def test_bad_labels_name_the_data_key(changes, key, pattern):
    with pytest.raises(LabelError, match=rf"data\['{key}'\].*{pattern}"):
        make_trainer(data=with_data(**changes)).train()


@pytest.mark.parametrize("key", ["X_train", "X_val"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_inputs_are_refused(key, bad):
    data = make_data()
    data[key] = data[key].clone()
    data[key][3, 1] = bad
    with pytest.raises(ValueError, match=rf"data\['{key}'\] contains NaN or Inf .* 1 sample\(s\), first at row 3"):
        make_trainer(data=data)


def test_values_that_overflow_the_model_dtype_are_refused():
    data = make_data()
    data["X_train"] = data["X_train"].double()
    data["X_train"][5, 0] = 1e300  # finite in float64, Inf once cast to the model's float32
    with pytest.raises(ValueError, match=r"data\['X_train'\] contains NaN or Inf \(as torch.float32\)"):
        make_trainer(data=data)


@pytest.mark.parametrize("split", ["train", "val"])
def test_empty_dataset(split):
    data = with_data(**{f"X_{split}": torch.zeros(0, D), f"y_{split}": torch.zeros(0, dtype=torch.long)})
    with pytest.raises(ValueError, match=rf"data\['X_{split}'\] is empty"):
        make_trainer(data=data)


def test_missing_or_wrong_type_data():
    data = make_data()
    del data["y_val"]
    with pytest.raises(KeyError, match="y_val"):
        make_trainer(data=data)
    with pytest.raises(TypeError, match=r"data\['X_train'\] must be a torch.Tensor, got list"):
        make_trainer(data=with_data(X_train=[[0.0] * D] * N))


def test_wrong_feature_count_names_the_split():
    with pytest.raises(
        ShapeError, match=r"data\['X_val'\] \(shape \(10, 6\)\) does not fit the model.*5 input features"
    ):
        make_trainer(data=with_data(X_val=torch.randn(10, 6)))


@pytest.mark.parametrize("batch_size", [0, -3, N + 1, 2.5, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        make_trainer(batch_size=batch_size)


def _user_sgd(w, dw, config=None):
    config = config if config is not None else {}
    w -= config.get("learning_rate", 1e-2) * dw
    return w, config


@pytest.mark.parametrize("rule", ["sgd", "adam", _user_sgd], ids=["sgd", "adam", "user-function"])
@pytest.mark.parametrize("lr", [-1e-3, float("nan"), float("inf"), "0.1", None])
def test_bad_learning_rate(rule, lr):
    with pytest.raises(ValueError, match="learning_rate"):
        make_trainer(update_rule=rule, optim_config={"learning_rate": lr})


def test_malformed_optim_config():
    with pytest.raises(ValueError, match=r"unknown optim_config key\(s\) \['learnin_rate'\]"):
        make_trainer(optim_config={"learnin_rate": 1e-3})
    with pytest.raises(TypeError, match="optim_config must be a dict"):
        make_trainer(optim_config=[("learning_rate", 1e-3)])
    with pytest.raises(ValueError, match="optim_config keys must be names"):
        make_trainer(update_rule=_user_sgd, optim_config={1: 1e-3})


def test_unknown_update_rule_lists_known_names_and_closest():
    with pytest.raises(UnknownComponentError, match=r"unknown update rule 'adamm'; did you mean 'adam'\?") as info:
        make_trainer(update_rule="adamm")
    for name in ("sgd", "sgd_momentum", "rmsprop", "adam"):
        assert name in str(info.value)


def test_unknown_regularizer_lists_known_names_and_closest():
    with pytest.raises(UnknownComponentError, match=r"unknown regularizer 'l3'; did you mean 'l2'\?.*l2"):
        make_trainer(regularizers=["l3"])
    with pytest.raises(ValueError, match=r"regularizer 'l2' .*unknown option\(s\) \['rge'\]"):
        make_trainer(regularizers=["l2:rge=0.1"])


def test_data_is_cast_once_to_the_model_dtype():
    model = make_model(dtype=torch.float64)
    data = {
        "X_train": make_data()["X_train"].float(),
        "y_train": make_data()["y_train"].int(),
        "X_val": (make_data()["X_val"] * 10).long(),
        "y_val": make_data()["y_val"].to(torch.uint8),
    }
    trainer = make_trainer(model=model, data=data).train()
    assert {k: v.dtype for k, v in trainer.data.items()} == {
        "X_train": torch.float64,
        "y_train": torch.int64,
        "X_val": torch.float64,
        "y_val": torch.int64,
    }
    assert all(v.device == torch.device("cpu") for v in trainer.data.values())
    assert all(torch.isfinite(torch.tensor(trainer.loss_history)))


@pytest.mark.cuda
def test_mixed_devices_are_moved_once():
    if not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    data = make_data()
    data["X_train"] = data["X_train"].cuda()
    data["y_val"] = data["y_val"].cuda()
    trainer = make_trainer(data=data, device="cuda").train()
    assert all(v.device.type == "cuda" for v in trainer.data.values())
    assert all(p.device.type == "cuda" for p in trainer.model.params.values())
    back = make_trainer(data=data, device="cpu").train()  # and back to the CPU
    assert all(v.device.type == "cpu" for v in back.data.values())


# -- divergence ----------------------------------------------------------------------------------


def _poison(name: str, value: float):
    def action(trainer: Trainer) -> None:
        trainer.model.params[name] = torch.full_like(trainer.model.params[name], value)

    return action


def test_divergence_names_the_iteration_keeps_best_params_and_checkpoint(tmp_path):
    path = tmp_path / "ck.pt"
    saved = {}

    class Record:
        def on_epoch_end(self, trainer):
            saved[trainer.epoch] = (digest(path), {k: v.clone() for k, v in trainer.best_params.items()})

    step = 2 * IPE + 2  # epoch 3, after its second step; the third step of epoch 3 sees a NaN loss
    trainer = make_trainer(
        num_epochs=5, checkpoint_path=path, callbacks=[Record(), OnStep(step, _poison("W1", float("nan")))]
    )
    with pytest.raises(DivergenceError) as info:
        trainer.train()
    message = str(info.value)
    assert f"at iteration {step + 1} (epoch 3)" in message
    assert "smaller learning rate" in message and "0.01" in message
    assert str(path) in message
    digest_after_epoch_2, best = saved[2]
    assert digest(path) == digest_after_epoch_2  # the checkpoint on disk was not touched
    assert safe_load(path)["epoch"] == 2
    for name, value in best.items():  # the model holds the best parameters so far, finite
        assert torch.equal(trainer.model.params[name], value)
    assert not list(tmp_path.glob("*.tmp"))


def test_huge_learning_rate_diverges_with_a_clear_message():
    trainer = make_trainer(num_epochs=50, optim_config={"learning_rate": 1e30})
    with pytest.raises(
        DivergenceError,
        match=r"training diverged: the loss became (nan|inf) at iteration \d+ .*"
        r"Try a smaller learning rate \(it was 1e\+30\)",
    ):
        trainer.train()


def test_non_finite_loss_before_any_update_blames_the_setup_not_the_learning_rate():
    trainer = make_trainer(callbacks=[])
    trainer.model.params["W2"] = torch.full_like(trainer.model.params["W2"], float("inf"))
    with pytest.raises(DivergenceError, match="at iteration 1 .*No update had happened yet"):
        trainer.train()


def test_parameters_that_overflow_at_the_end_of_an_epoch_stop_before_saving(tmp_path):
    path = tmp_path / "ck.pt"
    trainer = make_trainer(num_epochs=3, checkpoint_path=path, callbacks=[OnStep(2 * IPE, _poison("b2", float("inf")))])
    with pytest.raises(DivergenceError, match=r"parameter\(s\) b2 became NaN/Inf by iteration 8 \(epoch 2\)"):
        trainer.train()
    assert safe_load(path)["epoch"] == 1
    assert not _prev(path).exists()  # the epoch-1 checkpoint was never rotated
    assert all(torch.isfinite(p).all() for p in trainer.model.params.values())


def test_a_non_finite_optimizer_state_is_never_written(tmp_path):
    path = tmp_path / "ck.pt"
    trainer = make_trainer(update_rule="adam", num_epochs=1, checkpoint_path=path).train()
    before = digest(path)
    trainer.optim_configs["W1"]["v"][0, 0] = float("inf")
    with pytest.raises(CheckpointError, match=r"refusing to save .*non-finite .* optim_configs\.W1\.v"):
        trainer.save_checkpoint(path)
    assert digest(path) == before
    assert not _prev(path).exists()


# -- atomic checkpoint writes --------------------------------------------------------------------


def _prev(path: Path) -> Path:
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _failing_save(exc: BaseException):
    def save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")  # partial bytes, then the failure
        f.flush()
        raise exc

    return save


@pytest.mark.parametrize(
    "exc", [OSError(28, "No space left on device"), KeyboardInterrupt()], ids=["disk-full", "ctrl-c"]
)
def test_atomic_save_failure_leaves_the_old_file(tmp_path, monkeypatch, exc):
    path = tmp_path / "model.pt"
    atomic_save({"w": torch.arange(4.0)}, path)
    before = digest(path)
    monkeypatch.setattr(torch, "save", _failing_save(exc))
    with pytest.raises(type(exc)):
        atomic_save({"w": torch.zeros(4)}, path)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no temporary file left
    monkeypatch.undo()
    assert torch.equal(safe_load(path)["w"], torch.arange(4.0))


def test_failed_trainer_save_keeps_the_checkpoint_and_its_previous(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    trainer = make_trainer(num_epochs=2, checkpoint_path=path).train()
    current, previous = digest(path), digest(_prev(path))
    monkeypatch.setattr(torch, "save", _failing_save(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space left"):
        trainer.save_checkpoint(path)
    assert (digest(path), digest(_prev(path))) == (current, previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.prev.pt", "ck.pt"]


def test_prev_file_holds_the_previous_epoch(tmp_path):
    path = tmp_path / "ck.pt"
    make_trainer(num_epochs=3, checkpoint_path=path).train()
    assert safe_load(path)["epoch"] == 3
    assert safe_load(_prev(path))["epoch"] == 2


def test_a_fresh_run_never_offers_an_earlier_runs_checkpoint_as_its_older_one(tmp_path):
    path = tmp_path / "ck.pt"
    make_trainer(num_epochs=3, checkpoint_path=path, optim_config={"learning_rate": 0.5}).train()
    fresh = make_trainer(num_epochs=1, checkpoint_path=path)
    fresh.train()
    assert not _prev(path).exists()  # the earlier run's files are not this run's .prev
    assert safe_load(path)["loss_history"] == fresh.loss_history
    fresh.num_epochs = 2
    fresh.train()  # the same run goes on: now its own epoch 1 is kept as .prev
    assert safe_load(_prev(path))["loss_history"] == fresh.loss_history[:IPE]


# -- hostile checkpoints -------------------------------------------------------------------------


class Payload:
    """Unpickling this calls ``func(*args)``: what a malicious checkpoint would do."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker: Path) -> dict[str, Payload]:
    return {
        "open": Payload(open, str(marker), "w"),
        "exec": Payload(exec, f"open({str(marker)!r}, 'w').close()"),
        "os.system": Payload(os.system, f"touch '{marker}'"),
    }


def _hostile_file(path: Path, payload: Payload, fmt: str) -> Path:
    obj = {"format": "minifc-trainer-1", "params": {"W1": payload}}
    if fmt == "zip":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=2))
    return path


@pytest.mark.parametrize("fmt", ["zip", "raw-pickle"])
@pytest.mark.parametrize("kind", ["open", "exec", "os.system"])
def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, kind, fmt):
    # the payload really runs code when unpickled the unsafe way ...
    control = tmp_path / "control-marker"
    control_file = _hostile_file(tmp_path / "control.pt", _payloads(control)[kind], fmt)
    if fmt == "zip":
        torch.load(control_file, weights_only=False)
    else:
        pickle.loads(control_file.read_bytes())
    assert control.exists()
    # ... and never runs through minifc
    marker = tmp_path / "marker"
    path = _hostile_file(tmp_path / "evil.pt", _payloads(marker)[kind], fmt)
    with pytest.raises(CheckpointError, match=r"refused to load .*evil\.pt.*could run code"):
        safe_load(path)
    trainer = make_trainer()
    before = {k: v.clone() for k, v in trainer.model.params.items()}
    with pytest.raises(CheckpointError, match="refused to load"):
        trainer.train(resume=path)
    with pytest.raises(CheckpointError, match="refused to load"):
        make_model().load(path)
    assert not marker.exists()
    assert all(torch.equal(trainer.model.params[k], v) for k, v in before.items())


# -- corrupt, truncated and mismatched checkpoints ---------------------------------------------------


@pytest.fixture
def two_epochs(tmp_path) -> Path:
    """ck.pt after epoch 2, ck.prev.pt after epoch 1."""
    path = tmp_path / "ck.pt"
    make_trainer(num_epochs=2, checkpoint_path=path).train()
    return path


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("damage", "pattern"),
    [
        (_truncate, "corrupt or truncated"),
        (lambda p: p.write_bytes(b""), r"empty \(0 bytes\)"),
        (lambda p: p.write_bytes(b"not a checkpoint at all\n" * 20), "corrupt or truncated"),
        (lambda p: torch.save({"format": "something-else"}, p), "not a minifc Trainer checkpoint"),
    ],
    ids=["truncated", "empty", "garbage", "foreign"],
)
def test_corrupt_checkpoint_gives_a_clear_error_and_the_older_one_is_kept(two_epochs, damage, pattern):
    path = two_epochs
    previous = digest(_prev(path))
    damage(path)
    trainer = make_trainer(num_epochs=3, checkpoint_path=path)
    before = {k: v.clone() for k, v in trainer.model.params.items()}
    with pytest.raises(CheckpointError, match=rf"{pattern}.*ck\.prev\.pt is kept"):
        trainer.train(resume=True)
    assert all(torch.equal(trainer.model.params[k], v) for k, v in before.items())  # nothing half-restored
    assert digest(_prev(path)) == previous
    trainer.train(resume=_prev(path))  # the older checkpoint still works: epochs 2 and 3 run again
    assert trainer.epoch == 3 and len(trainer.loss_history) == 3 * IPE


def _edit_checkpoint(path: Path, edit) -> None:
    state = safe_load(path)
    edit(state)
    torch.save(state, path)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda s: s["params"]["W1"].fill_(float("nan")), r"NaN or Inf in params\.W1"),
        (lambda s: s.pop("optim_configs"), "lacks optim_configs"),
        (lambda s: s["params"].pop("b2"), r"params holds \['W1', 'W2', 'b1'\] but the model has"),
        (lambda s: s["params"].update(W1=torch.zeros(7, 8)), r"params\['W1'\] has shape \(7, 8\)"),
        (lambda s: s.update(epoch="2"), "epoch must be an integer"),
        (lambda s: s["rng"].update(torch=[1, 2]), "rng must hold"),
        (lambda s: s.update(update_rule="adam"), "update rule 'adam' but this Trainer uses 'sgd'"),
    ],
    ids=["nan-params", "missing-key", "missing-param", "other-shape", "bad-epoch", "bad-rng", "other-rule"],
)
def test_mismatched_checkpoint_is_refused_before_anything_changes(two_epochs, edit, pattern):
    _edit_checkpoint(two_epochs, edit)
    trainer = make_trainer(num_epochs=3, checkpoint_path=two_epochs)
    before = {k: v.clone() for k, v in trainer.model.params.items()}
    with pytest.raises(CheckpointError, match=pattern):
        trainer.train(resume=True)
    assert trainer.epoch == 0 and trainer.loss_history == []
    assert all(torch.equal(trainer.model.params[k], v) for k, v in before.items())


def test_resume_without_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="resume=True needs checkpoint_path"):
        make_trainer().train(resume=True)
    with pytest.raises(CheckpointError, match=r"checkpoint .*missing\.pt does not exist"):
        make_trainer(checkpoint_path=tmp_path / "missing.pt").train(resume=True)


# -- misbehaving components and plugins --------------------------------------------------------------


@pytest.fixture
def registry():
    """A fresh registry (built-ins only) as the default; the previous one is restored afterwards."""
    old = default_registry()
    fresh = reset_default_registry(Registry(entry_points=False))
    yield fresh
    reset_default_registry(old)


def plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def add_update_rule(registry: Registry, name: str, rule) -> None:
    registry.add_plugin(plugin(minifc_register_update_rules=lambda register: register(name, rule)), name="badplugin")


def _rule(transform):
    def rule(w, dw, config=None):
        config = config if config is not None else {}
        w -= 1e-2 * dw
        return transform(w), config

    return rule


@pytest.mark.parametrize(
    ("transform", "error", "pattern"),
    [
        (lambda w: w[:-1].clone(), ShapeError, r"next_w of shape \(\d+,?( \d+)?\) for 'W1'; expected"),
        (lambda w: w.double(), MinifcError, "next_w of dtype torch.float64 for 'W1'; expected torch.float32"),
        (lambda w: torch.empty_like(w, device="meta"), MinifcError, "next_w of device meta for 'W1'; expected cpu"),
        (lambda w: torch.full_like(w, float("nan")), MinifcError, "next_w with NaN/Inf for 'W1'"),
        (lambda w: w.tolist(), MinifcError, "returned a list as next_w"),
    ],
    ids=["shape", "dtype", "device", "nan", "not-a-tensor"],
)
def test_bad_update_rule_is_named_with_its_plugin_at_the_first_step(registry, transform, error, pattern):
    add_update_rule(registry, "badrule", _rule(transform))
    trainer = make_trainer(update_rule="badrule")
    with pytest.raises(error, match=rf"update rule 'badrule' \(badplugin\) .*{pattern}"):
        trainer.train()
    assert trainer.step_count == 0


def test_update_rule_that_forgets_the_config_is_named(registry):
    add_update_rule(registry, "badrule", lambda w, dw, config=None: w - dw)
    with pytest.raises(MinifcError, match=r"update rule 'badrule' \(badplugin\) must return \(next_w, config\)"):
        make_trainer(update_rule="badrule").train()


def _nan_penalty(w, config):
    return torch.tensor(float("nan")), torch.zeros_like(w)


def _nan_gradient(w, config):
    return (w * w).sum(), torch.full_like(w, float("nan"))


def _wrong_gradient_shape(w, config):
    return (w * w).sum(), torch.zeros(3)


def _bad_update_stage(w, config):
    return w.t().contiguous()


@pytest.mark.parametrize(
    ("fn", "stage", "pattern"),
    [
        (_nan_penalty, "loss", r"non-finite penalty \(nan\) for 'W1'"),
        (_nan_gradient, "loss", "dpenalty with NaN/Inf for 'W1'"),
        (_wrong_gradient_shape, "loss", r"dpenalty of shape \(3,\) for 'W1'"),
        (_bad_update_stage, "update", r"next_w of shape \(8, 5\) for 'W1'"),
    ],
    ids=["nan-penalty", "nan-gradient", "gradient-shape", "update-stage-shape"],
)
def test_bad_regularizer_is_named_with_its_plugin_at_the_first_step(registry, fn, stage, pattern):
    registry.add_plugin(
        plugin(minifc_register_regularizers=lambda register: register("badreg", fn, stage=stage)), name="badplugin"
    )
    trainer = make_trainer(regularizers=["badreg"])
    with pytest.raises(MinifcError, match=rf"regularizer 'badreg' \(badplugin\) .*{pattern}"):
        trainer.train()
    assert trainer.step_count == 0


class WrongDx(Module):
    """Identity forward; backward drops a column of dx."""

    def forward(self, x):
        return x

    def backward(self, dout):
        return dout[:, :-1]


class WrongGrad(Module):
    """x * scale; backward accumulates a gradient of the wrong shape into scale."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.scale = Parameter(torch.ones(width))
        self._x = None

    def forward(self, x):
        self._x = x
        return x * self.scale.data

    def backward(self, dout):
        self.scale.grad = (dout * self._x).sum()
        return dout * self.scale.data


def _net_with(layer: Module) -> Sequential:
    torch.manual_seed(0)
    return Sequential(Linear(D, 8), ReLU(), layer, Linear(8, C))


def test_layer_backward_with_the_wrong_shape_is_named_with_its_plugin(registry):
    registry.add_plugin(plugin(minifc_register_layers=lambda register: register("wrong_dx", WrongDx)), name="badplugin")
    trainer = make_trainer(model=_net_with(registry.get("layer", "wrong_dx")()), loss="softmax")
    with pytest.raises(
        ShapeError,
        match=r"layer WrongDx\(\) \(plugin badplugin\): backward returned dx of shape "
        r"\(10, 7\) but its input had shape \(10, 8\)",
    ):
        trainer.train()
    trainer.model.loss(trainer.data["X_train"][:2])  # the checks are gone after the first step
    assert "backward" not in vars(trainer.model.net[2])


def test_layer_gradient_with_the_wrong_shape_is_named_with_its_plugin(registry):
    registry.add_plugin(
        plugin(minifc_register_layers=lambda register: register("wrong_grad", WrongGrad)), name="badplugin"
    )
    trainer = make_trainer(model=_net_with(registry.get("layer", "wrong_grad")()), loss="softmax")
    with pytest.raises(ShapeError, match=r"gradient of '2.scale' has shape \(\) .*WrongGrad\(\), plugin badplugin"):
        trainer.train()


def test_a_failing_plugin_leaves_the_other_components_working(registry):
    def boom(register):
        register("half_registered", _user_sgd)
        raise RuntimeError("boom")

    registry.add_plugin(plugin(minifc_register_update_rules=boom), name="broken")
    registry.add_plugin(
        plugin(minifc_register_update_rules=lambda register: register("good_sgd", _user_sgd)), name="goodplugin"
    )
    for rule in ("good_sgd", "sgd", "adam"):
        trainer = make_trainer(update_rule=rule).train()
        assert len(trainer.loss_history) == 2 * IPE
    assert registry.plugins["broken"].status == "failed" and "boom" in registry.plugins["broken"].error
    with pytest.raises(UnknownComponentError, match=r"unknown update rule 'half_registered'.*good_sgd"):
        make_trainer(update_rule="half_registered")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_finds_every_kind_of_bad_value(dtype, bad):
    from minifc.checkpoint import all_finite, non_finite

    good = torch.randn(5, 7).to(dtype)
    spoilt = good.clone()
    spoilt[3, 4] = bad
    assert all_finite(good) and not all_finite(spoilt)
    assert not all_finite(torch.tensor(bad).to(dtype))  # 0-dim
    state = {"params": {"W": good, "b": spoilt[3]}, "hist": [good, spoilt], "t": torch.arange(3), "empty": good[:0]}
    assert non_finite(state) == ["params.b", "hist[1]"]
