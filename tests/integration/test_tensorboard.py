"""The TensorBoard logger (the callback ``tensorboard``, ``minifc train --tensorboard DIR``): event files
written and read back with tensorboard's own event reader (skipped, saying why, without the
``tensorboard`` package), and the one-line error naming the extra to install when it is missing."""

from __future__ import annotations

import importlib.util
import json

import pytest
from small_runs import IPE, make_trainer

from minifc.errors import MissingExtraError
from minifc.testing import check_component, invoke_cli
from minifc.training.callbacks import Callback

NO_TENSORBOARD = "the tensorboard extra is not installed (pip install 'minifc[tensorboard]')"


def _events(folder):
    """tensorboard's EventAccumulator over ``folder``, loaded."""
    pytest.importorskip("tensorboard", reason=NO_TENSORBOARD)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return acc


def _hparams(acc) -> dict:
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: v.string_value or v.number_value or v.bool_value for k, v in info.hparams.items()}


class GradNorms(Callback):
    """Stands in for a trainer that records the gradient norm of every step (``grad_norm_history``)."""

    def on_step_end(self, trainer) -> None:
        history = getattr(trainer, "grad_norm_history", [])
        trainer.grad_norm_history = [*history, float(trainer.step_count)]


def test_every_step_writes_loss_learning_rate_gradient_norm_accuracies_and_hyper_parameters(tmp_path):
    pytest.importorskip("tensorboard", reason=NO_TENSORBOARD)
    log_dir = tmp_path / "tb"
    trainer = make_trainer(callbacks=[GradNorms(), f"tensorboard:log_dir={log_dir},every=step"],
                           schedule="step:gamma=0.5", optim_config={"learning_rate": 0.1})  # fmt: skip
    trainer.train()
    acc = _events(log_dir)
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == list(range(1, 2 * IPE + 1))
    assert [e.value for e in loss] == pytest.approx(trainer.loss_history, rel=1e-6)
    assert [e.value for e in acc.Scalars("train/learning_rate")] == pytest.approx([0.1] * IPE + [0.05] * IPE)
    assert [e.value for e in acc.Scalars("train/grad_norm")] == pytest.approx(list(range(1, 2 * IPE + 1)))
    val = acc.Scalars("accuracy/val")
    assert [e.step for e in val] == [IPE, 2 * IPE] and [e.value for e in val] == pytest.approx(trainer.val_acc_history)
    assert [e.value for e in acc.Scalars("accuracy/train")] == pytest.approx(trainer.train_acc_history)
    assert acc.Scalars("hparam/best_val_acc")[-1].value == pytest.approx(trainer.best_val_acc)
    assert _hparams(acc) == {"update_rule": "sgd", "batch_size": 10, "epochs": 2, "lr_decay": 1.0,
                             "seed": 0, "optim_learning_rate": pytest.approx(0.1)}  # fmt: skip


def test_every_epoch_writes_one_point_per_epoch_with_the_mean_loss(tmp_path):
    pytest.importorskip("tensorboard", reason=NO_TENSORBOARD)
    trainer = make_trainer(callbacks=[f"tensorboard:log_dir={tmp_path}"])
    trainer.train()
    acc = _events(tmp_path)
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == [IPE, 2 * IPE]
    assert loss[1].value == pytest.approx(sum(trainer.loss_history[IPE:]) / IPE, rel=1e-6)
    assert "train/grad_norm" not in acc.Tags()["scalars"]  # the trainer records none


def test_cli_tensorboard_shortcut_writes_the_run_and_its_configuration(tiny_cifar, tmp_path):
    pytest.importorskip("tensorboard", reason=NO_TENSORBOARD)
    out, log_dir = tmp_path / "run", tmp_path / "tb"
    args = ["train", "--data", str(tiny_cifar), "--out", str(out), "--batch-size", "40", "--device", "cpu",
            "--quiet", "--epochs", "2", "--num-train", "120", "--hidden", "8",
            "--tensorboard", str(log_dir)]  # fmt: skip
    result = invoke_cli(*args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["callbacks"] == [
        {"name": "tensorboard", "log_dir": str(log_dir)}
    ]
    acc = _events(log_dir)
    assert len(acc.Scalars("accuracy/val")) == 2
    hparams = _hparams(acc)
    assert hparams["hidden"] == "[8]" and hparams["batch_size"] == 40 and hparams["update_rule"] == "sgd"


def _without_tensorboard(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a)
    )


def test_a_missing_tensorboard_package_is_one_line_naming_the_extra(tiny_cifar, tmp_path, monkeypatch):
    _without_tensorboard(monkeypatch)
    with pytest.raises(MissingExtraError, match=r"pip install 'minifc\[tensorboard\]'"):
        make_trainer(callbacks=["tensorboard"])
    out = tmp_path / "run"
    args = ["train", "--data", str(tiny_cifar), "--out", str(out), "--device", "cpu", "--quiet", "--num-train", "40",
            "--tensorboard", str(tmp_path / "tb")]  # fmt: skip
    result = invoke_cli(*args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: the tensorboard callback needs the tensorboard package: pip install 'minifc[tensorboard]'"
    )
    assert not out.exists() and not (tmp_path / "tb").exists()  # nothing was started
    rows = check_component("callback", "tensorboard")  # minifc check passes, saying what it could not check
    assert rows[0].passed and "pip install 'minifc[tensorboard]'" in rows[0].detail


def test_a_resumed_run_continues_the_same_curves_without_the_killed_runs_extra_points(tmp_path):
    pytest.importorskip("tensorboard", reason=NO_TENSORBOARD)
    log_dir, path = tmp_path / "tb", tmp_path / "c.pt"
    spec = f"tensorboard:log_dir={log_dir},every=step"
    first = make_trainer(callbacks=[spec], checkpoint_path=path, num_epochs=1)
    first.train()
    killed = make_trainer(callbacks=[spec], checkpoint_path=path, num_epochs=2)
    killed.load_checkpoint(path)
    logger = killed.callbacks[0]
    logger.on_train_begin(killed)
    for _ in range(2):  # two steps of epoch 2 logged, then the process dies (no checkpoint of them)
        killed.step()
        logger.on_step_end(killed)
    logger.writer.close()
    resumed = make_trainer(callbacks=[spec], checkpoint_path=path, num_epochs=2)
    resumed.train(resume=True)
    steps = [e.step for e in _events(log_dir).Scalars("train/loss")]
    assert steps == list(range(1, 2 * IPE + 1))  # each step once: the killed run's were purged
