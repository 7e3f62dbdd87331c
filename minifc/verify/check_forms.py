"""``minifc check`` for an update rule's other forms: each must give the rule's own result.

- ``foreach(ws, dws, configs)`` on two parameters at once, against the rule per parameter;
- ``fused(ws, dws, configs)`` likewise (one kernel: equal up to rounding);
- ``sink(w, config)``: the update formed inside a Linear's weight-gradient product
  (``target = beta * target + alpha * x^T dout`` then ``finish()``), against the rule given ``x^T dout``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..functional import add_weight_grad_
from ..gradcheck import rel_error

__all__ = ["check_rule_form"]

SHAPES = ((6, 5), (5,))


def check_rule_form(
    rule: Any, form: str, config: dict[str, Any] | None, device: torch.device, steps: int, tol: float
) -> tuple[str, float | None, bool, str]:
    """Run ``rule`` and its form ``form`` ("foreach", "fused" or "sink") side by side for ``steps``
    steps from the same float64 weights and ``config``; returns a check row
    ``(check, relative error, passed, detail)``."""
    gen = torch.Generator(device=device).manual_seed(1)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, device=device, dtype=torch.float64)

    problem, err = "", 0.0
    try:
        if form == "sink":
            w_rule = randn(6, 5)
            w_form, c_rule = w_rule.clone(), dict(config or {})
            c_form = dict(c_rule)
            for _ in range(steps):
                x, dout = randn(4, 6), randn(4, 5)
                w_rule, c_rule = rule(w_rule, x.t().mm(dout), c_rule)
                target, beta, alpha, finish = rule.sink(w_form, c_form)
                add_weight_grad_(target, x, dout, beta, alpha)
                if finish is not None:
                    finish()
            err = rel_error(w_form, w_rule)
        else:
            ws_rule = [randn(*s) for s in SHAPES]
            ws_form = [w.clone() for w in ws_rule]
            cs_rule = [dict(config or {}) for _ in SHAPES]
            cs_form = [dict(config or {}) for _ in SHAPES]
            batched = getattr(rule, form)
            for _ in range(steps):
                dws = [randn(*s) for s in SHAPES]
                for i in range(len(SHAPES)):
                    ws_rule[i], cs_rule[i] = rule(ws_rule[i], dws[i], cs_rule[i])
                if batched(ws_form, dws, cs_form) is not True:
                    raise ValueError(f"{form} declined configs that agree on every hyper-parameter")
            err = max(rel_error(a, b) for a, b in zip(ws_form, ws_rule, strict=True))
    except Exception as e:  # a broken form is a failed check, not a crash of `minifc check`
        problem = f"{type(e).__name__}: {e}"
    ok = not problem and err < tol
    detail = problem or ("" if ok else f"relative error {err:.3g}")
    return f"{form} form matches the rule over {steps} steps", None if problem else err, ok, detail
