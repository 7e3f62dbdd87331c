"""Divergence: a non-finite loss or parameter stops training with a message that names the iteration
and keeps the best parameters and the last good checkpoint."""

from __future__ import annotations

import pytest
import torch
from small_runs import IPE, OnStep, digest, make_trainer, prev_path

from minifc.errors import CheckpointError, DivergenceError
from minifc.io.checkpoint import safe_load
from minifc.training.trainer import Trainer


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
    assert not prev_path(path).exists()  # the epoch-1 checkpoint was never rotated
    assert all(torch.isfinite(p).all() for p in trainer.model.params.values())


def test_a_non_finite_optimizer_state_is_never_written(tmp_path):
    path = tmp_path / "ck.pt"
    trainer = make_trainer(update_rule="adam", num_epochs=1, checkpoint_path=path).train()
    before = digest(path)
    trainer.optim_configs["W1"]["v"][0, 0] = float("inf")
    with pytest.raises(CheckpointError, match=r"refusing to save .*non-finite .* optim_configs\.W1\.v"):
        trainer.save_checkpoint(path)
    assert digest(path) == before
    assert not prev_path(path).exists()
