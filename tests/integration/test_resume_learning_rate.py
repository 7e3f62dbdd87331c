"""A resumed run given a new learning rate behaves alike in Python and on the command line, with or without a
schedule: from the next step the rate is ``new_lr * lr_decay**epochs_done * schedule factor``, as if the run
had used it from the start; the base rate is in the checkpoint, and a checkpoint without it (an older minifc)
still loads."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from small_runs import make_trainer

from minifc.cli import main
from minifc.io.checkpoint import safe_load

DECAY, OLD, NEW = 0.5, 1e-2, 4e-2


def half(step: int, total_steps: int) -> float:
    """A schedule whose factor is visible in the rate: 0.5 throughout."""
    return 0.5


def _python_run(tmp_path, schedule, lr: float, epochs: int, resume: bool = False):
    trainer = make_trainer(
        checkpoint_path=tmp_path / "ck.pt", optim_config={"learning_rate": lr}, lr_decay=DECAY, num_epochs=epochs,
        schedule=schedule,
    )  # fmt: skip
    return trainer.train(resume=resume)


@pytest.mark.parametrize("schedule, factor", [(None, 1.0), (half, 0.5)], ids=["no schedule", "schedule"])
def test_python_resume_with_a_new_rate_applies_it_from_now_on_and_says_so(tmp_path, schedule, factor) -> None:
    _python_run(tmp_path, schedule, OLD, epochs=2)
    with pytest.warns(UserWarning, match=rf"with learning_rate {NEW} \(the run used {OLD}\): it applies from now on"):
        resumed = _python_run(tmp_path, schedule, NEW, epochs=3, resume=True)
    assert resumed.lr_history[:2] == pytest.approx([OLD * factor, OLD * factor * DECAY])
    assert resumed.lr_history[2] == pytest.approx(NEW * DECAY**2 * factor)
    assert safe_load(tmp_path / "ck.pt")["base_lr"] == {name: NEW for name in resumed.model.params}


@pytest.mark.parametrize("schedule", [None, half], ids=["no schedule", "schedule"])
def test_python_resume_with_the_same_rate_warns_nothing(tmp_path, schedule, recwarn) -> None:
    _python_run(tmp_path, schedule, OLD, epochs=2)
    resumed = _python_run(tmp_path, schedule, OLD, epochs=3, resume=True)
    assert not [w for w in recwarn if "learning_rate" in str(w.message)]
    assert resumed.lr_history[2] == pytest.approx(OLD * DECAY**2 * (0.5 if schedule else 1.0))


@pytest.mark.parametrize("schedule", [[], ["--schedule", "constant"]], ids=["no schedule", "schedule"])
def test_cli_resume_with_a_new_rate_applies_it_from_now_on(tiny_cifar, tmp_path, schedule) -> None:
    out = tmp_path / "run"
    common = ["--data", str(tiny_cifar), "--out", str(out), "--batch-size", "40", "--device", "cpu", "--quiet"]
    first = CliRunner().invoke(main, ["train", *common, "--lr", str(OLD), "--lr-decay", str(DECAY), "--epochs", "2",
                                      *schedule])  # fmt: skip
    assert first.exit_code == 0, first.output
    result = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--epochs", "3", "--lr", str(NEW)])
    assert result.exit_code == 0, result.output
    assert f"--lr changes from {OLD} to {NEW}" in result.output and "UserWarning" not in result.output
    history = json.loads((out / "history.json").read_text())["lr_history"]
    assert history == pytest.approx([OLD, OLD * DECAY, NEW * DECAY**2])


def test_set_learning_rate_is_the_rate_from_the_next_step(tmp_path) -> None:
    trainer = _python_run(tmp_path, None, OLD, epochs=2)
    trainer.set_learning_rate(NEW)
    assert all(c["learning_rate"] == pytest.approx(NEW * DECAY**2) for c in trainer.optim_configs.values())
    assert trainer.optim_config["learning_rate"] == NEW  # a later resume of this Trainer keeps it
    with pytest.raises(ValueError, match="learning_rate must be a finite number >= 0"):
        trainer.set_learning_rate(-1.0)
    with pytest.raises(ValueError, match="learning_rate must be at most the largest float32"):
        trainer.set_learning_rate(1e39)


@pytest.mark.parametrize("lr, warned", [(OLD, False), (NEW, True)], ids=["same rate", "new rate"])
def test_a_checkpoint_without_its_base_rate_still_resumes(tmp_path, lr, warned, recwarn) -> None:
    """minifc 0.2.12 saved no base_lr: the rate is the saved one undone by lr_decay**epoch."""
    _python_run(tmp_path, None, OLD, epochs=2)
    state = safe_load(tmp_path / "ck.pt")
    del state["base_lr"], state["checksum"]  # as an older minifc wrote it (it loads, warning it is unverified)
    torch.save(state, tmp_path / "ck.pt")
    resumed = _python_run(tmp_path, None, lr, epochs=3, resume=True)
    assert any("learning_rate" in str(w.message) for w in recwarn) == warned
    assert resumed.lr_history[2] == pytest.approx(lr * DECAY**2)
