"""The step's update seam: how an update rule is applied to every parameter.

Three strategies with the same math, chosen once by the Trainer (at build) from what the rule offers:

- :class:`PerParameter`: ``rule(w, dw, config)`` for each parameter, then update-stage regularizers;
- :class:`Foreach`: the rule's ``foreach`` form over all parameters at once (one torch call per line
  of the rule), falling back to per-parameter when the configs differ; with ``fused`` (the Trainer's
  ``fused=True``), the rule's one-kernel ``fused`` form where it has one (e.g. Adam's);
- :class:`InProduct` (the Trainer's ``update_in_product=True``): for rules affine in the gradient
  (their ``rule.sink`` form: sgd, sgd_momentum), each weight's
  update is formed inside its layer's weight-gradient product (``Parameter.sink``, consumed by
  ``minifc.nn.Linear``): no dw tensor is written and read back. It arms the sinks only after the loss
  is known to be finite, so a NaN loss stops training before any weight changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..nn.mixed import WorkingCopy, refresh
from ..nn.modules import Parameter
from ..optim.rule import ForeachForm, SinkForm, UpdateRule
from ..registry.blame import component_failure, passes_through
from .first_step import check_update
from .regularize import Regularizer

__all__ = ["PerParameter", "Foreach", "InProduct", "RefreshingUpdate", "choose_updater"]

Params = dict[str, torch.Tensor]


class PerParameter:
    """``rule(w, dw, config)`` per parameter; update-stage regularizers after it."""

    def __init__(self, rule: Callable[..., Any], who: str, regularizers: list[Regularizer]) -> None:
        self.rule, self.who = rule, who
        # a declared rule's function itself: one Python call less per parameter and step
        self.call: Callable[..., Any] = rule.fn if isinstance(rule, UpdateRule) else rule
        self.after = [r for r in regularizers if r.stage == "update"]

    def update(self, params: Params, grads: Mapping[str, torch.Tensor], configs: dict[str, dict], check: bool) -> None:
        """Write each parameter's next value into ``params`` (the model's dict) and its config into ``configs``."""
        for name in list(grads):
            w = params[name]
            try:
                out = self.call(w, grads[name], configs[name])
            except Exception as e:  # a rule's bug is named with the rule and its plugin
                if passes_through(e):
                    raise
                raise component_failure(self.who, name, e) from e
            if check:
                check_update(self.who, name, w, out)
            next_w, next_config = out
            for reg in self.after:
                if reg.applies(next_w):
                    next_w = reg.after_update(name, next_w, next_config.get("learning_rate", 0.0), check)
            params[name] = next_w
            configs[name] = next_config


class Foreach(PerParameter):
    """The rule's ``foreach`` form over every parameter (after the checked first step); its ``fused``
    form instead when ``fused`` is asked for and the rule has one."""

    def __init__(
        self, rule: Callable[..., Any], who: str, regularizers: list[Regularizer], foreach: ForeachForm,
        one_kernel: ForeachForm | None = None,
    ) -> None:
        super().__init__(rule, who, regularizers)
        self.batched = one_kernel or foreach
        self.exact = one_kernel is None  # the foreach form is bit-identical to the rule per parameter

    def update(self, params: Params, grads: Mapping[str, torch.Tensor], configs: dict[str, dict], check: bool) -> None:
        names = list(grads)
        exact = self.exact
        if check and not exact:
            # the contract is checked on copies: the checked step (a run's first, and the first after a
            # resume) must round like every other step, or a resumed run would drift from an unbroken one
            for n in names:  # one at a time: at most one parameter's copies are alive
                super().update({n: params[n].clone()}, {n: grads[n]}, {n: _copy_config(configs[n])}, True)
        ws, dws = [params[n] for n in names], [grads[n] for n in names]
        if check and exact:
            super().update(params, grads, configs, check)
            return
        try:
            done = self.batched(ws, dws, [configs[n] for n in names])
        except Exception as e:
            if passes_through(e):
                raise
            raise component_failure(self.who, None, e) from e
        if not done:
            super().update(params, grads, configs, check)


def _copy_config(config: dict) -> dict:
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in config.items()}


class InProduct(Foreach):
    """Weights updated inside their layer's weight-gradient product (the rule's ``sink`` form); the rest
    (biases) by foreach."""

    def __init__(
        self, rule: Callable[..., Any], who: str, objects: Mapping[str, Parameter], sink: SinkForm,
        foreach: ForeachForm,
    ) -> None:
        super().__init__(rule, who, [], foreach)
        self.objects, self.sink = objects, sink
        self._finishers: dict[str, Callable[[], object] | None] = {}

    def arm(self, configs: dict[str, dict]) -> None:
        """Before the backward pass (the loss is finite): hand each weight its sink."""
        sink = self.sink
        for name, p in self.objects.items():
            if p.data.dim() == 2:
                target, beta, alpha, self._finishers[name] = sink(p.data, configs[name])
                p.sink = (target, beta, alpha)

    def disarm(self, grads: dict[str, torch.Tensor]) -> None:
        """After the backward pass: finish the weights whose layer took the sink (e.g. momentum's
        ``w += v``) and drop them from ``grads``; a sink nobody took leaves a gradient to update normally."""
        for name, finish in self._finishers.items():
            p = self.objects[name]
            if p.sink is not None and p.grad is None:
                grads.pop(name, None)
                if finish is not None:
                    finish()
            p.sink = None
        self._finishers = {}


class RefreshingUpdate(PerParameter):
    """An update strategy followed by one foreach copy of every master weight into its working copy."""

    def __init__(self, inner: PerParameter, copies: list[WorkingCopy]) -> None:
        super().__init__(inner.rule, inner.who, [])
        self.inner, self.copies = inner, copies

    def update(self, params: dict[str, torch.Tensor], grads: Mapping[str, torch.Tensor], configs: dict[str, dict],
               check: bool) -> None:
        """The inner strategy's update, then the working copies rewritten from the new masters."""
        self.inner.update(params, grads, configs, check)
        refresh(self.copies)


