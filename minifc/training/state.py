"""A Trainer's resumable state: what its checkpoints hold, and how a loaded one is checked.

Everything is tensors and plain values (``torch.load(weights_only=True)`` reads it). A loaded state
is checked whole (shapes, finiteness, optimizer-state tensors, RNG state sizes) before anything is
applied, so a bad file changes nothing.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import atomic_save, check_finite, non_finite, safe_load
from ..errors import CheckpointError
from ..nn import Module
from ..set_aside import move_aside

__all__ = [
    "CHECKPOINT_FORMAT",
    "TENSOR_STATE",
    "SCALAR_STATE",
    "collect_state",
    "parse_state",
    "save_trainer_checkpoint",
    "load_trainer_checkpoint",
]

CHECKPOINT_FORMAT = "minifc-trainer-1"
TENSOR_STATE = ("params", "buffers", "optim_configs", "best_params", "best_buffers")
# plain values restored as Trainer attributes of the same name
SCALAR_STATE = (
    "epoch",
    "step_count",
    "best_val_acc",
    "loss_history",
    "train_acc_history",
    "val_acc_history",
    "lr_history",
    "elapsed",
)
STATE_KEYS = {*TENSOR_STATE, *SCALAR_STATE, "format", "rng", "update_rule"}


def _cpu(tensors: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in tensors.items()}


def collect_state(trainer: Any) -> dict[str, Any]:
    """Everything ``trainer`` needs to resume, on the CPU."""
    net = getattr(trainer.model, "net", None)
    return {
        "format": CHECKPOINT_FORMAT,
        "params": _cpu(trainer.model.params),
        "buffers": _cpu(dict(net.named_buffers())) if isinstance(net, Module) else {},
        "optim_configs": {k: _cpu(c) for k, c in trainer.optim_configs.items()},
        "best_params": _cpu(trainer.best_params),
        "best_buffers": _cpu(trainer.best_buffers),
        **{key: _copy(getattr(trainer, key)) for key in SCALAR_STATE},
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "generator": trainer.generator.get_state(),
        },
        "update_rule": trainer.update_rule_name,
        "batch_size": trainer.batch_size,
        "num_threads": torch.get_num_threads(),
        "world_size": 1 if trainer.parallel is None else trainer.parallel.world_size,
    }


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def parse_state(trainer: Any, state: Any) -> dict[str, Any]:
    """Check a loaded checkpoint against ``trainer``; its values on the model's device and dtype."""
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"not a minifc Trainer checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})")
    missing = sorted(STATE_KEYS - set(state))
    if missing:
        raise CheckpointError(f"incomplete checkpoint: it lacks {', '.join(missing)}")
    if state["update_rule"] != trainer.update_rule_name:
        raise CheckpointError(
            f"it was written with update rule {state['update_rule']!r} but this Trainer uses "
            f"{trainer.update_rule_name!r}: the optimizer state would not fit"
        )
    own = dict(trainer.model.params)
    device = trainer.data["X_train"].device
    dtype = next(iter(own.values())).dtype
    params = _check_tensors(state["params"], own, "params", allow_empty=False)
    best = _check_tensors(state["best_params"], own, "best_params", allow_empty=True)
    net = getattr(trainer.model, "net", None)
    own_buffers = dict(net.named_buffers()) if isinstance(net, Module) else {}
    buffers = _check_tensors(state["buffers"], own_buffers, "buffers", allow_empty=True)
    best_buffers = _check_tensors(state["best_buffers"], own_buffers, "best_buffers", allow_empty=True)
    configs = _check_configs(state["optim_configs"], own, getattr(trainer.update_rule, "state_keys", ()))
    bad = non_finite({"params": params, "best_params": best, "buffers": buffers, "optim_configs": configs})
    if bad:
        raise CheckpointError(f"it holds NaN or Inf in {', '.join(bad)}")
    out: dict[str, Any] = {
        "params": {k: v.to(device, dtype) for k, v in params.items()},
        "best_params": {k: v.to(device, dtype) for k, v in best.items()},
        "buffers": buffers,
        "best_buffers": {k: v.to(device) for k, v in best_buffers.items()},
        "optim_configs": {
            k: {key: v.to(device) if isinstance(v, torch.Tensor) else v for key, v in c.items()}
            for k, c in configs.items()
        },
    }
    for key in ("epoch", "step_count"):
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CheckpointError(f"{key} must be an integer >= 0, got {value!r}")
        out[key] = value
    for key in ("best_val_acc", "elapsed"):
        if isinstance(state[key], bool) or not isinstance(state[key], (int, float)):
            raise CheckpointError(f"{key} must be a number, got {state[key]!r}")
        out[key] = float(state[key])
    for key in ("loss_history", "train_acc_history", "val_acc_history", "lr_history"):
        values = state[key]
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) for v in values):
            raise CheckpointError(f"{key} must be a list of numbers")
        out[key] = list(values)
    out["rng"] = _check_rng(state["rng"], trainer.generator)
    out["batch_size"] = state.get("batch_size")
    out["num_threads"] = state.get("num_threads")
    out["world_size"] = state.get("world_size", 1)
    return out


