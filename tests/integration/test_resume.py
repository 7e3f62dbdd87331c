"""Interrupted training resumes exactly: in-process interruptions, and a real SIGKILL mid-epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from minifc.errors import CheckpointError
from minifc.io.checkpoint import safe_load
from minifc.models import FullyConnectedNet
from minifc.training.callbacks import Callback
from minifc.training.trainer import Trainer

pytestmark = pytest.mark.subprocess

# One training setup, shared by this process and the subprocesses (it is written to a file and run
# with sys.executable). A mode "kill" run stops itself at KILL_STEP (in epoch 3) and waits to be killed.
SCRIPT = """
import sys
import time
from pathlib import Path

import torch

from minifc.models import FullyConnectedNet
from minifc.training.trainer import Trainer

EPOCHS, IPE = 4, 6
KILL_STEP = 2 * IPE + 3  # epoch 3, after its third step


def build(workdir, callbacks=()):
    g = torch.Generator().manual_seed(1)
    X = torch.randn(72, 6, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()
    data = {"X_train": X[:60], "y_train": y[:60], "X_val": X[60:], "y_val": y[60:]}
    torch.manual_seed(0)
    model = FullyConnectedNet([16, 8], input_dim=6, num_classes=3, dropout=0.2, weight_scale=0.1)
    return Trainer(
        model, data, update_rule="adam", optim_config={"learning_rate": 3e-3}, lr_decay=0.9, batch_size=10,
        num_epochs=EPOCHS, device="cpu", seed=7, num_train_samples=20, checkpoint_path=Path(workdir) / "ck.pt",
        callbacks=list(callbacks), verbose=False,
    )


class WaitToBeKilled:
    def __init__(self, workdir):
        self.workdir = Path(workdir)

    def on_step_end(self, trainer):
        if trainer.step_count == KILL_STEP:
            (self.workdir / "ready").write_text(f"{trainer.epoch} {trainer.step_count}")
            time.sleep(120)


def result(trainer):
    return {
        "epoch": trainer.epoch,
        "loss_history": list(trainer.loss_history),
        "train_acc_history": list(trainer.train_acc_history),
        "val_acc_history": list(trainer.val_acc_history),
        "lr_history": list(trainer.lr_history),
        "params": {k: v.clone() for k, v in trainer.model.params.items()},
        "optim_configs": trainer.optim_configs,
    }


def main(mode, workdir):
    callbacks = [WaitToBeKilled(workdir)] if mode == "kill" else []
    trainer = build(workdir, callbacks).train(resume=mode == "resume")
    torch.save(result(trainer), Path(workdir) / f"{mode}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("script") / "train_script.py"
    path.write_text(SCRIPT)
    namespace = {"__name__": "train_script"}
    exec(compile(SCRIPT, str(path), "exec"), namespace)
    namespace["path"] = path
    return namespace


def run_script(script: dict, mode: str, workdir: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script["path"]), mode, str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def assert_same_run(a: dict, b: dict) -> None:
    for key in ("epoch", "loss_history", "train_acc_history", "val_acc_history", "lr_history"):
        assert a[key] == b[key], key
    assert a["params"].keys() == b["params"].keys()
    for name in a["params"]:
        assert torch.equal(a["params"][name], b["params"][name]), name
    for name, config in a["optim_configs"].items():
        for key, value in config.items():
            other = b["optim_configs"][name][key]
            assert torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other, (name, key)


@pytest.fixture(scope="module")
def uninterrupted(script, tmp_path_factory) -> dict:
    return script["result"](script["build"](tmp_path_factory.mktemp("full")).train())


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(script, uninterrupted, tmp_path):
    proc = run_script(script, "kill", tmp_path)
    ready = tmp_path / "ready"
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None:
            pytest.fail(f"the training process ended before the kill point:\n{proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the training process never reached the kill point")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.stderr.close()
    assert ready.read_text() == f"2 {script['KILL_STEP']}"  # killed in epoch 3, after its third step
    assert safe_load(tmp_path / "ck.pt")["epoch"] == 2  # the last epoch that finished
    assert not (tmp_path / "kill.pt").exists()

    resumed = run_script(script, "resume", tmp_path)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    result = torch.load(tmp_path / "resume.pt", weights_only=True)
    assert_same_run(result, uninterrupted)
    assert len(result["loss_history"]) == script["EPOCHS"] * script["IPE"]
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_interrupted_in_process_then_resume_matches(script, uninterrupted, tmp_path):
    class Interrupt:
        def on_step_end(self, trainer):
            if trainer.step_count == script["KILL_STEP"]:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        script["build"](tmp_path, [Interrupt()]).train()
    torch.manual_seed(1234)  # the resumed run must not depend on the global RNG left behind
    resumed = script["build"](tmp_path).train(resume=True)
    assert_same_run(script["result"](resumed), uninterrupted)


def test_resume_from_every_epoch_matches(script, uninterrupted, tmp_path):
    """Stopping after any epoch (a fresh Trainer each time) gives the same run."""
    stages = []
    for epochs in range(1, script["EPOCHS"] + 1):
        trainer = script["build"](tmp_path)
        trainer.num_epochs = epochs
        trainer.train(resume=epochs > 1, return_best_params=False)
        stages.append(trainer.epoch)
    assert stages == [1, 2, 3, 4]
    final = script["build"](tmp_path).train(resume=True)  # nothing left to do: restores the best parameters
    assert_same_run(script["result"](final), uninterrupted)


def test_resume_when_training_had_finished_changes_nothing(script, uninterrupted, tmp_path):
    script["build"](tmp_path).train()
    again = script["build"](tmp_path).train(resume=True)
    assert_same_run(script["result"](again), uninterrupted)


def test_resume_continues_for_more_epochs(tmp_path):
    g = torch.Generator().manual_seed(0)
    data = {"X_train": torch.randn(30, 4, generator=g), "y_train": torch.randint(2, (30,), generator=g)}
    data.update(X_val=data["X_train"][:10], y_val=data["y_train"][:10])

    def trainer(epochs: int, name: str = "ck.pt") -> Trainer:
        torch.manual_seed(0)
        model = FullyConnectedNet([5], input_dim=4, num_classes=2)
        return Trainer(
            model,
            data,
            batch_size=10,
            num_epochs=epochs,
            device="cpu",
            seed=3,
            verbose=False,
            checkpoint_path=tmp_path / name,
        )

    long = trainer(3, "long.pt").train()
    trainer(2).train()
    more = trainer(3).train(resume=True)
    assert more.loss_history == long.loss_history
    assert all(torch.equal(more.model.params[k], long.model.params[k]) for k in long.model.params)


# -- a Trainer that starts over an earlier run's checkpoint_path ----------------------------------------------


def _small_trainer(path: Path, epochs: int = 2, **kw) -> Trainer:
    g = torch.Generator().manual_seed(0)
    data = {"X_train": torch.randn(30, 4, generator=g), "y_train": torch.randint(2, (30,), generator=g)}
    data.update(X_val=data["X_train"][:10], y_val=data["y_train"][:10])
    model = FullyConnectedNet([5], input_dim=4, num_classes=2)
    return Trainer(model, data, batch_size=10, num_epochs=epochs, device="cpu", seed=3, verbose=False,
                   checkpoint_path=path, **kw)  # fmt: skip


def test_rerunning_a_trainer_without_resume_moves_the_earlier_checkpoint_aside(tmp_path) -> None:
    path, prev = tmp_path / "ck.pt", tmp_path / "ck.prev.pt"
    _small_trainer(path).train()
    earlier = {p.name: p.read_bytes() for p in (path, prev)}
    with pytest.warns(UserWarning, match=rf"{path} held the checkpoint of an earlier run.*moved it into.*resume=True"):
        again = _small_trainer(path, epochs=1).train()
    (moved,) = tmp_path.glob("replaced-*")
    assert {p.name: p.read_bytes() for p in moved.iterdir()} == earlier  # byte for byte, .prev included
    assert safe_load(path)["epoch"] == 1 and safe_load(path)["loss_history"] == again.loss_history
    assert not prev.exists()


def test_a_run_that_stops_before_its_first_save_leaves_the_earlier_checkpoint_in_place(tmp_path) -> None:
    path = tmp_path / "ck.pt"
    _small_trainer(path).train()
    before = path.read_bytes()

    class Stop(Callback):
        def on_train_begin(self, trainer) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _small_trainer(path, callbacks=[Stop()]).train()
    assert path.read_bytes() == before and not list(tmp_path.glob("replaced-*"))


def test_resuming_from_another_file_moves_checkpoint_paths_run_aside(tmp_path) -> None:
    source, other = tmp_path / "a" / "ck.pt", tmp_path / "b" / "ck.pt"
    _small_trainer(source).train()
    _small_trainer(other).train()
    kept = other.read_bytes()
    with pytest.warns(UserWarning, match="earlier run"):
        _small_trainer(other, epochs=3).train(resume=source)
    (moved,) = (tmp_path / "b").glob("replaced-*")
    assert (moved / "ck.pt").read_bytes() == kept and safe_load(other)["epoch"] == 3


def test_resume_from_a_folder_says_it_is_a_folder_and_names_the_file_to_pass(tmp_path) -> None:
    path = tmp_path / "run" / "checkpoint.pt"
    _small_trainer(path).train()
    with pytest.raises(CheckpointError, match=r"is a folder, not a checkpoint file: pass one of the files in it "
                                              r"\(checkpoint\.prev\.pt, checkpoint\.pt\)"):  # fmt: skip
        _small_trainer(path).train(resume=tmp_path / "run")
