"""A Trainer's checkpoints: what they hold, how they are saved, and how a loaded one is checked and restored.

A checkpoint holds the run's :class:`~minifc.training.run_state.TrainingState` whole, the model's parameters
and buffers, the RNG states and the settings a resume is compared with. Everything is tensors and plain
values (``torch.load(weights_only=True)`` reads it). Each saved file records a checksum of its contents
(:mod:`minifc.training.integrity`); a loaded state is verified and checked whole
(:mod:`minifc.training.state_checks`) before anything is applied, so a bad file changes nothing.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..io.checkpoint import atomic_save, check_finite, safe_load
from ..io.set_aside import move_aside
from ..nn.modules import Module
from .integrity import CHECKSUM_KEY, state_checksum
from .precision import precision_name
from .run_state import Resumable, TrainingState
from .state_checks import CHECKPOINT_FORMAT, SCALAR_STATE, TENSOR_STATE, parse_state

__all__ = [
    "CHECKPOINT_FORMAT",
    "TENSOR_STATE",
    "SCALAR_STATE",
    "collect_state",
    "parse_state",
    "save_trainer_checkpoint",
    "load_trainer_checkpoint",
    "stored_run_config",
]


def _cpu(tensors: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in tensors.items()}


def collect_state(trainer: Resumable) -> dict[str, Any]:
    """Everything ``trainer`` needs to resume, on the CPU: its training state whole, under the keys minifc
    0.2.12 wrote (plus ``base_lr``)."""
    net = getattr(trainer.model, "net", None)
    saved = trainer.training_state.saved()
    return {
        "format": CHECKPOINT_FORMAT,
        "params": _cpu(trainer.model.params),
        "buffers": _cpu(dict(net.named_buffers())) if isinstance(net, Module) else {},
        **saved,
        "optim_configs": {k: _cpu(c) for k, c in saved["optim_configs"].items()},
        "best_params": _cpu(saved["best_params"]),
        "best_buffers": _cpu(saved["best_buffers"]),
        "transform_states": [_cpu(t) for t in saved["transform_states"]],
        "gradient_transforms": [] if trainer.transforms is None else trainer.transforms.specs,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "generator": trainer.generator.get_state(),
        },
        "update_rule": trainer.update_rule_name,
        "batch_size": trainer.batch_size,
        "num_threads": torch.get_num_threads(),
        "world_size": trainer.world_size,
        "precision": precision_name(getattr(trainer, "precision", None), trainer.model.params),
        "run_config": copy.deepcopy(trainer.run_config),
    }


def save_trainer_checkpoint(trainer: Resumable, path: Path) -> Path:
    """Write :meth:`state` atomically to ``path``, keeping the file it replaces as ``.prev``.

    ``path`` exists at every moment (old or new, never half-written). Refuses (CheckpointError)
    to write a state holding NaN or Inf, so a diverged run never overwrites a good checkpoint.
    The first save of a run that did not resume finds the files at ``checkpoint_path`` (and its
    ``.prev``) to be an earlier run's: they are moved into ``replaced-<time>/`` beside them, with a
    warning saying where (:func:`minifc.io.set_aside.move_aside`), never overwritten nor offered as this
    run's older checkpoint.
    """
    state = collect_state(trainer)
    check_finite({k: state[k] for k in TENSOR_STATE}, f"checkpoint {path}")
    state[CHECKSUM_KEY] = state_checksum(state)
    prev = _prev_path(path)
    own = trainer.checkpoint_path is not None and path == trainer.checkpoint_path
    fresh = own and not trainer.training_state.owns_checkpoint
    if fresh:
        _set_aside_earlier_run(path, prev)
    saved = atomic_save(state, path, keep_previous=None if fresh else prev)
    if own:
        trainer.training_state.owns_checkpoint = True
    return saved


def _set_aside_earlier_run(path: Path, prev: Path) -> None:
    """Move the checkpoint files of a run this Trainer did not resume out of its way, saying where."""
    if not (os.path.lexists(path) or os.path.lexists(prev)):
        return
    moved = move_aside(path.parent, (path.name, prev.name))
    warnings.warn(
        f"checkpoint_path {path} held the checkpoint of an earlier run, which this Trainer did not resume: "
        f"moved it into {moved} (to continue a run instead, call train(resume=True))",
        stacklevel=2,
    )


def load_trainer_checkpoint(trainer: Resumable, path: Path) -> tuple[TrainingState, dict[str, Any] | None]:
    """Restore what :func:`collect_state` saved into ``trainer``'s model (parameters, buffers) and RNG states;
    returns the training state to continue with, and the run configuration the file records (or None).

    The whole file is checked before anything changes: a missing, corrupt, unsafe or mismatched
    checkpoint, or one whose contents no longer match its checksum, raises :class:`CheckpointError`
    (naming the file and the ``.prev`` checkpoint to use) and leaves the Trainer as it was. A file
    without a checksum (written by an older minifc) loads with a warning.
    """
    prev = _prev_path(path)
    previous = prev if prev.is_file() else None
    try:
        restored = parse_state(trainer, safe_load(path))
    except CheckpointError as e:
        where = "" if str(path) in e.reason else f"{path}: "
        raise CheckpointError(f"{where}{e.reason}", path, previous) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
        why = f"{type(e).__name__}: {e}"
        raise CheckpointError(f"{path} is not a valid minifc Trainer checkpoint ({why})", path, previous) from None
    _warn_on_differences(trainer, path, restored)
    if not restored["verified"]:
        warnings.warn(
            f"{path} records no checksum (an older minifc wrote it): loaded without verifying its contents; "
            "the next save records one",
            stacklevel=3,
        )
    trainer.model.params = restored["params"]
    net = getattr(trainer.model, "net", None)
    if restored["buffers"] and isinstance(net, Module):
        net.load_state_dict(restored["buffers"], strict=False)
    rng = restored["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    trainer.generator.set_state(rng["generator"])
    # resumed from checkpoint_path or its .prev: the files there are this run's; resumed from another file,
    # they may be another run's, and the first save moves them aside
    own = trainer.checkpoint_path
    owns = own is not None and path.resolve() in (own.resolve(), _prev_path(own).resolve())
    base_lr = restored["base_lr"] or _older_base_lr(trainer, restored)
    return TrainingState.restored(restored, base_lr, owns), restored["run_config"]


def _older_base_lr(trainer: Resumable, restored: dict[str, Any]) -> dict[str, float]:
    """The base learning rates of a checkpoint that does not record them (minifc 0.2.12 and older): without a
    schedule, each saved rate undone by ``lr_decay ** epoch``; with one (which rewrites the rate every step), the
    Trainer's own."""
    decay = trainer.lr_decay ** restored["epoch"]
    if trainer.schedule is not None or decay == 0:
        return dict(trainer.training_state.base_lr)
    own = trainer.training_state.base_lr
    return {
        name: config["learning_rate"] / decay if _is_rate(config.get("learning_rate")) else own[name]
        for name, config in restored["optim_configs"].items()
    }