def _check_tensors(found: Any, own: Mapping[str, torch.Tensor], what: str, allow_empty: bool) -> dict:
    """``found`` must map the names in ``own`` to tensors of the same shapes (or be empty)."""
    if not isinstance(found, dict) or not all(isinstance(v, torch.Tensor) for v in found.values()):
        raise CheckpointError(f"{what} must be a dict of tensors")
    if allow_empty and not found:
        return found
    if set(found) != set(own):
        raise CheckpointError(f"{what} holds {sorted(found)} but the model has {sorted(own)}")
    for name, t in found.items():
        if t.shape != own[name].shape:
            raise CheckpointError(
                f"{what}[{name!r}] has shape {tuple(t.shape)} but the model's has {tuple(own[name].shape)} "
                f"(a checkpoint of another model?)"
            )
    return found


def _check_configs(configs: Any, own: Mapping[str, torch.Tensor], state_keys: tuple[str, ...]) -> dict:
    """One dict per parameter; each state tensor shaped like its parameter (or a scalar)."""
    dicts = isinstance(configs, dict) and all(isinstance(c, dict) for c in configs.values())
    if not dicts or set(configs) != set(own):
        raise CheckpointError(f"optim_configs must hold one dict per parameter ({sorted(own)})")
    for name, config in configs.items():
        for key, value in config.items():
            if isinstance(value, torch.Tensor) and value.dim() and value.shape != own[name].shape:
                raise CheckpointError(
                    f"optim_configs[{name!r}][{key!r}] has shape {tuple(value.shape)} but the parameter has "
                    f"{tuple(own[name].shape)}"
                )
            if key in state_keys and value is not None and not isinstance(value, (torch.Tensor, int, float)):
                raise CheckpointError(f"optim_configs[{name!r}][{key!r}] must be a tensor or a number")
    return configs


def _check_rng(rng: Any, generator: torch.Generator) -> dict[str, Any]:
    ok = (
        isinstance(rng, dict)
        and all(isinstance(rng.get(k), torch.Tensor) and rng[k].dtype == torch.uint8 for k in ("torch", "generator"))
        and isinstance(rng.get("cuda"), list)
    )
    if not ok:
        raise CheckpointError("rng must hold the torch, cuda and generator states (uint8 tensors)")
    for key, like in (("torch", torch.get_rng_state()), ("generator", generator.get_state())):
        if rng[key].shape != like.shape:
            raise CheckpointError(f"rng[{key!r}] has {rng[key].numel()} bytes; a torch RNG state has {like.numel()}")
    return rng


