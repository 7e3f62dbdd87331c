"""``minifc check`` under bf16-mixed: every layer and loss run as the Trainer runs them in ``bf16-mixed``
(:mod:`minifc.nn.mixed`), compared with a reference with bfloat16's tolerance.

- layers: output, dx and every parameter's gradient of the layer under the policy (float32 masters,
  products in bfloat16; input and dout in bfloat16, as Linear layers around it hand them) against the
  same layer in float64 (eval mode) and in float32 (train mode, and a layer whose random draws depend on
  the dtype: they are float32's under bf16-mixed). A layer that declares no
  ``precision`` runs in float32; its row says so;
- losses: the loss and dscores of scores rounded to bfloat16 (what a bf16-mixed net hands its loss, in
  float32) against float64 scores.

Relative errors (as norms) must be below :data:`BF16_TOLERANCE`: bfloat16 keeps 8 bits of mantissa, so one
product is within about 1e-2.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable

import torch

from ..nn.mixed import apply_compute_dtype
from ..nn.modules import Module

__all__ = ["BF16_TOLERANCE", "check_layer_bf16", "check_loss_bf16"]

BF16_TOLERANCE = 2e-2

Add = Callable[[str, float | None, bool, str], None]


def _norm_error(a: torch.Tensor | None, b: torch.Tensor | None) -> float:
    if a is None or b is None:
        return 0.0 if a is None and b is None else float("inf")
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-12)) if b.norm() > 0 else float((a - b).norm())


def _run(layer: Module, x: torch.Tensor, seed: int, dout_seed: int) -> dict[str, torch.Tensor | None]:
    """Output, dx and gradients of ``layer`` on x, for a dout drawn in float64 (the same for every dtype)."""
    torch.manual_seed(seed)  # the same random draws for every run of a dropout-like layer
    y = layer.forward(x)
    gen = torch.Generator(device=x.device).manual_seed(dout_seed)
    dout = torch.randn(y.shape, generator=gen, dtype=torch.float64, device=x.device)
    found = {"output": y, "dx": layer.backward(dout.to(y.dtype))}
    found.update({f"grad {n}": p.grad for n, p in layer.named_parameters()})
    return found


def _copy(layer: Module, dtype: torch.dtype, mode: str) -> Module:
    """A copy of ``layer`` in ``dtype`` and ``mode``, without gradients."""
    out = copy.deepcopy(layer).to(dtype=dtype).train(mode == "train")
    out.zero_grad()
    return out


def check_layer_bf16(add: Add, layer64: Module, x64: torch.Tensor, seed: int) -> None:
    """Rows ``bf16-mixed <mode>: <what>`` for ``layer64`` (float64, input ``x64`` (N, D)); the layer is copied."""
    devices = [x64.device.index or 0] if x64.device.type == "cuda" else []
    mixed = copy.deepcopy(layer64).to(dtype=torch.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_compute_dtype(mixed, torch.bfloat16)
    note = "declares no precision: runs in float32" if caught else ""
    for mode in ("eval", "train"):
        try:
            with torch.random.fork_rng(devices=devices):
                want = {dtype: _run(_copy(layer64, dtype, mode), x64.to(dtype), seed, seed + 3)
                        for dtype in ((torch.float64, torch.float32) if mode == "eval" else (torch.float32,))}
                mixed.train(mode == "train").zero_grad()
                got = _run(mixed, x64.to(torch.bfloat16), seed, seed + 3)  # what a layer after a Linear gets
        except Exception as e:  # noqa: BLE001 - a broken component is a failing row
            add(f"bf16-mixed {mode}: forward/backward", None, False, f"{type(e).__name__}: {e}")
            continue
        # float64 unless the layer's random draws depend on the dtype (then float32's, as under bf16-mixed)
        dtype = torch.float64 if mode == "eval" else torch.float32
        if mode == "eval" and _norm_error(want[torch.float32]["output"], want[dtype]["output"]) > 1e-4:
            dtype = torch.float32
        against = str(dtype).removeprefix("torch.")
        for what, value in got.items():
            err = _norm_error(value, want[dtype].get(what))
            ok = err < BF16_TOLERANCE
            detail = note or ("" if ok else f"relative error {err:.2e} >= {BF16_TOLERANCE:.0e} (bfloat16's tolerance)")
            add(f"bf16-mixed {mode}: {what} (vs {against})", err, ok, detail)


def check_loss_bf16(add: Add, loss: Callable, scores64: torch.Tensor, y: torch.Tensor) -> None:
    """Rows for a loss given scores rounded to bfloat16 then float32, against float64 scores (N, C)."""
    loss64, d64 = loss(scores64, y)
    loss32, d32 = loss(scores64.to(torch.bfloat16).float(), y)
    errors = (("loss", _norm_error(loss32.reshape(1), loss64.reshape(1))), ("dscores", _norm_error(d32, d64)))
    for what, err in errors:
        ok = err < BF16_TOLERANCE
        detail = "" if ok else f"relative error {err:.2e} >= {BF16_TOLERANCE:.0e}"
        add(f"bf16-mixed: {what} (vs float64)", err, ok, detail)
