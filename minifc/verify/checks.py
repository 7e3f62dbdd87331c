"""Numeric verification of every registered component, built-in or third-party (``minifc check``).

Each check produces :class:`CheckResult` rows ``(component, kind, provider, check, error, passed)``:

- layers: built small (``in_features=6``, ``out_features=5`` when accepted, plus the ``check_kwargs``
  metadata), in float64, on x (4, 6); in train mode (torch's global RNG re-seeded identically before
  every forward, so dropout-like layers draw the same mask) and then in eval mode, dx and every
  parameter's gradient are compared with centred differences (:func:`minifc.gradcheck.check_module`);
- losses: dscores against the numeric gradient of the loss on scores (5, 4), float64;
- regularizers, stage "loss": dpenalty against the numeric gradient of the penalty on w (6, 5)
  (and on a bias (5,) when ``applies_to="all"``), w left unchanged; stage "update": next_w keeps w's
  shape, dtype and device and is finite;
- schedules and callbacks: :mod:`minifc.verify.check_kinds`;
- update rules: 100 steps on ``f(w) = 0.5 * ||w - target||^2`` (w (6, 5), float64, the rule's
  defaults or ``check_config``): w keeps shape, dtype and device, floating-point state tensors are
  created like w, and f decreases; a rule's ``foreach``, ``fused`` and ``sink`` forms must give the
  rule's own result (:mod:`minifc.verify.check_forms`);
- gradient transforms: gradients keep shape, dtype and device and stay finite; ``clip_norm`` matches
  ``torch.nn.utils.clip_grad_norm_`` (:mod:`minifc.verify.check_transforms`).

Layers and losses are also run under bf16-mixed (:mod:`minifc.verify.check_bf16`, bfloat16's tolerance
2e-2). Relative errors must otherwise be below ``tol`` (1e-6). A plugin that failed to load, or one with a component
skipped because its name clashed with another plugin's, gives one failing row.
Examples (``minifc example NAME``) are not run: checking them would mean training.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..errors import UnknownComponentError, closest
from ..gradcheck import check_loss, check_module, compute_numeric_gradient, rel_error
from ..nn.modules import Module
from ..registry.components import Component, signature_accepts
from ..registry.core import Registry, default_registry
from .check_bf16 import check_layer_bf16, check_loss_bf16
from .check_forms import check_rule_form
from .check_kinds import check_callback_rows, check_schedule_rows
from .check_transforms import check_transform

__all__ = [
    "CheckResult",
    "CHECKED_KINDS",
    "TOLERANCE",
    "check_components",
    "check_component",
    "select_components",
]

#: the kinds ``minifc check`` verifies (examples are not: that would mean training)
CHECKED_KINDS = ("layer", "loss", "update_rule", "regularizer", "schedule", "callback", "gradient_transform")

TOLERANCE = 1e-6
CHECK_DTYPE = torch.float64
UPDATE_STEPS = 100
SEED = 0


@dataclass
class CheckResult:
    """One verified property of one component."""

    component: str
    kind: str
    provider: str
    check: str
    error: float | None
    passed: bool
    detail: str = ""
    plugin: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Rows:
    """Collects the rows of one component."""

    def __init__(self, c: Component, tol: float) -> None:
        self.c, self.tol = c, tol
        self.rows: list[CheckResult] = []

    def add(self, check: str, error: float | None, passed: bool | None = None, detail: str = "") -> None:
        if passed is None:
            passed = error is not None and math.isfinite(error) and error < self.tol
            if not passed and not detail:
                detail = f"relative error {error:.2e} >= {self.tol:.0e}"
        c = self.c
        self.rows.append(CheckResult(c.name, c.kind, c.provider, check, error, bool(passed), detail, c.plugin))

    def fail(self, check: str, exc: BaseException) -> None:
        self.add(check, None, False, f"{type(exc).__name__}: {exc}")


def select_components(registry: Registry, names: Iterable[str] = ()) -> list[Component]:
    """The components whose name, plugin or distribution is in ``names`` (all when empty).

    Raises :class:`UnknownComponentError` for a name that matches nothing, suggesting the closest.
    """
    components = [c for c in registry.all_components() if c.kind in CHECKED_KINDS]
    wanted = list(names)
    if not wanted:
        return components
    plugins = registry.plugin_list()
    distributions = {p.distribution for p in plugins if p.distribution}
    known = {c.name for c in components} | {p.name for p in plugins} | distributions
    examples = set(registry.names("example"))
    for name in wanted:
        if name not in known and name in examples:
            raise UnknownComponentError(
                f"{name!r} is an example: `minifc check` verifies layers, losses, update rules, regularizers, "
                f"schedules and callbacks; "
                f"run the example with `minifc example {name}`"
            )
        if name not in known:
            guess = closest(name, known)
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise UnknownComponentError(
                f"no component or plugin named {name!r}{hint} Known: {', '.join(sorted(known))}"
            )
    chosen = set(wanted)
    return [c for c in components if {c.name, c.plugin, c.distribution} & chosen]


def check_components(
    names: Iterable[str] = (),
    registry: Registry | None = None,
    tol: float = TOLERANCE,
    device: str | torch.device = "cpu",
) -> list[CheckResult]:
    """Verify every registered component (or those selected by ``names``: component, plugin or
    distribution names) and return one row per property checked. Plugins that failed to load give a
    failing row each."""
    registry = registry or default_registry()
    names = list(names)
    rows: list[CheckResult] = []
    for info in registry.plugin_list():
        failed = info.status == "failed" or bool(info.skipped)  # skipped: a component clashed with another's
        if failed and (not names or {info.name, info.distribution} & set(names)):
            provider = f"{info.name} ({info.distribution} {info.version or ''})".replace(" )", ")")
            rows.append(CheckResult(f"[{info.name}]", "plugin", provider, "load", None, False, info.error or ""))
    for c in select_components(registry, names):
        rows.extend(check_component(c, tol=tol, device=device))
    return rows


def check_component(c: Component, tol: float = TOLERANCE, device: str | torch.device = "cpu") -> list[CheckResult]:
    """The rows of one component; exceptions become failing rows, never propagate."""
    out = _Rows(c, tol)
    checker: dict[str, Callable[[_Rows, torch.device], None]] = {
        "layer": _check_layer,
        "loss": _check_loss,
        "regularizer": _check_regularizer,
        "update_rule": _check_update_rule,
        "schedule": _check_schedule,
        "callback": _check_callback,
        "gradient_transform": lambda out, device: check_transform(out.c, out.add, device, SEED, out.tol),
    }
    if c.kind not in checker:
        out.add("setup", None, False, f"{c.kind} components are not checked (kinds: {', '.join(checker)})")
        return out.rows
    try:
        checker[c.kind](out, torch.device(device))
    except Exception as e:  # noqa: BLE001 - a broken component is a failing row
        out.fail("setup", e)
    return out.rows


def _check_schedule(out: _Rows, device: torch.device) -> None:
    for row in check_schedule_rows(out.c):
        out.add(*row)


def _check_callback(out: _Rows, device: torch.device) -> None:
    for row in check_callback_rows(out.c):
        out.add(*row)


def _generator(device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(SEED)


def _randn(*shape: int, device: torch.device, gen: torch.Generator, dtype: torch.dtype = CHECK_DTYPE) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, device=device, generator=gen)


def _like(t: Any, ref: torch.Tensor) -> str:
    """'' when t is a tensor with ref's shape, dtype and device, else what differs."""
    if not isinstance(t, torch.Tensor):
        return f"expected a tensor, got {type(t).__name__}"
    bad = [
        f"{what} {got} (expected {want})"
        for what, got, want in (
            ("shape", tuple(t.shape), tuple(ref.shape)),
            ("dtype", t.dtype, ref.dtype),
            ("device", t.device, ref.device),
        )
        if got != want
    ]
    return ", ".join(bad)


