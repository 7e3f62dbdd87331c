"""Checkpoints that fail to save, would run code, are corrupt or do not match the run: the old file
is kept, nothing changes, and the error names the file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from small_runs import IPE, digest, make_model, make_trainer, prev_path

from minifc.errors import CheckpointError
from minifc.io.checkpoint import atomic_save, safe_load
from minifc.training.integrity import CHECKSUM_KEY, state_checksum

# -- atomic checkpoint writes --------------------------------------------------------------------


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
    current, previous = digest(path), digest(prev_path(path))
    monkeypatch.setattr(torch, "save", _failing_save(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space left"):
        trainer.save_checkpoint(path)
    assert (digest(path), digest(prev_path(path))) == (current, previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.prev.pt", "ck.pt"]


def test_prev_file_holds_the_previous_epoch(tmp_path):
    path = tmp_path / "ck.pt"
    make_trainer(num_epochs=3, checkpoint_path=path).train()
    assert safe_load(path)["epoch"] == 3
    assert safe_load(prev_path(path))["epoch"] == 2


def test_a_fresh_run_never_offers_an_earlier_runs_checkpoint_as_its_older_one(tmp_path):
    path = tmp_path / "ck.pt"
    earlier = make_trainer(num_epochs=3, checkpoint_path=path, optim_config={"learning_rate": 0.5}).train()
    fresh = make_trainer(num_epochs=1, checkpoint_path=path)
    with pytest.warns(UserWarning, match="held the checkpoint of an earlier run.*moved it into"):
        fresh.train()
    assert not prev_path(path).exists()  # the earlier run's files are not this run's .prev
    (moved,) = tmp_path.glob("replaced-*")  # they are kept, whole, out of the new run's way
    assert safe_load(moved / "ck.pt")["loss_history"] == earlier.loss_history
    assert sorted(p.name for p in moved.iterdir()) == ["ck.prev.pt", "ck.pt"]
    assert safe_load(path)["loss_history"] == fresh.loss_history
    fresh.num_epochs = 2
    fresh.train()  # the same run goes on: now its own epoch 1 is kept as .prev
    assert safe_load(prev_path(path))["loss_history"] == fresh.loss_history[:IPE]


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
    previous = digest(prev_path(path))
    damage(path)
    trainer = make_trainer(num_epochs=3, checkpoint_path=path)
    before = {k: v.clone() for k, v in trainer.model.params.items()}
    with pytest.raises(CheckpointError, match=rf"{pattern}.*ck\.prev\.pt is kept") as caught:
        trainer.train(resume=True)
    # the fields a caller words its own advice from: the file, the older one kept, the reason without advice
    assert caught.value.path == path and caught.value.previous == prev_path(path)
    assert "prev" not in caught.value.reason and str(path) in caught.value.reason
    assert all(torch.equal(trainer.model.params[k], v) for k, v in before.items())  # nothing half-restored
    assert digest(prev_path(path)) == previous
    trainer.train(resume=prev_path(path))  # the older checkpoint still works: epochs 2 and 3 run again
    assert trainer.epoch == 3 and len(trainer.loss_history) == 3 * IPE


def _edit_checkpoint(path: Path, edit) -> None:
    """Edit the saved state and record a matching checksum: each field is checked on its own."""
    state = safe_load(path)
    edit(state)
    state[CHECKSUM_KEY] = state_checksum(state)
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
