"""Trainer and Solver on small synthetic data (the CIFAR-10 runs are in test_examples.py)."""

from __future__ import annotations

import re

import pytest
import torch

import minifc
from minifc import FullyConnectedNet, Solver, Trainer, nn, optim
from minifc.optim.schedules import warmup_cosine
from minifc.training.callbacks import EarlyStopping


def toy_data(n: int = 300, d: int = 20, c: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X @ torch.randn(d, c, generator=g)).argmax(1)
    cut = n * 4 // 5
    return {"X_train": X[:cut], "y_train": y[:cut], "X_val": X[cut:], "y_val": y[cut:]}


def small_net(dropout: float = 0.0) -> FullyConnectedNet:
    torch.manual_seed(0)
    return FullyConnectedNet([32], input_dim=20, num_classes=4, dropout=dropout, weight_scale=0.1)


def test_trainer_learns_and_keeps_histories() -> None:
    data = toy_data()
    t = Trainer(
        small_net(),
        data,
        update_rule="adam",
        optim_config={"learning_rate": 1e-2},
        batch_size=40,
        num_epochs=6,
        seed=0,
        verbose=False,
        device="cpu",
    )
    t.train()
    assert len(t.loss_history) == 6 * (240 // 40)
    assert len(t.train_acc_history) == len(t.val_acc_history) == 6
    assert t.loss_history[-1] < t.loss_history[0]
    assert t.best_val_acc == max(t.val_acc_history) > 0.7
    assert t.check_accuracy(data["X_val"], data["y_val"]) == pytest.approx(t.best_val_acc)


def test_update_rule_function_and_name_agree() -> None:
    runs = []
    for rule in ("sgd_momentum", optim.sgd_momentum):
        t = Trainer(
            small_net(), toy_data(), update_rule=rule, num_epochs=2, batch_size=40, seed=3, verbose=False, device="cpu"
        )
        t.train()
        runs.append(t.loss_history)
    assert runs[0] == runs[1]


def test_optimizer_state_is_per_parameter_on_its_device() -> None:
    t = Trainer(small_net(), toy_data(), update_rule="adam", num_epochs=1, batch_size=40, verbose=False, device="cpu")
    t.train()
    assert set(t.optim_configs) == {"W1", "b1", "W2", "b2"}
    for name, config in t.optim_configs.items():
        assert config["m"].shape == t.model.params[name].shape
        assert config["m"].device == t.model.params[name].device
        assert config["t"] == 6


def test_lr_decay_and_schedule() -> None:
    t = Trainer(
        small_net(),
        toy_data(),
        optim_config={"learning_rate": 0.1},
        lr_decay=0.5,
        num_epochs=3,
        batch_size=40,
        verbose=False,
        device="cpu",
    )
    t.train()
    assert t.lr_history == pytest.approx([0.1, 0.05, 0.025])
    t = Trainer(
        small_net(),
        toy_data(),
        optim_config={"learning_rate": 0.1},
        schedule=warmup_cosine(0.2),
        num_epochs=2,
        batch_size=40,
        verbose=False,
        device="cpu",
    )
    t.train()
    assert t.optim_configs["W1"]["learning_rate"] < 0.01  # the cosine ends near 0


def test_l2_regularizer_by_name_matches_the_classic_reg() -> None:
    a = Trainer(
        small_net(),
        toy_data(),
        regularizers=[{"name": "l2", "reg": 0.1}],
        num_epochs=1,
        batch_size=40,
        seed=1,
        verbose=False,
        device="cpu",
    )
    a.train(return_best_params=False)
    model = small_net()
    model.reg = 0.1
    b = Trainer(model, toy_data(), num_epochs=1, batch_size=40, seed=1, verbose=False, device="cpu")
    b.train(return_best_params=False)
    assert a.loss_history == pytest.approx(b.loss_history, rel=1e-5)
    for name in a.model.params:
        torch.testing.assert_close(a.model.params[name], b.model.params[name])


def test_bare_module_with_a_loss_name() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4))
    t = Trainer(
        net,
        toy_data(),
        loss="svm",
        update_rule="sgd",
        optim_config={"learning_rate": 0.05},
        num_epochs=3,
        batch_size=40,
        verbose=False,
        device="cpu",
    )
    t.train()
    assert t.loss_history[-1] < t.loss_history[0]


def test_early_stopping_callback_stops() -> None:
    stopper = EarlyStopping(patience=1, min_delta=1.0)  # no epoch can improve by 1.0
    t = Trainer(small_net(), toy_data(), num_epochs=10, batch_size=40, callbacks=[stopper], verbose=False, device="cpu")
    t.train()
    assert t.epoch == 2 and stopper.stopped_epoch == 2