# -- layers ------------------------------------------------------------------------------------


class _Reseeded(Module):
    """Runs ``inner`` with torch's global RNG re-seeded before every forward (same random draws)."""

    def __init__(self, inner: Module, seed: int) -> None:
        super().__init__()
        self.inner = inner
        self.seed = seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(self.seed)
        return self.inner.forward(x)

    def backward(self, dout: torch.Tensor) -> torch.Tensor | None:
        return self.inner.backward(dout)


def _build_small_layer(c: Component, device: torch.device) -> tuple[Module, int]:
    factory = c.obj
    kwargs: dict[str, Any] = {}
    for key, value in (("in_features", 6), ("out_features", 5), ("dtype", CHECK_DTYPE), ("device", device)):
        if signature_accepts(factory, key):
            kwargs[key] = value
    kwargs.update(c.metadata.get("check_kwargs") or {})
    layer = factory(**kwargs)
    if not isinstance(layer, Module):
        raise TypeError(f"the factory returned a {type(layer).__name__}, not a minifc.nn.Module")
    layer.to(device=device, dtype=CHECK_DTYPE)
    return layer, int(kwargs.get("in_features", 6))


def _check_layer(out: _Rows, device: torch.device) -> None:
    layer, width = _build_small_layer(out.c, device)
    # not the seed check_module draws dout from: dout == x would make normalization layers' dx zero
    gen = torch.Generator(device=device).manual_seed(SEED + 1)
    x = _randn(4, width, device=device, gen=gen).mul_(2).add_(0.5)
    net = _Reseeded(layer, SEED)
    devices = [device.index or 0] if device.type == "cuda" else []
    for mode in ("train", "eval"):
        net.train(mode == "train")
        with torch.random.fork_rng(devices=devices):
            try:
                y = net.forward(x.clone())
                problem = "" if isinstance(y, torch.Tensor) else f"forward returned {type(y).__name__}"
                if not problem and (y.dtype != x.dtype or y.device != x.device):
                    problem = f"output is {y.dtype} on {y.device}, input {x.dtype} on {x.device}"
                out.add(f"{mode}: forward dtype/device", None, not problem, problem)
                errors = check_module(net, x.clone(), seed=SEED)
            except Exception as e:  # noqa: BLE001
                out.fail(f"{mode}: backward", e)
                continue
        for name, err in errors.items():
            label = "dx" if name == "dx" else "grad " + name.removeprefix("inner.")
            out.add(f"{mode}: {label}", err)
    _check_layer_float32(out, device)
    check_layer_bf16(out.add, layer, x, SEED)


