"""Trainer checkpoints record a checksum of their contents and are checked field by field on load: a flipped
bit in a weight, or a field of the wrong type, dtype, range or storage, is refused naming the file and the
key, before anything changes."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch
from small_runs import make_trainer, prev_path

from minifc.cli.commands.common import write_json
from minifc.errors import CheckpointError
from minifc.io.checkpoint import safe_load
from minifc.training.integrity import CHECKSUM_KEY, state_checksum


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """ck.pt after epoch 2 (ck.prev.pt after epoch 1), momentum state included."""
    path = tmp_path / "ck.pt"
    make_trainer(num_epochs=2, checkpoint_path=path, update_rule="sgd_momentum").train()
    return path


def _fresh():
    trainer = make_trainer(num_epochs=3, update_rule="sgd_momentum")
    return trainer, {k: v.clone() for k, v in trainer.model.params.items()}, torch.get_rng_state()


def _untouched(trainer, params: dict, rng: torch.Tensor) -> bool:
    same = all(torch.equal(trainer.model.params[k], v) for k, v in params.items())
    return same and trainer.epoch == 0 and trainer.loss_history == [] and torch.equal(rng, torch.get_rng_state())


def test_the_checksum_covers_the_saved_state(saved: Path) -> None:
    state = safe_load(saved)
    assert state[CHECKSUM_KEY] == state_checksum(state) and state[CHECKSUM_KEY].startswith("sha256:")


def test_a_single_flipped_bit_in_a_weight_is_refused_naming_the_file(saved: Path) -> None:
    w1 = safe_load(saved)["params"]["W1"]
    data = bytearray(saved.read_bytes())
    raw = bytes(w1.contiguous().view(torch.uint8).reshape(-1).tolist())  # no numpy: the core env has none
    at = data.find(raw)  # the zip stores the tensor's bytes uncompressed under data/
    assert at > 0 and data.find(raw, at + 1) == -1
    data[at + 4 * 7] ^= 0x01  # the lowest mantissa bit of W1[0, 7]: still a finite, plausible weight
    saved.write_bytes(bytes(data))
    flipped = torch.load(saved, weights_only=True)["params"]["W1"]  # torch.load itself does not notice
    assert not torch.equal(flipped, w1) and torch.isfinite(flipped).all()
    trainer, params, rng = _fresh()
    with pytest.raises(CheckpointError, match=r"ck\.pt: its contents do not match the checksum.*ck\.prev\.pt is kept"):
        trainer.load_checkpoint(saved)
    assert _untouched(trainer, params, rng)
    trainer.load_checkpoint(prev_path(saved))  # the older checkpoint still loads
    assert trainer.epoch == 1


def _retyped(dtype: torch.dtype):
    def edit(s: dict) -> None:
        s["params"]["W1"] = (s["params"]["W1"] * 1000).to(dtype)

    return edit


def _lr(value: float):
    return lambda s: s["optim_configs"]["W1"].update(learning_rate=value)


BAD_FIELDS = {
    "int64 params": (_retyped(torch.int64), r"params\['W1'\] has dtype torch.int64"),
    "bool params": (_retyped(torch.bool), r"params\['W1'\] has dtype torch.bool"),
    "complex params": (_retyped(torch.complex64), r"params\['W1'\] has dtype torch.complex64"),
    "meta params": (lambda s: s["params"].update(W2=s["params"]["W2"].to("meta")), r"params\['W2'\] is on the meta"),
    "sparse params": (lambda s: s["params"].update(W2=s["params"]["W2"].to_sparse()), r"params\['W2'\] is a torch"),
    "lr nan": (_lr(math.nan), r"optim_configs\['W1'\]: learning_rate must be a finite number"),
    "lr -5": (_lr(-5.0), r"optim_configs\['W1'\]: learning_rate must be a finite number >= 0, got -5"),
    "lr 1e300": (_lr(1e300), r"optim_configs\['W1'\]: learning_rate must be >= 0 and fit in torch.float32"),
    "momentum 2": (lambda s: s["optim_configs"]["b1"].update(momentum=2.0), r"optim_configs\['b1'\]: momentum"),
    "int velocity": (lambda s: s["optim_configs"]["W1"].update(velocity=torch.zeros(5, 8, dtype=torch.int64)),
                     r"optim_configs\['W1'\]\['velocity'\] has dtype torch.int64"),
    "best_val_acc inf": (lambda s: s.update(best_val_acc=math.inf), "best_val_acc must be a finite number in"),
    "best_val_acc nan": (lambda s: s.update(best_val_acc=math.nan), "best_val_acc must be a finite number in"),
    "best_val_acc 5": (lambda s: s.update(best_val_acc=5.0), r"best_val_acc must be a finite number in \[0, 1\]"),
    "elapsed nan": (lambda s: s.update(elapsed=math.nan), "elapsed must be a finite number >= 0"),
    "elapsed -1e9": (lambda s: s.update(elapsed=-1e9), "elapsed must be a finite number >= 0"),
    "val acc 2": (lambda s: s["val_acc_history"].append(2.0), "val_acc_history must be a list of finite numbers"),
    "rng torch": (lambda s: s["rng"]["torch"].zero_(), r"rng\['torch'\] is not a state torch accepts"),
    "rng generator": (lambda s: s["rng"]["generator"].fill_(255), r"rng\['generator'\] is not a state torch accepts"),
    "world_size": (lambda s: s.update(world_size=0), "world_size must be an integer >= 1"),
    "run_config": (lambda s: s.update(run_config={"lr": math.nan}), r"run_config\['lr'\] must hold plain values"),
}


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_a_bad_field_is_refused_naming_its_key_and_nothing_changes(saved: Path, case: str) -> None:
    edit, pattern = BAD_FIELDS[case]
    state = safe_load(saved)
    edit(state)
    if "meta" in case or "sparse" in case:  # no bytes to hash: as an older file without a checksum
        del state[CHECKSUM_KEY]
    else:  # a consistent file: the field itself must be refused
        state[CHECKSUM_KEY] = state_checksum(state)
    torch.save(state, saved)
    trainer, params, rng = _fresh()
    with pytest.raises(CheckpointError, match=rf"ck\.pt: .*{pattern}"):
        trainer.load_checkpoint(saved)
    assert _untouched(trainer, params, rng)


def test_a_malformed_checksum_entry_is_refused(saved: Path) -> None:
    state = safe_load(saved)
    state[CHECKSUM_KEY] = "md5:1234"
    torch.save(state, saved)
    trainer, params, rng = _fresh()
    with pytest.raises(CheckpointError, match=r"ck\.pt: its 'checksum' entry is not a 'sha256:"):
        trainer.load_checkpoint(saved)
    assert _untouched(trainer, params, rng)


def test_a_checkpoint_without_a_checksum_still_resumes_with_a_warning(saved: Path) -> None:
    state = safe_load(saved)
    del state[CHECKSUM_KEY]  # as an older minifc wrote it
    torch.save(state, saved)
    trainer, _, _ = _fresh()
    with pytest.warns(UserWarning, match=r"ck\.pt records no checksum .*loaded without verifying"):
        trainer.load_checkpoint(saved)
    assert trainer.epoch == 2
    trainer.save_checkpoint(saved)  # its next save records one
    assert safe_load(saved)[CHECKSUM_KEY].startswith("sha256:")


def test_a_bias_saved_as_a_view_of_its_weight_does_not_share_memory_after_load(saved: Path) -> None:
    state = safe_load(saved)
    state["params"]["b1"] = state["params"]["W1"][0]  # W1 is (5, 8), b1 (8,)
    state[CHECKSUM_KEY] = state_checksum(state)
    torch.save(state, saved)
    trainer, _, _ = _fresh()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.load_checkpoint(saved)
    w1, b1 = trainer.model.params["W1"], trainer.model.params["b1"]
    assert torch.equal(b1, w1[0])
    w1.add_(1.0)
    assert not torch.equal(b1, w1[0])


def test_json_files_are_always_valid_json(tmp_path: Path) -> None:
    write_json(tmp_path / "r.json", {"test_acc": math.nan, "seconds": math.inf, "h": [1.0, -math.inf]})

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    assert json.loads((tmp_path / "r.json").read_text(), parse_constant=refuse) == {
        "test_acc": None, "seconds": None, "h": [1.0, None]
    }