def save_trainer_checkpoint(trainer: Any, path: Path) -> Path:
    """Write :meth:`state` atomically to ``path``, keeping the file it replaces as ``.prev``.

    ``path`` exists at every moment (old or new, never half-written). Refuses (CheckpointError)
    to write a state holding NaN or Inf, so a diverged run never overwrites a good checkpoint.
    The first save of a run that did not resume finds the files at ``checkpoint_path`` (and its
    ``.prev``) to be an earlier run's: they are moved into ``replaced-<time>/`` beside them, with a
    warning saying where (:func:`minifc.set_aside.move_aside`), never overwritten nor offered as this
    run's older checkpoint.
    """
    state = trainer.state()
    check_finite({k: state[k] for k in TENSOR_STATE}, f"checkpoint {path}")
    prev = _prev_path(path)
    fresh = trainer.checkpoint_path is not None and path == trainer.checkpoint_path and not trainer._owns_checkpoint
    if fresh:
        _set_aside_earlier_run(path, prev)
    saved = atomic_save(state, path, keep_previous=None if fresh else prev)
    if trainer.checkpoint_path is not None and path == trainer.checkpoint_path:
        trainer._owns_checkpoint = True
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


def load_trainer_checkpoint(trainer: Any, path: Path) -> None:
    """Restore everything :meth:`state` saved; training continues where it stopped.

    The whole file is checked before anything changes: a missing, corrupt, unsafe or mismatched
    checkpoint raises :class:`CheckpointError` (naming the file) and leaves the Trainer as it was.
    """
    prev = _prev_path(path)
    hint = f"; the older checkpoint {prev} is kept: resume from it (resume='{prev}', or rename it to {path.name})"
    hint = hint if prev.is_file() else ""
    try:
        restored = parse_state(trainer, safe_load(path))
    except CheckpointError as e:
        where = "" if str(path) in str(e) else f"{path}: "
        raise CheckpointError(f"{where}{e}{hint}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
        why = f"{type(e).__name__}: {e}"
        raise CheckpointError(f"{path} is not a valid minifc Trainer checkpoint ({why}){hint}") from None
    _warn_on_differences(trainer, path, restored)
    trainer.model.params = restored["params"]
    net = getattr(trainer.model, "net", None)
    if restored["buffers"] and isinstance(net, Module):
        net.load_state_dict(restored["buffers"], strict=False)
    trainer.optim_configs = restored["optim_configs"]
    trainer.best_params = restored["best_params"]
    trainer.best_buffers = restored["best_buffers"]
    for key in SCALAR_STATE:
        setattr(trainer, key, restored[key])
    rng = restored["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    trainer.generator.set_state(rng["generator"])
    trainer.sampler.reset()
    trainer._validated = False
    # resumed from checkpoint_path or its .prev: the files there are this run's; resumed from another file,
    # they may be another run's, and the first save moves them aside
    own = trainer.checkpoint_path
    trainer._owns_checkpoint = own is not None and path.resolve() in (own.resolve(), _prev_path(own).resolve())


def _warn_on_differences(trainer: Any, path: Path, restored: dict[str, Any]) -> None:
    """Resuming continues the saved run; say so where this Trainer was configured differently."""
    notes = []
    if restored["batch_size"] not in (None, trainer.batch_size):
        notes.append(f"batch_size {trainer.batch_size} (the run used {restored['batch_size']})")
    saved = next(iter(restored["optim_configs"].values()), {})
    changed = sorted(k for k, v in trainer.optim_config.items() if k != "learning_rate" and saved.get(k, v) != v)
    if changed:
        notes.append(f"optim_config {changed} replaced by the checkpoint's values")
    if restored["num_threads"] not in (None, torch.get_num_threads()):
        notes.append(
            f"{torch.get_num_threads()} torch threads (the run used {restored['num_threads']}: results are "
            "not bit-identical)"
        )
    if restored["world_size"] != (1 if trainer.parallel is None else trainer.parallel.world_size):
        notes.append(
            f"another number of processes (the run used {restored['world_size']}): it continues from the last "
            "epoch with a different data order and random streams"
        )
    if notes:
        warnings.warn(f"resuming {path} with " + "; ".join(notes), stacklevel=3)


def _prev_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.prev{path.suffix}")
