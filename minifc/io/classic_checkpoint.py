"""The classic models' checkpoint files: what ``save`` writes and what ``load`` accepts.

A file is a dict of plain values and tensors (loadable with ``torch.load(weights_only=True)``). The
course's own format is ``{'reg', 'params'}``, and for FullyConnectedNet also ``dtype``, ``num_layers``,
``use_dropout`` and ``dropout_param``; minifc writes those keys plus ``model`` and ``config`` (the
constructor's arguments), and reads files with or without them. The layer sizes come from the
shapes of the weights, so a course file needs nothing else.
"""

from __future__ import annotations

import math
import os
from typing import Any, TypeGuard

import torch

from ..device import resolve_device
from ..errors import CheckpointError
from .checkpoint import non_finite, safe_load

__all__ = ["read_classic_checkpoint", "load_target", "converted_params", "FLOAT_DTYPES"]

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.manual_seed takes


def load_target(dtype: Any, device: Any, who: str) -> tuple[torch.dtype | None, torch.device]:
    """Check ``load``'s ``dtype`` (None: the file's) and ``device`` arguments before the file is read.

    Raises ValueError naming ``who`` and the argument: a device that does not exist here (``'cuda'``
    without CUDA, ``'cuda:7'`` on a one-GPU machine, ``'tpu'``, ``'meta'``), a dtype that is not a
    floating-point torch dtype.
    """
    try:
        target = resolve_device(device)
    except ValueError as e:
        raise ValueError(f"{who}: {e}; the model is unchanged") from None
    if dtype is None:
        return None, target
    found = dtype if isinstance(dtype, torch.dtype) else getattr(torch, str(dtype).removeprefix("torch."), None)
    if found not in FLOAT_DTYPES:
        names = ", ".join(str(d).removeprefix("torch.") for d in FLOAT_DTYPES)
        raise ValueError(f"{who}: dtype must be a floating-point dtype ({names}), got {dtype!r}")
    return found, target


def read_classic_checkpoint(path: str | os.PathLike, model: str) -> dict[str, Any]:
    """Read and check a classic checkpoint of ``model`` ("TwoLayerNet" or "FullyConnectedNet").

    Returns ``{"params", "reg", "dtype" (or None), "dims" (input, hidden..., classes), "config",
    "dropout_param"}``. Raises :class:`CheckpointError` naming the file for anything that does not fit;
    nothing is changed by reading.
    """
    state = safe_load(path)
    try:
        return _parse(state, model)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None


def converted_params(
    checkpoint: dict[str, Any], path: str | os.PathLike, dtype: torch.dtype, device: torch.device
) -> dict[str, torch.Tensor]:
    """The checkpoint's params as new tensors (none sharing memory with another) in ``dtype`` on ``device``.

    Raises CheckpointError naming the file when a value overflows ``dtype`` (float64 1e300 to float32).
    """
    params = {k: v.to(device=device, dtype=dtype, copy=True).contiguous() for k, v in checkpoint["params"].items()}
    overflow = non_finite(params)
    if overflow:
        raise CheckpointError(f"{path}: {', '.join(overflow)} do not fit in {dtype} (values overflow to Inf)")
    return params