def _check_layer_float32(out: _Rows, device: torch.device) -> None:
    """Trained in float32 (the Trainer's default), a layer must keep float32: output, dx and grads."""
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        layer, width = _build_small_layer(out.c, device)
        layer.to(dtype=torch.float32).train()
        gen = torch.Generator(device=device).manual_seed(SEED + 2)
        x = _randn(4, width, device=device, gen=gen, dtype=torch.float32)
        with torch.random.fork_rng(devices=devices):
            y = layer.forward(x)
            dx = layer.backward(torch.ones_like(y))
        found = [("output", y), ("dx", dx)] + [(f"grad {n}", p.grad) for n, p in layer.named_parameters()]
        bad = [f"{what} is {t.dtype}" for what, t in found if isinstance(t, torch.Tensor) and t.dtype != torch.float32]
        problem = "; ".join(bad)
    except Exception as e:  # noqa: BLE001
        out.fail("float32: forward/backward", e)
        return
    out.add("float32: output, dx and grads stay float32", None, not problem, problem)


# -- losses ------------------------------------------------------------------------------------


def _check_loss(out: _Rows, device: torch.device) -> None:
    gen = _generator(device)
    scores = _randn(5, 4, device=device, gen=gen)
    y = torch.randint(0, 4, (5,), device=device, generator=gen)
    loss, dscores = out.c.obj(scores, y)
    problem = _like(dscores, scores)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        problem = f"loss must be a 0-dim tensor, got {loss!r}"
    out.add("outputs", None, not problem, problem)
    out.add("dscores", check_loss(out.c.obj, scores, y))
    scores32 = scores.float()
    loss32, dscores32 = out.c.obj(scores32, y)
    problem = "" if dscores32.dtype == torch.float32 else f"dscores is {dscores32.dtype} for float32 scores"
    out.add("float32: dscores stays float32", None, not problem, problem)
    check_loss_bf16(out.add, out.c.obj, scores, y)


