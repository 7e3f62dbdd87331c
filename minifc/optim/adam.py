"""Adam with bias correction, in its per-parameter, foreach and fused (one kernel) forms."""

from __future__ import annotations

import math

import torch

from ..grad_mode import no_grad
from ..validate import below
from .rule import refuse_half, setup, shared_config, state, update_rule

__all__ = ["adam"]


@update_rule(
    {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    ("m", "v", "t"),
    bounds={"beta1": below(1.0), "beta2": below(1.0), "epsilon": (0.0, math.inf)},
)
@no_grad
def adam(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Adam with bias correction; ``t`` is incremented before it is used:

    ``m = beta1 m + (1 - beta1) dw``; ``v = beta2 v + (1 - beta2) dw**2``;
    ``w -= learning_rate * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + epsilon)``.
    """
    config = setup(adam, config)
    refuse_half("adam", w)
    m, v = state(config, "m", w), state(config, "v", w)
    t = int(config.get("t", 0)) + 1
    b1, b2 = config["beta1"], config["beta2"]
    m.lerp_(dw, 1 - b1)
    v.mul_(b2).addcmul_(dw, dw, value=1 - b2)
    step, c2 = _scalars(config, t)
    w.addcdiv_(m, v.sqrt().add_(config["epsilon"] * c2), value=step)
    config.update(m=m, v=v, t=t)
    return w, config


def _scalars(config: dict, t: int) -> tuple[float, float]:
    # sqrt(v / c2) + eps = (sqrt(v) + eps sqrt(c2)) / sqrt(c2): the bias correction moves into the
    # scalars, which saves a pass over v
    c2 = math.sqrt(1 - config["beta2"] ** t)
    return -config["learning_rate"] * c2 / (1 - config["beta1"] ** t), c2


def _moments(configs: list[dict], ws: list[torch.Tensor], c: dict) -> tuple[list, list, int]:
    """Every parameter's m and v (zeros at the first step) and the shared step count t, incremented."""
    ms = [state(config, "m", w) for config, w in zip(configs, ws, strict=True)]
    vs = [state(config, "v", w) for config, w in zip(configs, ws, strict=True)]
    return ms, vs, int(c.get("t", 0)) + 1


def _store(configs: list[dict], ms: list[torch.Tensor], vs: list[torch.Tensor], t: int) -> None:
    for config, m, v in zip(configs, ms, vs, strict=True):
        config.update(m=m, v=v, t=t)


@no_grad
def _adam_foreach(ws: list[torch.Tensor], dws: list[torch.Tensor], configs: list[dict]) -> bool:
    c = shared_config(adam, configs, ("t",))
    if c is None:
        return False
    ms, vs, t = _moments(configs, ws, c)
    b1, b2 = c["beta1"], c["beta2"]
    torch._foreach_lerp_(ms, dws, 1 - b1)
    torch._foreach_mul_(vs, b2)
    torch._foreach_addcmul_(vs, dws, dws, value=1 - b2)
    step, c2 = _scalars(c, t)
    denom = torch._foreach_sqrt(vs)
    torch._foreach_add_(denom, c["epsilon"] * c2)
    torch._foreach_addcdiv_(ws, ms, denom, value=step)
    _store(configs, ms, vs, t)
    return True




@no_grad
def _adam_fused(ws: list[torch.Tensor], dws: list[torch.Tensor], configs: list[dict]) -> bool:
    # torch's own fused kernel (what torch.optim.Adam(fused=True) runs): one pass over w, dw, m and v
    # instead of six. Its arithmetic is the same update ordered differently (bias corrections applied
    # to v's square root), so it rounds differently from the per-parameter form; the foreach form
    # remains the bit-exact batched one.
    kernel = getattr(torch, "_fused_adam_", None)
    first = ws[0] if ws else None
    if (
        kernel is None
        or first is None
        or first.device.type not in ("cpu", "cuda")
        or first.dtype not in (torch.float32, torch.float64)
        or any(w.dtype != first.dtype or w.device != first.device for w in ws)
    ):
        return _adam_foreach(ws, dws, configs)
    c = shared_config(adam, configs, ("t",))
    if c is None:
        return False
    ms, vs, t = _moments(configs, ws, c)
    steps = [torch.full((), float(t), dtype=torch.float32, device=first.device)] * len(ws)
    kernel(
        ws, [dw.contiguous() for dw in dws], ms, vs, [], steps,
        lr=float(c["learning_rate"]), beta1=float(c["beta1"]), beta2=float(c["beta2"]), weight_decay=0.0,
        eps=float(c["epsilon"]), amsgrad=False, maximize=False,
    )  # fmt: skip
    _store(configs, ms, vs, t)
    return True


adam.foreach = _adam_foreach
adam.fused = _adam_fused