def choose_updater(
    rule: Callable[..., Any],
    who: str,
    regularizers: list[Regularizer],
    explicit_model: Any,
    in_product: bool,
    fused: bool,
    may_sink: bool,
    copies: list[WorkingCopy] | None = None,
) -> PerParameter:
    """The update seam's strategy, chosen once: formed inside the weight-gradient product
    (:class:`InProduct`) where that is the same update (``in_product`` asked for, ``may_sink``:
    gradients local to this process; a rule with a sink form, an explicit model with ``reg == 0`` and
    unshared parameters, no regularizers), else the rule's foreach form (its one-kernel ``fused`` form
    with ``fused``), else the rule per parameter. With working ``copies`` (bf16-mixed) the strategy is
    wrapped in :class:`RefreshingUpdate` and the in-product form is off (it would update from bfloat16
    products: the float32 gradient would never reach the update)."""
    if copies:
        return RefreshingUpdate(choose_updater(rule, who, regularizers, explicit_model, False, fused, may_sink), copies)
    objects = getattr(explicit_model, "param_objects", {})
    foreach: ForeachForm | None = getattr(rule, "foreach", None)
    sink: SinkForm | None = getattr(rule, "sink", None)
    if (
        in_product
        and may_sink
        and sink is not None
        and foreach is not None
        and explicit_model is not None
        and not regularizers
        and not explicit_model.reg
        and len({id(p) for p in objects.values()}) == len(objects)
    ):
        return InProduct(rule, who, objects, sink, foreach)
    if foreach is not None and not any(r.stage == "update" for r in regularizers):
        one_kernel: ForeachForm | None = getattr(rule, "fused", None) if fused else None
        return Foreach(rule, who, regularizers, foreach, one_kernel)
    return PerParameter(rule, who, regularizers)
