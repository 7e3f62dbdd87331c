"""The Trainer's progress is one TrainingState: the attributes read and write it, a checkpoint saves it whole
and a resume replaces it whole; the constructor's keyword arguments and the grouped options build the same
Trainer; no part of minifc/training takes the whole Trainer as an untyped object."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest
import torch
from small_runs import IPE, make_data, make_model, make_trainer

import minifc
from minifc import Trainer
from minifc.io.checkpoint import safe_load
from minifc.training.options import OptimOptions, SamplingOptions, TrainerOptions
from minifc.training.run_state import SAVED_FIELDS, TrainingState


def test_the_trainers_attributes_are_its_training_state() -> None:
    trainer = make_trainer().train()
    state = trainer.training_state
    assert isinstance(state, TrainingState)
    assert (trainer.epoch, trainer.step_count) == (state.epoch, state.step_count) == (2, 2 * IPE)
    assert trainer.loss_history is state.loss_history and trainer.best_params is state.best_params
    trainer.stop_training = True  # what a callback does
    assert state.stop_training is True
    trainer.optim_configs["W1"]["learning_rate"] = 0.5
    assert state.optim_configs["W1"]["learning_rate"] == 0.5


def test_a_checkpoint_holds_the_state_whole_and_a_resume_replaces_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    done = make_trainer(checkpoint_path=path).train()
    saved = safe_load(path)
    for key in (*SAVED_FIELDS, "base_lr", "optim_configs", "best_params", "best_buffers"):
        assert key in saved, key  # the keys minifc 0.2.12 wrote, plus the base learning rate
    resumed = make_trainer(checkpoint_path=path, num_epochs=2)
    before = resumed.training_state
    resumed.load_checkpoint(path)
    after = resumed.training_state
    assert after is not before and after.owns_checkpoint and not after.validated
    for key in set(SAVED_FIELDS) - {"elapsed"}:  # the time goes on after the save
        assert getattr(after, key) == getattr(done.training_state, key), key
    assert 0 < after.elapsed <= done.elapsed
    assert after.base_lr == done.training_state.base_lr


def test_a_0_2_12_checkpoint_without_the_base_rate_still_resumes_exactly(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    uninterrupted = make_trainer(num_epochs=3, seed=1).train()
    make_trainer(checkpoint_path=path, num_epochs=2, seed=1).train()
    state = safe_load(path)
    del state["base_lr"], state["checksum"]  # as minifc 0.2.12 wrote it
    torch.save(state, path)
    with pytest.warns(UserWarning, match="records no checksum"):
        resumed = make_trainer(checkpoint_path=path, num_epochs=3, seed=1).train(resume=True)
    assert resumed.loss_history == uninterrupted.loss_history


def test_grouped_options_build_the_same_trainer_as_keyword_arguments() -> None:
    options = TrainerOptions(
        sampling=SamplingOptions(batch_size=10, num_epochs=1, seed=0),
        optim=OptimOptions(update_rule="adam", optim_config={"learning_rate": 1e-2}, lr_decay=0.9),
    )
    grouped = Trainer.from_options(make_model(), make_data(), options, device="cpu").train()
    keywords = Trainer(make_model(), make_data(), device="cpu", **options.keywords()).train()
    assert grouped.update_rule_name == keywords.update_rule_name == "adam" and grouped.batch_size == 10
    assert grouped.loss_history == keywords.loss_history


def test_every_option_has_the_default_of_the_keyword_it_stands_for() -> None:
    signature = inspect.signature(Trainer).parameters
    defaults = TrainerOptions().keywords()
    assert set(defaults) == set(signature) - {"self", "model", "data", "device", "loss"}
    for name, value in defaults.items():
        assert value == signature[name].default, name
    with pytest.raises(TypeError, match="unexpected keyword argument.*batchsize"):
        TrainerOptions.from_keywords(batchsize=3)
    assert dataclasses.is_dataclass(TrainerOptions.from_keywords(batch_size=3).sampling)


def test_no_part_of_training_takes_the_trainer_untyped() -> None:
    root = Path(minifc.__file__).parent / "training"
    untyped = [
        f"{path.name}: {line.strip()}"
        for path in sorted(root.glob("*.py"))
        for line in path.read_text().splitlines()
        if re.search(r"\btrainer: Any\b", line)
    ]
    assert not untyped


def test_the_command_line_uses_the_trainers_public_api_only() -> None:
    """minifc's commands read no private Trainer name and write no Trainer field but its run_config (the learning
    rate goes through set_learning_rate)."""
    root = Path(minifc.__file__).parent / "cli" / "commands"
    found = [
        f"{path.name}: {line.strip()}"
        for path in sorted(root.glob("*.py"))
        for line in path.read_text().splitlines()
        if re.search(r"\btrainer\._\w", line)
        or re.search(r"\btrainer\.(?!run_config\b)\w+(\[[^]]*\])*\s*(=|\+=|\*=)(?!=)", line)
        or re.search(r"\btrainer\.optim_configs\b", line)  # each parameter's config: the Trainer's own
    ]
    assert not found
