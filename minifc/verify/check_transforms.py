"""``minifc check`` for gradient transforms (:mod:`minifc.optim.transform`).

The transform is built with its defaults (or ``check_config``) and run for two steps on the gradients of
w (6, 5) and b (5,), in float64 and float32: every gradient must come back a finite tensor of its shape,
dtype and device (never None from finite gradients), and the state a dict. ``clip_norm`` is also compared
with ``torch.nn.utils.clip_grad_norm_`` on the same tensors: a gradient below the threshold is unchanged,
one above it is scaled to the threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..optim import clipping
from ..optim.transform import GradientTransform, check_options, initial_state
from ..registry.components import Component

__all__ = ["check_transform"]

#: the dtypes a transform is run in
DTYPES = (torch.float64, torch.float32)

Add = Callable[..., None]


def check_transform(c: Component, add: Add, device: torch.device, seed: int, tol: float) -> None:
    """Add the rows of gradient transform ``c`` with ``add(check, error, passed, detail)``."""
    given = c.metadata.get("check_config")
    options = dict(given) if given is not None else {}
    who, meta = f"gradient transform {c.name!r}", c.metadata
    options = check_options(who, options, meta.get("defaults"), meta.get("bounds"))
    for dtype in DTYPES:
        label = f"{str(dtype).removeprefix('torch.')}: keeps shape/dtype/device, finite"
        problem = _run(c.obj(**options), device, dtype, seed)
        add(label, None, not problem, problem)
    if c.obj is clipping.clip_norm:
        for scale, what in ((1e-3, "below the threshold: unchanged"), (1e3, "above: scaled to max_norm")):
            error = _against_torch(options["max_norm"], scale, device, seed)
            add(f"clip_grad_norm_ {what}", error, error < tol)


def _run(transform: Any, device: torch.device, dtype: torch.dtype, seed: int) -> str:
    """'' when two steps keep every gradient's shape, dtype and device, finite; else what went wrong."""
    if not isinstance(transform, GradientTransform):
        return f"the factory returned a {type(transform).__name__}, not an object with init and update"
    gen = torch.Generator(device=device).manual_seed(seed)
    w = torch.randn(6, 5, generator=gen, device=device, dtype=dtype)
    params = {"w": w, "b": torch.zeros(5, dtype=dtype, device=device)}
    state = initial_state(transform, params, torch.Generator().manual_seed(seed))
    for step in (1, 2):
        grads = {n: torch.randn(p.shape, generator=gen, device=device, dtype=dtype) for n, p in params.items()}
        out = transform.update(dict(grads), state, params)
        if not isinstance(out, tuple) or len(out) != 2 or not isinstance(out[1], dict):
            return f"step {step}: update must return (grads, state) with state a dict, got {type(out).__name__}"
        new, state = out
        if not isinstance(new, dict) or set(new) != set(grads):
            return f"step {step}: it returned {type(new).__name__ if new is None else sorted(new)} for finite gradients"
        for name, g in grads.items():
            t = new[name]
            if not isinstance(t, torch.Tensor):
                return f"step {step}: {name!r} came back a {type(t).__name__}"
            bad = [f"{k} {getattr(t, k)}" for k in ("shape", "dtype", "device") if getattr(t, k) != getattr(g, k)]
            if bad:
                return f"step {step}: {name!r} came back with " + ", ".join(bad)
            if not bool(torch.isfinite(t).all()):
                return f"step {step}: {name!r} came back with NaN/Inf from finite gradients"
    return ""


def _against_torch(max_norm: float, scale: float, device: torch.device, seed: int) -> float:
    """The largest relative difference between clip_norm and ``torch.nn.utils.clip_grad_norm_`` (gradients of
    ``scale`` times unit normals, float64), the pre-clip norms included."""
    gen = torch.Generator(device=device).manual_seed(seed)
    shapes = {"w": (6, 5), "b": (5,)}
    grads = {n: scale * torch.randn(s, generator=gen, device=device, dtype=torch.float64) for n, s in shapes.items()}
    refs = [torch.zeros(s, dtype=torch.float64, device=device, requires_grad=True) for s in shapes.values()]
    for r, g in zip(refs, grads.values(), strict=True):
        r.grad = g.clone()
    ref_norm = torch.nn.utils.clip_grad_norm_(refs, max_norm)
    ours = clipping.ClipNorm(max_norm)
    out, state = ours.update(grads, ours.init(grads), grads)
    clipped = [r.grad for r in refs if r.grad is not None]
    errors = [float((out[n] - g).abs().max() / g.abs().max()) for n, g in zip(grads, clipped, strict=True)]
    errors.append(abs(float(state["grad_norm"]) - float(ref_norm)) / float(ref_norm))
    if scale < 1 and not all(torch.equal(out[n], grads[n]) for n in grads):
        errors.append(1.0)  # below the threshold the gradient must come back bit for bit
    return max(errors)
