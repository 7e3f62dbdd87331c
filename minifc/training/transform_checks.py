"""Checks of the gradient-transform part of a loaded checkpoint, before anything is applied.

A checkpoint records the chain it was trained with (``gradient_transforms``: ``[{"name": ..., **options}]``),
each transform's state (``transform_states``) and the recorded gradient norms (``grad_norm_history``). A file
without them (written before transforms existed, or by a run without any) holds an empty chain. The chain
must have the Trainer's transforms in the same order (else their states would not fit): refused naming both
chains; options that differ are noted, and the Trainer's are used. Each state must have the keys of the
transform's fresh state (``init``), tensors of the same shape and kind (cast to the fresh state's dtype and
device, as parameters are), finite values; numbers finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from ..errors import CheckpointError

if TYPE_CHECKING:
    from .grad_transforms import TransformChain

__all__ = ["check_transform_state", "changed_options"]


def check_transform_state(chain: TransformChain | None, params: Mapping[str, torch.Tensor], state: dict) -> dict:
    """``{"grad_norm_history": [...], "transform_states": [...]}`` checked against ``chain``; CheckpointError naming
    the transform and key that do not fit."""
    saved = state.get("gradient_transforms") or []
    names = [spec.get("name") if isinstance(spec, dict) else spec for spec in saved]
    own = [] if chain is None else [c.name for c in chain.chosen]
    if names != own:
        raise CheckpointError(
            f"it was written with gradient transforms {names or '(none)'} but this Trainer uses {own or '(none)'}: "
            "their states would not fit"
        )
    found = state.get("transform_states") or []
    if not isinstance(found, list) or len(found) != len(own):
        raise CheckpointError(f"transform_states must hold one dict per gradient transform ({len(own)})")
    states = []
    if chain is not None:
        fresh = chain.init(params, torch.Generator().manual_seed(0))  # a scratch generator: nothing changes
        for i, (c, got, like) in enumerate(zip(chain.chosen, found, fresh, strict=True)):
            states.append(_check_one(got, like, f"transform_states[{i}] ({c.who})"))
    norms = state.get("grad_norm_history") or []
    ok = isinstance(norms, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and (math.isnan(v) or v >= 0) for v in norms
    )
    if not ok:
        raise CheckpointError("grad_norm_history must be a list of numbers >= 0 (NaN: a skipped step)")
    return {"grad_norm_history": [float(v) for v in norms], "transform_states": states}


def _check_one(got: Any, like: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(got, dict) or set(got) != set(like):
        keys = sorted(got, key=repr) if isinstance(got, dict) else type(got).__name__
        raise CheckpointError(f"{where} must hold the keys {sorted(like)}, got {keys}")
    out: dict[str, Any] = {}
    for key, want in like.items():
        value, at = got[key], f"{where}[{key!r}]"
        if isinstance(want, torch.Tensor):
            if not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.device.type == "meta":
                raise CheckpointError(f"{at} must be a dense tensor, got {type(value).__name__}")
            if value.shape != want.shape or value.is_floating_point() != want.is_floating_point():
                raise CheckpointError(
                    f"{at} is a {value.dtype} tensor of shape {tuple(value.shape)}; expected {want.dtype} "
                    f"of shape {tuple(want.shape)}"
                )
            if not want.is_floating_point() and value.dtype != want.dtype:
                raise CheckpointError(f"{at} has dtype {value.dtype}; expected {want.dtype} (it is not cast)")
            moved = value.to(device=want.device, dtype=want.dtype, copy=True)
            if moved.is_floating_point() and not bool(torch.isfinite(moved).all()):
                raise CheckpointError(f"{at} holds NaN or Inf")
            out[key] = moved
        elif isinstance(want, (bool, int, float)):
            number = isinstance(value, (int, float)) and type(value) is not bool
            if isinstance(want, bool) != isinstance(value, bool) or not (number or isinstance(value, bool)):
                raise CheckpointError(f"{at} must be a {type(want).__name__}, got {value!r:.80}")
            if number and not math.isfinite(value):
                raise CheckpointError(f"{at} must be finite, got {value!r}")
            out[key] = value
        else:
            out[key] = value
    return out


def changed_options(chain: TransformChain | None, state: dict) -> list[str]:
    """The transforms whose options differ from the checkpoint's (same names, checked before)."""
    saved = state.get("gradient_transforms") or []
    own = [] if chain is None else chain.specs
    return [new["name"] for old, new in zip(saved, own, strict=False) if isinstance(old, dict) and old != new]
