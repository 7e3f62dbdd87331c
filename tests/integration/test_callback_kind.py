"""Callbacks as a plugin kind: early stopping and EMA by name, a plugin's callback from Python, the CLI
(--callback, repeatable) and configuration files, refusals naming the culprit, and a callback that
raises: named with its plugin, the run stopped, the checkpoint intact (on tiny synthetic data)."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from small_runs import IPE, digest, make_trainer

from minifc import hookimpl
from minifc.errors import MinifcError, UnknownComponentError
from minifc.io.checkpoint import safe_load
from minifc.testing import invoke_cli, plugin_registry, use_registry
from minifc.training.callbacks import Callback, EarlyStopping
from minifc.training.ema import EMA


class Boom(Callback):
    """Raises at the end of step ``at_step`` (or of epoch ``at_epoch``)."""

    def __init__(self, at_step: int = 6, at_epoch: int = 0) -> None:
        self.at_step, self.at_epoch = at_step, at_epoch

    def on_step_end(self, trainer) -> None:
        if trainer.step_count == self.at_step:
            raise RuntimeError("boom")

    def on_epoch_end(self, trainer) -> None:
        if trainer.epoch == self.at_epoch:
            raise KeyError("bad key")


@hookimpl
def minifc_register_callbacks(register):
    register("boom", Boom, description="raises", bounds={"at_step": (0, 10**6), "at_epoch": (0, 10**6)})


PLUGIN = types.SimpleNamespace(__name__="boomplugin", minifc_register_callbacks=minifc_register_callbacks)


def registry():
    return plugin_registry(PLUGIN, "boomplugin", "minifc-boom", "1.0")


def test_early_stopping_and_ema_are_found_by_name_with_their_options():
    trainer = make_trainer(callbacks=["early_stopping:patience=1,min_delta=1.0", {"name": "ema", "decay": 0.9}])
    early, ema = trainer.callbacks
    assert isinstance(early, EarlyStopping) and early.patience == 1 and isinstance(ema, EMA) and ema.decay == 0.9
    trainer.num_epochs = 5
    trainer.train()
    assert trainer.epoch == 2 and early.stopped_epoch == 2  # no gain of 1.0: stops after patience epochs


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("early_stop", UnknownComponentError, r"unknown callback 'early_stop'; did you mean 'early_stopping'\?"),
        ("early_stopping:patience=0", ValueError, r"callback 'early_stopping' \(builtins.*patience must be .*>= 1"),
        ("ema:decay=1.0", ValueError, r"callback 'ema' .*decay must be a finite number in \[0, 1\)"),
        ("ema:every=1.5", ValueError, r"every must be an integer"),
        ("ema:decay=0.9,bogus=1", ValueError, r"has no option 'bogus'"),
    ],
)
def test_an_unknown_callback_or_option_is_refused_naming_it(spec, error, message):
    with pytest.raises(error, match=message):
        make_trainer(callbacks=[spec])


def test_a_single_spec_is_refused_asking_for_a_list():
    with pytest.raises(TypeError, match=r"write callbacks=\[...\]"):
        make_trainer(callbacks="ema")


def test_a_plugin_callback_that_raises_is_named_and_the_checkpoint_kept(tmp_path):
    path = tmp_path / "c.pt"
    with use_registry(registry()):
        trainer = make_trainer(callbacks=["boom:at_step=6"], checkpoint_path=path)
    assert 6 > IPE  # it raises in the second epoch: the first epoch's checkpoint is on disk
    with pytest.raises(MinifcError) as info:
        trainer.train()
    message = str(info.value)
    assert "callback 'boom' (boomplugin (minifc-boom 1.0)) raised RuntimeError in on_step_end at step 6: boom" \
        in message
    assert f"the checkpoint {path} of the first 1 epoch(s) is kept" in message
    before = digest(path)
    resumed = make_trainer(checkpoint_path=path)
    resumed.train(resume=True)  # the checkpoint loads and the run finishes
    assert resumed.epoch == 2 and digest(path) != before


def test_a_registered_callback_class_raising_in_on_epoch_end_is_named_too(tmp_path):
    with use_registry(registry()):
        trainer = make_trainer(callbacks=[Boom(at_step=-1, at_epoch=1)], checkpoint_path=tmp_path / "c.pt")
    with pytest.raises(MinifcError, match=r"callback Boom \(boomplugin .*raised KeyError in on_epoch_end at step 4"):
        trainer.train()
    assert (tmp_path / "c.pt").is_file()


def test_an_unregistered_callback_error_passes_through_unchanged():
    class Mine(Callback):
        def on_step_end(self, trainer) -> None:
            raise RuntimeError("mine")

    with pytest.raises(RuntimeError, match="^mine$"):
        make_trainer(callbacks=[Mine()]).train()


# -- the command line and configuration files --------------------------------------------------------


def _args(tiny_cifar, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(tiny_cifar), "--out", str(out), "--batch-size", "40", "--device", "cpu",
            "--quiet", "--epochs", "2", "--num-train", "120", "--hidden", "8", *extra]  # fmt: skip


def test_cli_callbacks_are_repeatable_saved_and_printed(tiny_cifar, tmp_path):
    out = tmp_path / "run"
    args = _args(tiny_cifar, out, "--callback", "early_stopping:patience=3", "--callback", "ema:decay=0.5")
    result = invoke_cli(*args, "--print-config", "json", registry=registry())
    assert result.exit_code == 0, result.output
    expected = [{"name": "early_stopping", "patience": 3}, {"name": "ema", "decay": 0.5}]
    assert json.loads(result.output)["callbacks"] == expected
    result = invoke_cli(*args, registry=registry())
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["callbacks"] == expected


def test_cli_and_config_file_refuse_an_unknown_callback(tiny_cifar, tmp_path):
    result = invoke_cli(*_args(tiny_cifar, tmp_path / "a", "--callback", "nope"), registry=registry())
    assert result.exit_code == 2 and "--callback: unknown callback 'nope'" in result.output
    assert "Known callbacks: boom, early_stopping, ema, tensorboard" in result.output
    config = tmp_path / "run.toml"
    config.write_text('callbacks = ["boom:at_step=-1"]\n')
    result = invoke_cli(*_args(tiny_cifar, tmp_path / "b", "--config", str(config)), registry=registry())
    assert result.exit_code == 2 and f"{config}: key 'callbacks': callback 'boom'" in result.output
    assert "at_step must be a finite number in [0, 1e+06], got -1" in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_cli_a_raising_plugin_callback_is_one_error_line_and_the_run_resumes(tiny_cifar, tmp_path):
    out = tmp_path / "run"
    config = tmp_path / "run.toml"
    config.write_text('callbacks = [{ name = "boom", at_step = 5 }]\n')  # 3 steps per epoch: in the second
    result = invoke_cli(*_args(tiny_cifar, out, "--config", str(config)), registry=registry())
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "callback 'boom' (boomplugin (minifc-boom 1.0)) raised RuntimeError" in errors[0]
    assert "Traceback" not in result.output
    state = safe_load(out / "checkpoint.pt")  # checked whole (checksum) as a resume reads it
    assert state["epoch"] == 1 and len(state["loss_history"]) == 3
    assert "the checkpoint" in errors[0] and "of the first 1 epoch(s) is kept as it was" in errors[0]


def test_resume_accepts_the_same_schedule_and_callbacks_spelled_as_options_and_refuses_others(tiny_cifar, tmp_path):
    out = tmp_path / "run"
    options = ("--schedule", "step:gamma=0.5", "--callback", "ema:decay=0.5")
    assert invoke_cli(*_args(tiny_cifar, out, *options), registry=registry()).exit_code == 0
    result = invoke_cli(*_args(tiny_cifar, out, "--resume", "--callback", "ema:decay=0.25"), registry=registry())
    assert result.exit_code == 2 and '--callback: [{"name": "ema", "decay": 0.5}] -> [{"name": "ema", "decay": 0.25}]' \
        in result.output, result.output
    result = invoke_cli(*_args(tiny_cifar, out, "--resume", "--schedule", "step:gamma=0.25"), registry=registry())
    assert result.exit_code == 2 and "--schedule: " in result.output
    args = _args(tiny_cifar, out, "--resume", *options)
    args[args.index("--epochs") + 1] = "3"
    result = invoke_cli(*args, registry=registry())  # the same options, spelled on the command line: accepted
    assert result.exit_code == 0, result.output
    assert json.loads((out / "history.json").read_text())["lr_history"] == pytest.approx([0.01, 0.005, 0.0025])
