"""bf16-mixed runs: a run interrupted mid-epoch and resumed continues exactly; a resume in another precision
goes on with a note; ``minifc train --precision`` trains, records and resumes it (tiny fake CIFAR-10)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from minifc.cli import main
from minifc.io.checkpoint import safe_load
from minifc.models import FullyConnectedNet
from minifc.training.trainer import Trainer

KILL_STEP = 2 * 6 + 3  # epoch 3, after its third step


def build(workdir: Path, precision: str = "bf16-mixed", callbacks=()) -> Trainer:
    g = torch.Generator().manual_seed(1)
    X = torch.randn(72, 6, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()
    data = {"X_train": X[:60], "y_train": y[:60], "X_val": X[60:], "y_val": y[60:]}
    torch.manual_seed(0)
    model = FullyConnectedNet([16, 8], input_dim=6, num_classes=3, dropout=0.2, weight_scale=0.1)
    return Trainer(
        model, data, update_rule="adam", optim_config={"learning_rate": 3e-3}, lr_decay=0.9, batch_size=10,
        num_epochs=4, device="cpu", seed=7, num_train_samples=20, checkpoint_path=workdir / "ck.pt",
        callbacks=list(callbacks), verbose=False, precision=precision,
    )


class Interrupt:
    def on_step_end(self, trainer):
        if trainer.step_count == KILL_STEP:
            raise KeyboardInterrupt


def test_a_bf16_mixed_run_interrupted_then_resumed_continues_exactly(tmp_path):
    whole = build(tmp_path / "whole").train(return_best_params=False)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "cut", callbacks=[Interrupt()]).train()
    assert safe_load(tmp_path / "cut" / "ck.pt")["precision"] == "bf16-mixed"
    torch.manual_seed(1234)  # the resumed run must not depend on the global RNG left behind
    resumed = build(tmp_path / "cut").train(resume=True, return_best_params=False)
    assert resumed.loss_history == whole.loss_history
    assert resumed.val_acc_history == whole.val_acc_history
    for name, w in whole.model.params.items():
        assert resumed.model.params[name].dtype == torch.float32  # the checkpoint holds float32 masters
        assert torch.equal(resumed.model.params[name], w), name


KILLED = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_precision_runs import KILL_STEP, build

class WaitToBeKilled:
    def on_step_end(self, trainer):
        if trainer.step_count == KILL_STEP:
            (Path(sys.argv[1]) / "ready").write_text(str(trainer.epoch))
            time.sleep(120)

build(Path(sys.argv[1]), callbacks=[WaitToBeKilled()]).train()
"""


@pytest.mark.subprocess
def test_a_bf16_mixed_run_killed_mid_epoch_then_resumed_continues_exactly(tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(KILLED.format(tests=str(Path(__file__).parent)))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "ready").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the training process never reached the kill point:\n{proc.stderr.read()}")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.stderr.close()
    assert safe_load(tmp_path / "ck.pt")["epoch"] == 2  # the last epoch that finished
    resumed = build(tmp_path).train(resume=True, return_best_params=False)
    whole = build(tmp_path / "whole").train(return_best_params=False)
    assert resumed.loss_history == whole.loss_history
    for name, w in whole.model.params.items():
        assert torch.equal(resumed.model.params[name], w), name


def test_resuming_in_another_precision_goes_on_with_a_note(tmp_path):
    build(tmp_path).train()
    again = build(tmp_path, precision="32")
    again.num_epochs = 5
    note = r"precision 32 \(the run used bf16-mixed: the numbers change, the run goes on"
    with pytest.warns(UserWarning, match=note):
        again.train(resume=True)
    assert again.epoch == 5 and again.working_copies == []


def invoke(args: list[str]):
    return CliRunner().invoke(main, args)


def test_cli_trains_in_bf16_mixed_and_a_resume_may_change_the_precision(tiny_cifar, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--data", str(tiny_cifar), "--out", str(out), "--batch-size", "40", "--device", "cpu",
            "--quiet", "--epochs", "1", "--num-train", "120", "--hidden", "16", "--precision", "bf16-mixed"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["precision"] == "bf16-mixed"
    assert safe_load(out / "checkpoint.pt")["precision"] == "bf16-mixed"
    result = invoke(["train", "--out", str(out), "--resume", "--epochs", "2", "--precision", "32", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "note: --precision changes from bf16-mixed to 32 for the rest of this run" in result.output


def test_cli_refuses_a_precision_that_contradicts_the_dtype(tmp_path):
    result = invoke(["train", "--dtype", "float64", "--precision", "bf16-mixed", "--print-config"])
    assert result.exit_code == 2
    assert "precision 'bf16-mixed' does not go with dtype 'float64'" in result.output
