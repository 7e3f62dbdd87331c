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
from typing import Any

import torch

from .checkpoint import non_finite, safe_load
from .errors import CheckpointError

__all__ = ["read_classic_checkpoint"]


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


def _parse(state: Any, model: str) -> dict[str, Any]:
    if not isinstance(state, dict) or not isinstance(state.get("params"), dict):
        raise CheckpointError("not a model checkpoint: expected a dict with a 'params' dict of tensors")
    written_by = state.get("model")
    if written_by is not None and written_by != model:
        raise CheckpointError(f"it holds a {written_by}, not a {model}")
    params = state["params"]
    bad = [k for k, v in params.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"params {bad} are not tensors")
    num_layers = sum(1 for k in params if k.startswith("W"))
    if model == "TwoLayerNet" and num_layers != 2:
        raise CheckpointError(f"a TwoLayerNet has W1, b1, W2, b2; the file has {sorted(params)}")
    expected = {f"{p}{i}" for i in range(1, num_layers + 1) for p in "Wb"}
    if num_layers == 0 or set(params) != expected:
        raise CheckpointError(f"params must be W1, b1, ..., WL, bL; the file has {sorted(params)}")
    if state.get("num_layers", num_layers) != num_layers:
        raise CheckpointError(f"num_layers is {state['num_layers']} but params hold {num_layers} layers")
    dims = [params["W1"].shape[0]] if params["W1"].dim() == 2 else []
    for i in range(1, num_layers + 1):
        w, b = params[f"W{i}"], params[f"b{i}"]
        if w.dim() != 2 or w.shape[0] != dims[-1] or tuple(b.shape) != (w.shape[1],):
            raise CheckpointError(
                f"W{i} {tuple(w.shape)} and b{i} {tuple(b.shape)} do not chain: expected W{i} ({dims[-1]}, M) "
                f"and b{i} (M,)"
            )
        dims.append(w.shape[1])
    bad = non_finite(params)
    if bad:
        raise CheckpointError(f"it holds NaN or Inf in {', '.join(bad)}")
    reg = state.get("reg", 0.0)
    if isinstance(reg, torch.Tensor) and reg.numel() == 1:
        reg = reg.item()
    if isinstance(reg, bool) or not isinstance(reg, (int, float)) or not math.isfinite(reg) or reg < 0:
        raise CheckpointError(f"reg must be a finite number >= 0, got {reg!r}")
    dropout_param = state.get("dropout_param", {})
    if not isinstance(dropout_param, dict):
        raise CheckpointError(f"dropout_param must be a dict, got {type(dropout_param).__name__}")
    config = state.get("config", {})
    if not isinstance(config, dict):
        raise CheckpointError(f"config must be a dict, got {type(config).__name__}")
    return {
        "params": params,
        "reg": float(reg),
        "dtype": _dtype(state.get("dtype")),
        "dims": dims,
        "config": config,
        "dropout_param": dropout_param if state.get("use_dropout", bool(dropout_param)) else {},
    }


def _dtype(value: Any) -> torch.dtype | None:
    if value is None or isinstance(value, torch.dtype):
        return value
    dtype = getattr(torch, str(value).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise CheckpointError(f"unknown dtype {value!r}")
    return dtype
