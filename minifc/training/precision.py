"""The Trainer's precision policy: ``"32"``, ``"64"``, ``"bf16-mixed"`` or ``"auto"``.

- ``"32"`` / ``"64"``: the model's parameters, the data and every computation in float32 / float64;
- ``"bf16-mixed"``: matrix products (forward, dx, dW) in bfloat16 from working copies of float32 master
  weights (:mod:`minifc.nn.mixed`); optimizer state, the loss, softmax, the update and the gradients the
  update strategy and regularizers see are float32. The working copies are refreshed by the update
  (:class:`RefreshingUpdate`: one foreach copy after it). The in-product update (``update_in_product``) is
  off: it would form each weight's update from a bfloat16 product, so the gradient would never reach the
  update strategy in float32;
- ``"auto"``: ``"bf16-mixed"`` where bfloat16 products are fast (a CPU with ``amx_bf16`` or
  ``avx512_bf16``; a CUDA device with bf16 support), else ``"32"``; :attr:`Precision.note` says which
  and why.

None (the Trainer's default) keeps the model's own dtype: the classic API stays float32 / float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import PrecisionError
from ..nn.mixed import WorkingCopy, apply_compute_dtype
from ..nn.modules import Module
from .update import RefreshingUpdate

__all__ = [
    "PRECISIONS",
    "Precision",
    "RefreshingUpdate",
    "bf16_is_fast",
    "cpu_bf16_flags",
    "REDUCE_PRECISIONS",
    "precision_name",
    "reduce_dtype_of",
    "resolve_precision",
]

PRECISIONS = ("32", "64", "bf16-mixed", "auto")
_DTYPES = {"32": torch.float32, "64": torch.float64, "bf16-mixed": torch.float32}
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Precision:
    """A resolved policy: ``name`` (``"32"``, ``"64"``, ``"bf16-mixed"``; None: the model's own dtype),
    the master ``dtype`` (None: the model's), the products' ``compute_dtype`` (None: the master's), and
    ``note``: one line on what ``auto`` chose and why (empty otherwise)."""

    name: str | None
    dtype: torch.dtype | None = None
    compute_dtype: torch.dtype | None = None
    note: str = ""

    def apply(self, model: Any, say: bool = False) -> list[WorkingCopy]:
        """Put ``model`` (already checked by :func:`resolve_precision`) under the policy: its parameters in
        the master dtype, its net's layers told the compute dtype; ``say``: print the note. Returns the
        working copies to refresh."""
        if say and self.note:
            print(self.note)
        if self.name is None:
            return []
        if model.params and next(iter(model.params.values())).dtype != self.dtype:
            model.dtype = self.dtype
        net = getattr(model, "net", None)
        if not isinstance(net, Module):
            return []
        copies = apply_compute_dtype(net, self.compute_dtype)
        model.compute_dtype = self.compute_dtype
        return copies


def cpu_bf16_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> list[str]:
    """The CPU flags among ``amx_bf16`` / ``avx512_bf16`` this machine has (from ``cpuinfo``, else torch's
    CPU capability); empty where neither is known."""
    try:
        flags = set(Path(cpuinfo).read_text(errors="replace").split())
    except OSError:
        flags = {"amx_bf16"} if "AMX" in str(torch.backends.cpu.get_cpu_capability()).upper() else set()
    return [f for f in BF16_FLAGS if f in flags]


def bf16_is_fast(device: torch.device) -> tuple[bool, str]:
    """Whether bfloat16 products are fast on ``device``, and why (one clause)."""
    if device.type == "cuda":
        ok = bool(torch.cuda.is_bf16_supported())
        return ok, f"{device} {'supports' if ok else 'lacks'} bfloat16"
    if device.type == "cpu":
        flags = cpu_bf16_flags()
        if flags:
            return True, f"this CPU has {' and '.join(flags)}"
        return False, "this CPU has neither amx_bf16 nor avx512_bf16 (bfloat16 products would be emulated)"
    return False, f"bfloat16 speed on {device.type} is not known"


def resolve_precision(value: str | None, device: torch.device, model: Any, what: str = "precision") -> Precision:
    """The policy ``value`` names for ``model`` on ``device``; PrecisionError naming ``what`` for an unknown
    value or a model the policy cannot apply to. Changes nothing."""
    if value is None:
        return Precision(None)
    name = str(value).strip().lower().removeprefix("fp")
    name = {"float32": "32", "float64": "64", "bf16": "bf16-mixed"}.get(name, name)
    if name not in PRECISIONS:
        raise PrecisionError(f"{what}: unknown precision {value!r}; choose one of {', '.join(PRECISIONS)}")
    note = ""
    if name == "auto":
        fast, why = bf16_is_fast(device)
        name = "bf16-mixed" if fast else "32"
        note = f"precision auto: {name} ({why})"
    if getattr(model, "params", None):
        _check_model(model, name, what)
    compute = torch.bfloat16 if name == "bf16-mixed" else None
    return Precision(name, _DTYPES[name], compute, note)


def _check_model(model: Any, name: str, what: str) -> None:
    dtypes = {t.dtype for t in model.params.values()}
    settable = isinstance(getattr(type(model), "dtype", None), property)
    if dtypes != {_DTYPES[name]} and not settable:
        raise PrecisionError(
            f"{what} {name!r}: the model's parameters are {', '.join(sorted(map(str, dtypes)))} and "
            f"{type(model).__name__} has no dtype to set"
        )
    if name == "bf16-mixed" and not isinstance(getattr(model, "net", None), Module):
        raise PrecisionError(
            f"{what} 'bf16-mixed' needs a model built of minifc.nn layers (a Module or a Classifier); "
            f"{type(model).__name__} computes its own products"
        )


REDUCE_PRECISIONS = ("32", "bf16")


def reduce_dtype_of(value: str, what: str = "reduce_precision") -> torch.dtype | None:
    """The dtype gradients are all-reduced in: None for ``"32"`` (their own), bfloat16 for ``"bf16"``;
    PrecisionError naming ``what`` otherwise."""
    if value not in REDUCE_PRECISIONS:
        raise PrecisionError(f"{what}: unknown value {value!r}; choose one of {', '.join(REDUCE_PRECISIONS)}")
    return torch.bfloat16 if value == "bf16" else None


def precision_name(precision: Precision | None, params: Mapping[str, torch.Tensor]) -> str:
    """What a run computes in: the policy's name, else (no policy) ``"32"`` / ``"64"`` from the parameters'
    dtype (another dtype's name as it is)."""
    if precision is not None and precision.name is not None:
        return precision.name
    dtype = next(iter(params.values())).dtype if params else torch.float32
    return {torch.float32: "32", torch.float64: "64"}.get(dtype, str(dtype).removeprefix("torch."))