def test_return_best_params_restores_the_best_epoch() -> None:
    t = Trainer(
        small_net(),
        toy_data(),
        update_rule="adam",
        optim_config={"learning_rate": 1e-2},
        num_epochs=4,
        batch_size=40,
        seed=0,
        verbose=False,
        device="cpu",
    )
    t.train()
    for name, best in t.best_params.items():
        assert torch.equal(t.model.params[name], best)


def test_in_process_resume_matches_an_uninterrupted_run(tmp_path) -> None:
    kwargs = dict(update_rule="adam", batch_size=40, seed=5, verbose=False, device="cpu")
    full = Trainer(small_net(dropout=0.3), toy_data(), num_epochs=4, **kwargs)
    full.train(return_best_params=False)
    first = Trainer(small_net(dropout=0.3), toy_data(), num_epochs=2, checkpoint_path=tmp_path / "c.pt", **kwargs)
    first.train(return_best_params=False)
    second = Trainer(small_net(dropout=0.3), toy_data(), num_epochs=4, checkpoint_path=tmp_path / "c.pt", **kwargs)
    second.train(resume=True, return_best_params=False)
    assert second.loss_history == full.loss_history
    for name in full.model.params:
        assert torch.equal(second.model.params[name], full.model.params[name])


# -- Solver: the classic face ---------------------------------------------------------------------


class HandWrittenModel:
    """A model with only the classic contract (no minifc.nn inside): softmax regression."""

    def __init__(self) -> None:
        self.params = {"W": torch.zeros(20, 4), "b": torch.zeros(4)}

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None):
        scores = X @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        loss, dscores = minifc.functional.softmax_loss(scores, y)
        return loss, {"W": X.t() @ dscores, "b": dscores.sum(0)}


def test_solver_runs_any_model_with_the_classic_contract(capsys) -> None:
    torch.manual_seed(0)
    solver = Solver(
        HandWrittenModel(), toy_data(), optim_config={"learning_rate": 0.5}, num_epochs=3, batch_size=40, print_every=5
    )
    solver.train()
    out = capsys.readouterr().out
    assert re.search(r"^\(Time \d+\.\d\d sec; Iteration 1 / 18\) loss: \d+\.\d{6}$", out, re.M)
    assert re.search(r"^\(Epoch 0 / 3\) train acc: \d\.\d{6}; val_acc: \d\.\d{6}$", out, re.M)
    assert re.search(r"^\(Epoch 3 / 3\) train acc: ", out, re.M)
    assert len(solver.loss_history) == 18 and len(solver.val_acc_history) == 4
    assert solver.best_val_acc > 0.6


def test_solver_defaults_and_unknown_kwargs() -> None:
    solver = Solver(small_net(), toy_data(), verbose=False)
    assert solver.update_rule is optim.sgd
    assert (solver.batch_size, solver.num_epochs, solver.num_train_samples, solver.lr_decay) == (100, 10, 1000, 1.0)
    assert (solver.print_every, solver.print_acc_every, solver.device) == (10, 1, "cpu")  # kept as passed
    with pytest.raises(ValueError, match="Unrecognized arguments bogus"):
        Solver(small_net(), toy_data(), bogus=1)


def test_solver_time_limit_and_checkpoints(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    solver = Solver(small_net(), toy_data(), num_epochs=2, batch_size=40, checkpoint_name="run", print_every=100)
    solver.train()
    assert (tmp_path / "run_epoch_1.pkl").exists() and (tmp_path / "run_epoch_2.pkl").exists()
    saved = torch.load(tmp_path / "run_epoch_2.pkl", weights_only=True)
    assert saved["epoch"] == 2 and set(saved["params"]) == {"W1", "b1", "W2", "b2"}
    solver = Solver(small_net(), toy_data(), num_epochs=50, batch_size=40, print_every=1000)
    solver.train(time_limit=0.0)
    out = capsys.readouterr().out
    assert "End of training; next iteration will exceed the time limit." in out
    assert len(solver.loss_history) == 1


def test_a_net_that_starts_with_a_parameter_free_layer_still_gets_every_gradient() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Dropout(0.0), nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4))
    model = minifc.Classifier(net)
    assert net[1].input_grad is True
    _, grads = model.loss(torch.randn(5, 20), torch.randint(4, (5,)))
    assert set(grads) == {"1.weight", "1.bias", "3.weight", "3.bias"}
    assert minifc.Classifier(nn.Sequential(nn.Linear(20, 4))).net[0].input_grad is False


# -- minibatch sampling ----------------------------------------------------------------------------