def _is_rate(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _warn_on_differences(trainer: Resumable, path: Path, restored: dict[str, Any]) -> None:
    """Resuming continues the saved run; say so where this Trainer was configured differently."""
    notes = []
    if restored["batch_size"] not in (None, trainer.batch_size):
        notes.append(f"batch_size {trainer.batch_size} (the run used {restored['batch_size']})")
    saved: dict[str, Any] = next(iter(restored["optim_configs"].values()), {})
    changed = sorted(k for k, v in trainer.optim_config.items() if k != "learning_rate" and saved.get(k, v) != v)
    if changed:
        notes.append(f"optim_config {changed} replaced by the checkpoint's values")
    if restored["transforms_changed"]:
        notes.append(f"gradient transform options of {restored['transforms_changed']} (this Trainer's are used)")
    if restored["num_threads"] not in (None, torch.get_num_threads()):
        notes.append(
            f"{torch.get_num_threads()} torch threads (the run used {restored['num_threads']}: results are "
            "not bit-identical)"
        )
    if restored["world_size"] != trainer.world_size:
        notes.append(
            f"another number of processes (the run used {restored['world_size']}): it continues from the last "
            "epoch with a different data order and random streams"
        )
    now = precision_name(getattr(trainer, "precision", None), trainer.model.params)
    if restored["precision"] not in (None, now):
        notes.append(f"precision {now} (the run used {restored['precision']}: the numbers change, the run goes on)")
    if notes:
        warnings.warn(f"resuming {path} with " + "; ".join(notes), stacklevel=3)


def _prev_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def stored_run_config(path: Path) -> dict[str, Any] | None:
    """The ``run_config`` a Trainer checkpoint holds (tensors mapped, not read), or None: none stored (an
    older file), or a file that cannot be read (loading it reports why)."""
    state = None
    for mmap in (True, False):  # a file system without mmap: read it whole
        try:
            state = safe_load(path, mmap=mmap)
            break
        except CheckpointError:
            continue
    found = state.get("run_config") if isinstance(state, dict) else None
    return found if isinstance(found, dict) and all(isinstance(k, str) for k in found) else None
