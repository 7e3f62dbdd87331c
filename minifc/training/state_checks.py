"""Checks of a loaded Trainer checkpoint, field by field, before anything is applied.

Each field's type, dtype, range and storage is checked; a bad one raises :class:`CheckpointError` naming
its key. Parameters must be floating-point (an int64, bool or complex one is refused, not cast), the
optimizer's hyper-parameters finite, in their rule's range and representable in the parameters' dtype,
accuracies in [0, 1], RNG states ones torch accepts (tried on scratch generators). The values returned
are new tensors on the model's device: none shares memory with another.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..errors import CheckpointError
from ..io.checkpoint import non_finite
from ..nn.modules import Module
from ..optim.rule import check_config
from .integrity import verify_checksum
from .run_state import SAVED_FIELDS, Resumable
from .transform_checks import changed_options, check_transform_state

__all__ = ["CHECKPOINT_FORMAT", "TENSOR_STATE", "SCALAR_STATE", "STATE_KEYS", "FLOAT_DTYPES", "parse_state"]

CHECKPOINT_FORMAT = "minifc-trainer-1"
TENSOR_STATE = ("params", "buffers", "optim_configs", "best_params", "best_buffers")
# plain values restored as the TrainingState fields of the same name
SCALAR_STATE = SAVED_FIELDS
STATE_KEYS = {*TENSOR_STATE, *SCALAR_STATE, "format", "rng", "update_rule"}
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def parse_state(trainer: Resumable, state: Any) -> dict[str, Any]:
    """Check a loaded checkpoint against ``trainer``; its values as new tensors on the model's device and dtype.

    The checksum (when the file has one) is verified first, then every field.
    """
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"not a minifc Trainer checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})")
    verified = verify_checksum(state)
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
    configs = _check_configs(state["optim_configs"], own, trainer.update_rule, dtype)
    bad = non_finite({"params": params, "best_params": best, "buffers": buffers, "optim_configs": configs})
    if bad:
        raise CheckpointError(f"it holds NaN or Inf in {', '.join(bad)}")
    out: dict[str, Any] = {
        "params": _moved(params, "params", device, dtype),
        "best_params": _moved(best, "best_params", device, dtype),
        "buffers": _moved(buffers, "buffers", None, None),
        "best_buffers": _moved(best_buffers, "best_buffers", device, None),
        "optim_configs": {
            k: {key: v.to(device, copy=True) if isinstance(v, torch.Tensor) else v for key, v in c.items()}
            for k, c in configs.items()
        },
    }
    out.update(_check_scalars(state))
    out["rng"] = _check_rng(state["rng"], trainer.generator)
    for key, default in (("batch_size", None), ("num_threads", None), ("world_size", 1)):
        value = state.get(key, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise CheckpointError(f"{key} must be an integer >= 1, got {value!r:.80}")
        out[key] = value
    precision = state.get("precision")
    if precision is not None and not isinstance(precision, str):
        raise CheckpointError(f"precision must be a string, got {precision!r:.80}")
    out["precision"] = precision
    out["run_config"] = _check_plain(state.get("run_config"), "run_config")
    out["base_lr"] = _check_base_lr(state.get("base_lr"), own, dtype)
    out.update(check_transform_state(trainer.transforms, out["params"], state))
    out["transforms_changed"] = changed_options(trainer.transforms, state)
    out["verified"] = verified
    return out


def _check_base_lr(found: Any, own: Mapping[str, torch.Tensor], dtype: torch.dtype) -> dict[str, float] | None:
    """None (a file written before checkpoints recorded it) or one base learning rate per parameter: a
    finite number >= 0 that fits in ``dtype``."""
    if found is None:
        return None
    if not isinstance(found, dict) or set(found) != set(own):
        raise CheckpointError(f"base_lr must hold one learning rate per parameter ({sorted(own)})")
    largest = torch.finfo(dtype).max
    for name, value in found.items():
        if not _number(value) or not 0 <= value <= largest:
            raise CheckpointError(
                f"base_lr[{name!r}] must be a finite number >= 0 that fits in {dtype}, got {value!r:.80}"
            )
    return {name: float(value) for name, value in found.items()}


def _check_plain(value: Any, where: str, depth: int = 0) -> Any:
    """None or a dict of JSON values (str keys; finite numbers); a copy of it."""
    if depth == 0 and value is None:
        return None
    if depth == 0 and not isinstance(value, dict):
        raise CheckpointError(f"{where} must be a dict of plain values, got {type(value).__name__}")
    if depth > 20:
        raise CheckpointError(f"{where} is nested too deeply")
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise CheckpointError(f"{where} must have string keys")
        return {k: _check_plain(v, f"{where}[{k!r}]", depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_check_plain(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise CheckpointError(f"{where} must hold plain values (JSON types), got {value!r:.80}")


def _check_tensors(found: Any, own: Mapping[str, torch.Tensor], what: str, allow_empty: bool) -> dict:
    """``found`` must map the names in ``own`` to dense tensors of the same shapes (or be empty), floating-point
    where ``own``'s are (never cast from integers, bool or complex), else of ``own``'s dtype."""
    if not isinstance(found, dict) or not all(isinstance(v, torch.Tensor) for v in found.values()):
        raise CheckpointError(f"{what} must be a dict of tensors")
    if allow_empty and not found:
        return found
    if set(found) != set(own):
        raise CheckpointError(f"{what} holds {sorted(found, key=repr)} but the model has {sorted(own)}")
    for name, t in found.items():
        _check_storage(t, f"{what}[{name!r}]")
        if t.shape != own[name].shape:
            raise CheckpointError(
                f"{what}[{name!r}] has shape {tuple(t.shape)} but the model's has {tuple(own[name].shape)} "
                f"(a checkpoint of another model?)"
            )
        floating = own[name].dtype in FLOAT_DTYPES
        if (t.dtype not in FLOAT_DTYPES) if floating else (t.dtype != own[name].dtype):
            want = "a floating-point dtype" if floating else str(own[name].dtype)
            raise CheckpointError(f"{what}[{name!r}] has dtype {t.dtype}; it must have {want} (it is not cast)")
    return found


def _check_storage(t: torch.Tensor, where: str) -> None:
    if t.layout != torch.strided:
        raise CheckpointError(f"{where} is a {t.layout} tensor; a checkpoint holds dense tensors")
    if t.device.type == "meta":
        raise CheckpointError(f"{where} is on the meta device: it holds a shape but no values")


def _moved(
    tensors: dict[str, torch.Tensor], what: str, device: torch.device | None, dtype: torch.dtype | None
) -> dict[str, torch.Tensor]:
    """New tensors (a bias saved as a view of its weight no longer shares its memory); CheckpointError when a
    value overflows ``dtype`` (a float64 1e300 resumed in float32)."""
    out = {k: v.to(device=device or v.device, dtype=dtype or v.dtype, copy=True) for k, v in tensors.items()}
    bad = non_finite({what: out})
    if bad:
        raise CheckpointError(f"{', '.join(bad)} do not fit in {dtype} (values overflow to Inf)")
    return out


def _check_configs(configs: Any, own: Mapping[str, torch.Tensor], rule: Callable[..., Any], dtype: torch.dtype) -> dict:
    """One dict per parameter: hyper-parameters valid for ``rule``, state tensors shaped like their parameter
    (or scalars), state numbers finite and >= 0."""
    state_keys = tuple(getattr(rule, "state_keys", ()))
    dicts = isinstance(configs, dict) and all(isinstance(c, dict) for c in configs.values())
    if not dicts or set(configs) != set(own):
        raise CheckpointError(f"optim_configs must hold one dict per parameter ({sorted(own)})")
    declared = hasattr(rule, "defaults")  # a plain function rule declares neither hyper-parameters nor state
    largest = torch.finfo(dtype).max
    for name, config in configs.items():
        where = f"optim_configs[{name!r}]"
        hyper = {}
        for key, value in config.items():
            if key in state_keys or (not declared and isinstance(value, torch.Tensor)):
                _check_state_value(value, f"{where}[{key!r}]", own[name])
            elif declared or _number(value) or key == "learning_rate":
                hyper[key] = value
        try:
            check_config(rule, hyper, where)
        except ValueError as e:
            raise CheckpointError(str(e)) from None
        for key, value in hyper.items():
            if not _number(value):
                raise CheckpointError(f"{where}: {key} must be a finite number, got {value!r:.80}")
            if abs(value) > largest or (key == "learning_rate" and value < 0):
                raise CheckpointError(f"{where}: {key} must be >= 0 and fit in {dtype}, got {value!r}")
    return configs


def _check_state_value(value: Any, where: str, param: torch.Tensor) -> None:
    if value is None:
        return
    if isinstance(value, torch.Tensor):
        _check_storage(value, where)
        if value.dim() and value.shape != param.shape:
            raise CheckpointError(f"{where} has shape {tuple(value.shape)} but the parameter has {tuple(param.shape)}")
        if value.dim() and value.dtype not in FLOAT_DTYPES:
            raise CheckpointError(f"{where} has dtype {value.dtype}; optimizer state must be floating-point")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise CheckpointError(f"{where} must be a tensor or a finite number >= 0, got {value!r:.80}")


def _check_scalars(state: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("epoch", "step_count"):
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CheckpointError(f"{key} must be an integer >= 0, got {value!r:.80}")
        out[key] = value
    for key, low, high in (("best_val_acc", 0.0, 1.0), ("elapsed", 0.0, math.inf)):
        value = state[key]
        if not _number(value) or not low <= value <= high:
            where = "in [0, 1]" if high == 1.0 else ">= 0"
            raise CheckpointError(f"{key} must be a finite number {where}, got {value!r:.80}")
        out[key] = float(value)
    ranges = {"loss_history": (-math.inf, math.inf), "train_acc_history": (0, 1), "val_acc_history": (0, 1)}
    for key, (low, high) in ranges.items():
        values = state[key]
        if not isinstance(values, list) or not all(_number(v) and low <= v <= high for v in values):
            where = "" if key == "loss_history" else " in [0, 1]"
            raise CheckpointError(f"{key} must be a list of finite numbers{where}")
        out[key] = list(values)
    lrs = state["lr_history"]  # NaN: a rule without a learning rate
    if not isinstance(lrs, list) or not all(_number(v, nan=True) and not v < 0 for v in lrs):
        raise CheckpointError("lr_history must be a list of finite numbers >= 0")
    out["lr_history"] = list(lrs)
    if len(out["train_acc_history"]) != len(out["val_acc_history"]):
        raise CheckpointError("train_acc_history and val_acc_history must have one entry per epoch each")
    return out


def _number(value: Any, nan: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) or (nan and math.isnan(value))


def _check_rng(rng: Any, generator: torch.Generator) -> dict[str, Any]:
    """The RNG states, each tried on a scratch generator of its kind: one torch rejects is refused here,
    before anything is applied."""
    ok = (
        isinstance(rng, dict)
        and all(isinstance(rng.get(k), torch.Tensor) and rng[k].dtype == torch.uint8 for k in ("torch", "generator"))
        and isinstance(rng.get("cuda"), list)
        and all(isinstance(s, torch.Tensor) and s.dtype == torch.uint8 for s in rng["cuda"])
    )
    if not ok:
        raise CheckpointError("rng must hold the torch, cuda and generator states (uint8 tensors)")
    for key, like in (("torch", torch.get_rng_state()), ("generator", generator.get_state())):
        _check_storage(rng[key], f"rng[{key!r}]")
        if rng[key].shape != like.shape:
            raise CheckpointError(f"rng[{key!r}] has {rng[key].numel()} bytes; a torch RNG state has {like.numel()}")
        _try_state(torch.Generator(device=generator.device), rng[key], f"rng[{key!r}]")
    if rng["cuda"] and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if len(rng["cuda"]) > count:
            raise CheckpointError(f"rng['cuda'] holds {len(rng['cuda'])} CUDA states but this machine has {count} GPUs")
        for i, s in enumerate(rng["cuda"]):
            _check_storage(s, f"rng['cuda'][{i}]")
            _try_state(torch.Generator(device=f"cuda:{i}"), s, f"rng['cuda'][{i}]")
    return rng


def _try_state(scratch: torch.Generator, state: torch.Tensor, where: str) -> None:
    try:
        scratch.set_state(state.cpu())
    except (RuntimeError, ValueError, TypeError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{where} is not a state torch accepts ({reason})") from None