def _parse(state: Any, model: str) -> dict[str, Any]:
    if not isinstance(state, dict) or not isinstance(state.get("params"), dict):
        raise CheckpointError("not a model checkpoint: expected a dict with a 'params' dict of tensors")
    written_by = state.get("model")
    if written_by is not None and written_by != model:
        raise CheckpointError(f"it holds a {written_by}, not a {model}")
    params = state["params"]
    _check_param_values(params)
    num_layers = sum(1 for k in params if k.startswith("W"))
    if model == "TwoLayerNet" and num_layers != 2:
        raise CheckpointError(f"a TwoLayerNet has W1, b1, W2, b2; the file has {sorted(params)}")
    expected = {f"{p}{i}" for i in range(1, num_layers + 1) for p in "Wb"}
    if num_layers == 0 or set(params) != expected:
        raise CheckpointError(f"params must be W1, b1, ..., WL, bL; the file has {sorted(params)}")
    if state.get("num_layers", num_layers) != num_layers:
        raise CheckpointError(f"num_layers is {state['num_layers']!r} but params hold {num_layers} layers")
    dims = _dims(params, num_layers)
    bad = non_finite(params)
    if bad:
        raise CheckpointError(f"it holds NaN or Inf in {', '.join(bad)}")
    reg = state.get("reg", 0.0)
    if isinstance(reg, torch.Tensor) and reg.numel() == 1 and reg.device.type != "meta":
        reg = reg.item()
    if not _number(reg) or reg < 0:
        raise CheckpointError(f"reg must be a finite number >= 0, got {reg!r}")
    config = state.get("config", {})
    if not isinstance(config, dict):
        raise CheckpointError(f"config must be a dict, got {type(config).__name__}")
    scale = config.get("weight_scale")
    if scale is not None and (not _number(scale) or scale < 0):
        raise CheckpointError(f"config['weight_scale'] must be a finite number >= 0 (or None), got {scale!r}")
    use_dropout = state.get("use_dropout")
    if use_dropout is not None and not isinstance(use_dropout, bool):
        raise CheckpointError(f"use_dropout must be True or False, got {use_dropout!r}")
    dropout_param = _dropout_param(state.get("dropout_param", {}))
    return {
        "params": params,
        "reg": float(reg),
        "dtype": _dtype(state.get("dtype")),
        "dims": dims,
        "config": config,
        "dropout_param": dropout_param if (bool(dropout_param) if use_dropout is None else use_dropout) else {},
    }


def _number(value: Any) -> TypeGuard[float]:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_param_values(params: dict) -> None:
    """Every key a string, every value a dense floating-point tensor holding values (not on ``meta``)."""
    for key, value in params.items():
        if not isinstance(key, str):
            raise CheckpointError(f"params keys must be names like 'W1', got {key!r}")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"params[{key!r}] is not a tensor ({type(value).__name__})")
        if value.layout != torch.strided:
            raise CheckpointError(f"params[{key!r}] is a {value.layout} tensor; a parameter must be dense")
        if value.device.type == "meta":
            raise CheckpointError(f"params[{key!r}] is on the meta device: it holds a shape but no values")
        if value.dtype not in FLOAT_DTYPES:
            names = ", ".join(str(d).removeprefix("torch.") for d in FLOAT_DTYPES)
            raise CheckpointError(
                f"params[{key!r}] has dtype {value.dtype}; parameters must be floating-point ({names})"
            )


def _dims(params: dict[str, torch.Tensor], num_layers: int) -> list[int]:
    """(input, hidden..., classes) from the weights' shapes; each W is (D, M) and its b (M,)."""
    dims: list[int] = []
    for i in range(1, num_layers + 1):
        w, b = params[f"W{i}"], params[f"b{i}"]
        rows = dims[-1] if dims else "D"
        if w.dim() != 2 or (dims and w.shape[0] != dims[-1]) or tuple(b.shape) != (w.shape[1],) or 0 in w.shape:
            raise CheckpointError(
                f"W{i} {tuple(w.shape)} and b{i} {tuple(b.shape)} do not chain: expected W{i} ({rows}, M) "
                f"and b{i} (M,), sizes > 0"
            )
        dims += [w.shape[0], w.shape[1]] if not dims else [w.shape[1]]
    return dims


def _dropout_param(value: Any) -> dict[str, Any]:
    """The course's ``dropout_param``: ``p`` in [0, 1), ``seed`` an integer or None, ``mode`` train/test."""
    if not isinstance(value, dict):
        raise CheckpointError(f"dropout_param must be a dict, got {type(value).__name__}")
    if not value:
        return value
    p = value.get("p")
    if not _number(p) or not 0 <= p < 1:
        raise CheckpointError(f"dropout_param['p'] must be a number in [0, 1), got {p!r}")
    seed = value.get("seed")
    low, high = SEED_RANGE
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not low <= seed <= high):
        raise CheckpointError(f"dropout_param['seed'] must be an integer or None, got {seed!r}")
    if value.get("mode", "train") not in ("train", "test"):
        raise CheckpointError(f"dropout_param['mode'] must be 'train' or 'test', got {value['mode']!r}")
    return value


def _dtype(value: Any) -> torch.dtype | None:
    if value is None:
        return None
    dtype = value if isinstance(value, torch.dtype) else getattr(torch, str(value).removeprefix("torch."), None)
    if dtype not in FLOAT_DTYPES:
        raise CheckpointError(f"dtype must be a floating-point torch dtype, got {value!r}")
    return dtype