class RecordingModel(HandWrittenModel):
    """Records a copy of every training batch (the Trainer reuses its batch buffer from step to step)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[torch.Tensor, torch.Tensor]] = []

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None):
        if y is not None:
            self.batches.append((X.clone(), y.clone()))
        return super().loss(X, y)


@pytest.mark.parametrize("n, batch_size", [(240, 40), (250, 40), (40, 40)])
def test_shuffle_draws_every_sample_once_per_epoch_with_its_own_label(n: int, batch_size: int) -> None:
    data = toy_data()
    data["X_train"], data["y_train"] = data["X_train"][:n], data["y_train"][:n]
    model = RecordingModel()
    t = Trainer(model, data, batch_size=batch_size, num_epochs=2, seed=0, verbose=False, device="cpu")
    t.train()
    steps = max(n // batch_size, 1)
    assert len(model.batches) == 2 * steps
    rows = {tuple(x.tolist()): int(label) for x, label in zip(data["X_train"], data["y_train"], strict=True)}
    epochs = []
    for e in range(2):
        X = torch.cat([b[0] for b in model.batches[e * steps : (e + 1) * steps]])
        y = torch.cat([b[1] for b in model.batches[e * steps : (e + 1) * steps]])
        assert X.shape[0] == min(steps * batch_size, n)
        # each row comes with its own label, and no row twice in an epoch
        assert all(rows[tuple(x.tolist())] == int(label) for x, label in zip(X, y, strict=True))
        assert len({tuple(x.tolist()) for x in X}) == X.shape[0]
        epochs.append(X)
    assert not torch.equal(epochs[0], epochs[1])  # a new permutation each epoch


def test_replacement_sampling_keeps_rows_and_labels_together() -> None:
    data = toy_data()
    model = RecordingModel()
    t = Trainer(model, data, batch_size=40, num_epochs=1, seed=0, sampling="replacement", verbose=False, device="cpu")
    t.train()
    rows = {tuple(x.tolist()): int(label) for x, label in zip(data["X_train"], data["y_train"], strict=True)}
    assert all(rows[tuple(x.tolist())] == int(label) for X, y in model.batches for x, label in zip(X, y, strict=True))


def test_every_kind_of_callback_sees_every_step_and_can_stop_training() -> None:
    from minifc.training.callbacks import Callback

    class Subclass(Callback):
        def __init__(self) -> None:
            self.steps: list[int] = []

        def on_step_end(self, trainer: Trainer) -> None:
            self.steps.append(trainer.step_count)

    class Plain:  # no base class, and its hook set on the instance
        def __init__(self) -> None:
            self.steps: list[int] = []
            self.on_step_end = lambda trainer: self.steps.append(trainer.step_count)

    class Stopper(Callback):
        def on_step_end(self, trainer: Trainer) -> None:
            trainer.stop_training = trainer.step_count == 30

    sub, plain = Subclass(), Plain()
    options = {"batch_size": 10, "verbose": False, "device": "cpu"}
    t = Trainer(small_net(), toy_data(), num_epochs=2, callbacks=[sub, plain], **options)
    t.train()
    assert sub.steps == plain.steps == list(range(1, 49))
    t = Trainer(small_net(), toy_data(), num_epochs=5, callbacks=[Stopper()], **options)
    t.train()
    assert t.step_count == 30 and t.epoch == 1


def test_progress_bar_counts_every_step_and_shows_the_loss(monkeypatch) -> None:
    bars = []

    class FakeBar:
        def __init__(self, total: int, **kwargs) -> None:
            self.total, self.n, self.updates, self.postfix = total, 0, 0, {}
            bars.append(self)

        def update(self, n: int) -> None:
            self.n += n
            self.updates += 1

        def set_postfix(self, refresh: bool = True, **kwargs) -> None:
            self.postfix = kwargs

        def close(self) -> None:
            pass

        @staticmethod
        def write(line: str) -> None:
            pass

    monkeypatch.setattr("minifc.training.callbacks.tqdm", FakeBar)
    t = Trainer(small_net(), toy_data(), batch_size=10, num_epochs=3, seed=0, progress=True, device="cpu")
    t.train()
    assert [bar.n for bar in bars] == [bar.total for bar in bars] == [24, 24, 24]
    assert all(1 <= bar.updates <= 24 for bar in bars)  # throttled to ~10 a second, but the last step shows
    assert float(bars[-1].postfix["loss"]) == pytest.approx(t.loss_history[-1], abs=1e-3)
    assert "val_acc" not in bars[0].postfix  # nothing measured yet in the first epoch: no "nan"
    assert float(bars[-1].postfix["val_acc"]) == pytest.approx(t.val_acc_history[-2], abs=1e-3)