# -- regularizers --------------------------------------------------------------------------------


def _check_config(c: Component) -> dict[str, Any]:
    """``check_config`` metadata, else the defaults with zero-valued numbers set to 0.1."""
    given = c.metadata.get("check_config")
    if given is not None:
        return dict(given)
    config = dict(c.metadata.get("defaults") or getattr(c.obj, "defaults", None) or {})
    for key, value in config.items():
        if not isinstance(value, bool) and isinstance(value, (int, float)) and value == 0:
            config[key] = 0.1
    return config


def _check_regularizer(out: _Rows, device: torch.device) -> None:
    c = out.c
    config = _check_config(c)
    gen = _generator(device)
    if c.metadata.get("stage", "loss") == "update":
        config.setdefault("learning_rate", 1e-2)
        for dtype in (torch.float32, CHECK_DTYPE):
            w = _randn(6, 5, device=device, gen=gen, dtype=dtype).mul_(3)
            next_w = c.obj(w.clone(), dict(config))
            problem = _like(next_w, w)
            if not problem and not bool(torch.isfinite(next_w).all()):
                problem = "next_w has non-finite values"
            label = f"update {str(dtype).removeprefix('torch.')}: shape/dtype/device/finite"
            out.add(label, None, not problem, problem)
        return
    shapes = [(6, 5)] + ([(5,)] if c.metadata.get("applies_to") == "all" else [])
    for shape in shapes:
        w = _randn(*shape, device=device, gen=gen)
        w0 = w.clone()
        penalty, dpenalty = c.obj(w, dict(config))
        problem = _like(dpenalty, w)
        if not isinstance(penalty, torch.Tensor) or penalty.numel() != 1:
            problem = f"penalty must be a scalar tensor, got {penalty!r}"
        elif not torch.equal(w, w0):
            problem = "the regularizer changed w in place"
        out.add(f"outputs {shape}", None, not problem, problem)
        num = compute_numeric_gradient(lambda t: c.obj(t, dict(config))[0], w)
        out.add(f"dpenalty {shape}", rel_error(num, dpenalty))


# -- update rules --------------------------------------------------------------------------------


def _check_update_rule(out: _Rows, device: torch.device) -> None:
    c = out.c
    given = c.metadata.get("check_config")
    config: dict[str, Any] | None = dict(given) if given is not None else None
    gen = _generator(device)
    w = _randn(6, 5, device=device, gen=gen)
    target = _randn(6, 5, device=device, gen=gen)
    ref = w.clone()
    f0 = 0.5 * float(((w - target) ** 2).sum())
    problem = ""
    for step in range(UPDATE_STEPS):
        dw = w - target
        next_w, config = c.obj(w, dw, config)
        problem = _like(next_w, ref)
        if not problem and not isinstance(config, dict):
            problem = f"the rule returned a {type(config).__name__} as config, not a dict"
        if not problem:
            for key, value in config.items():
                if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                    continue
                if value.dtype != ref.dtype or value.device != ref.device:
                    problem = f"state {key!r} is {value.dtype} on {value.device}, w is {ref.dtype} on {ref.device}"
                    break
        if problem:
            problem = f"step {step + 1}: {problem}"
            break
        w = next_w
    out.add("keeps shape/dtype/device", None, not problem, problem)
    if problem:
        return
    f1 = 0.5 * float(((w - target) ** 2).sum())
    ratio = f1 / f0
    ok = math.isfinite(ratio) and ratio < 1.0
    out.add(f"decreases 0.5||w-t||^2 in {UPDATE_STEPS} steps (f/f0)", ratio, ok, "" if ok else f"f/f0 = {ratio:.3g}")
    for form in ("foreach", "fused", "sink"):
        if getattr(c.obj, form, None) is not None:
            config = dict(given) if given is not None else None
            out.add(*check_rule_form(c.obj, form, config, device, UPDATE_STEPS, TOLERANCE))
