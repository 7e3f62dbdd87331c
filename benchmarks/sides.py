"""The contestants of the throughput benchmark: what one training step is on each side.

Every side starts from the same initial weights (the config's minifc model, seeded) and sees the same
sequence of minibatches (a seeded permutation per epoch); a step takes a batch, runs forward and
backward, updates every parameter and returns the loss as a Python float.

* ``trainer``: ``Trainer.step()`` of a :class:`minifc.Trainer` (its own sampler, verbose off): the code
  users run, including the Trainer's batch copy and bookkeeping;
* ``classic``: the classic Solver's loop, ``loss, grads = model.loss(X, y)`` then the update rule per
  parameter (``next_w, config = rule(w, grads[p], config)``; ``model.params[p] = next_w``);
* ``torch``: ``nn.Sequential(Linear, ReLU, [Dropout], ...)``, ``F.cross_entropy``, ``loss.backward()``
  and the equivalent ``torch.optim`` rule in its default implementation;
* ``torch-fused``: the same with ``fused=True`` (one kernel for the whole update);
* ``torch-compile``: the same step (zero_grad, forward, loss, backward, optimizer step) as one function
  under ``torch.compile`` (default mode, default optimizer implementation);
* ``mm``: only the matrix products of one step in minifc's layout (weights (in, out) contiguous), into
  preallocated outputs: the machine's matmul throughput for this work, the yardstick of "% of mm".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as TF
from common import Config, PermutationSampler, layer_shapes, make_model
from torch import nn

import minifc

MINIFC_SIDES = ("trainer", "classic")
REFERENCES = ("torch", "torch-fused", "torch-compile")
LABELS = {
    "trainer": "minifc Trainer",
    "classic": "minifc classic loop",
    "torch": "torch",
    "torch-fused": "torch fused=True",
    "torch-compile": "torch.compile",
    "mm": "matmul only",
    "trainer-clip": "minifc Trainer + clip_norm",
}
#: the gradient transforms of the "trainer-clip" side (throughput.py --clip-norm): the cost of clipping
CLIP_CHAIN = ["clip_norm:max_norm=1.0"]


class Unavailable(Exception):
    """A side that cannot run here; the message says why."""


@dataclass
class Side:
    """``step() -> loss`` and ``weights()``: the parameters as [W1 (in, out), b1, W2, ...] (for checks).
    ``keep``: set-up objects held alive, so that memory freed after set-up cannot serve the steps."""

    step: Callable[[], float | None]
    weights: Callable[[], list[torch.Tensor]]
    keep: object = None


def make_trainer(cfg: Config, data: dict, device: torch.device, dtype: torch.dtype, seed: int = 0,
                 **kwargs) -> minifc.Trainer:
    """A quiet one-epoch Trainer on the config's model; ``kwargs`` override the Trainer's options."""
    options = dict(update_rule=cfg.update_rule, optim_config=cfg.optim_config, batch_size=cfg.batch_size,
                   num_epochs=1, device=device, seed=seed, verbose=False, progress=False)
    return minifc.Trainer(make_model(cfg, device, dtype, seed), data, **{**options, **kwargs})


def minifc_weights(model: minifc.FullyConnectedNet) -> Callable[[], list[torch.Tensor]]:
    n = model.num_layers
    return lambda: [model.params[f"{k}{i}"] for i in range(1, n + 1) for k in "Wb"]


def trainer_side(cfg: Config, data: dict, device: torch.device, dtype: torch.dtype, seed: int = 0,
                 **kwargs) -> Side:
    trainer = make_trainer(cfg, data, device, dtype, seed, **kwargs)
    return Side(trainer.step, minifc_weights(trainer.model))


def classic_side(cfg: Config, sampler: PermutationSampler, device: torch.device, dtype: torch.dtype,
                 seed: int = 0) -> Side:
    """The classic Solver's step: ``model.loss`` then the rule on each parameter in turn."""
    model = make_model(cfg, device, dtype, seed)
    rule = getattr(minifc.optim, cfg.update_rule)
    configs = {p: dict(cfg.optim_config) for p in model.params}
    count = [0]

    def step() -> float:
        X, y = sampler.next_batch(count[0])
        count[0] += 1
        loss, grads = model.loss(X, y)
        for p, w in model.params.items():
            next_w, configs[p] = rule(w, grads[p], configs[p])
            model.params[p] = next_w
        return loss.item()

    return Side(step, minifc_weights(model))


def torch_net(cfg: Config, model: minifc.FullyConnectedNet) -> nn.Sequential:
    """``nn.Sequential`` of the config with the minifc model's weights (torch keeps W as (out, in))."""
    layers: list[nn.Module] = []
    num_layers = len(cfg.dims) - 1
    for i in range(num_layers):
        linear = nn.Linear(cfg.dims[i], cfg.dims[i + 1], device=model.device, dtype=model.dtype)
        with torch.no_grad():
            linear.weight.copy_(model.params[f"W{i + 1}"].t())
            linear.bias.copy_(model.params[f"b{i + 1}"])
        layers.append(linear)
        if i < num_layers - 1:
            layers.append(nn.ReLU())
            if cfg.dropout:
                layers.append(nn.Dropout(cfg.dropout))
    return nn.Sequential(*layers).train()


def torch_optimizer(cfg: Config, params, fused: bool | None = None) -> torch.optim.Optimizer:
    """The torch.optim rule that computes what the minifc rule does (torch's defaults otherwise)."""
    c = cfg.optim_config
    if cfg.update_rule == "sgd":
        return torch.optim.SGD(params, lr=c["learning_rate"], fused=fused)
    if cfg.update_rule == "sgd_momentum":
        # classic: v = mu v - lr dw; w += v.  torch: b = mu b + dw; w -= lr b.  With v = -lr b both give the
        # same w at every step for a constant lr (the same lr and momentum, dampening 0, no Nesterov).
        return torch.optim.SGD(params, lr=c["learning_rate"], momentum=c["momentum"], fused=fused)
    if cfg.update_rule == "adam":
        # both: bias-corrected m / (sqrt(v_hat) + eps) with t counted from 1; minifc's defaults are torch's.
        return torch.optim.Adam(params, lr=c["learning_rate"], betas=(0.9, 0.999), eps=1e-8, fused=fused)
    raise ValueError(f"no torch equivalent configured for {cfg.update_rule!r}")


def torch_side(cfg: Config, variant: str, sampler: PermutationSampler, device: torch.device, dtype: torch.dtype,
               seed: int = 0) -> Side:
    """``variant``: ``torch``, ``torch-fused`` or ``torch-compile``. Raises :class:`Unavailable` when the
    installed torch refuses the variant here (a compiled step can still fail at its first call)."""
    init = make_model(cfg, device, dtype, seed)
    net = torch_net(cfg, init)
    try:
        opt = torch_optimizer(cfg, net.parameters(), fused=True if variant == "torch-fused" else None)
    except (RuntimeError, ValueError, TypeError) as e:
        raise Unavailable(f"{type(e).__name__}: {str(e).splitlines()[0]}") from None

    def train_step(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = TF.cross_entropy(net(X), y)
        loss.backward()
        opt.step()
        return loss.detach()

    if variant == "torch-compile":
        torch.compiler.reset()  # a fresh cache: configs must not share (and exhaust) the recompile budget
        train_step = torch.compile(train_step)
    count = [0]

    def step() -> float:
        X, y = sampler.next_batch(count[0])
        count[0] += 1
        return train_step(X, y).item()

    linears = [m for m in net if isinstance(m, nn.Linear)]
    return Side(step, lambda: [t for m in linears for t in (m.weight.detach().t(), m.bias.detach())], keep=init)


def mm_side(cfg: Config, device: torch.device, dtype: torch.dtype) -> Side:
    """Only the matrix products of one step, in minifc's layout: forward x W, dW = x^T dout, dx = dout W^T
    (no dx for the first layer)."""
    work = []
    for i, (n, d_in, d_out) in enumerate(layer_shapes(cfg)):
        x = torch.randn(n, d_in, device=device, dtype=dtype)
        w = torch.randn(d_in, d_out, device=device, dtype=dtype)
        dout = torch.randn(n, d_out, device=device, dtype=dtype)
        work.append((x, w, torch.empty(n, d_out, device=device, dtype=dtype)))
        work.append((x.t(), dout, torch.empty(d_in, d_out, device=device, dtype=dtype)))
        if i > 0:
            work.append((dout, w.t(), torch.empty(n, d_in, device=device, dtype=dtype)))

    def step() -> None:
        for a, b, out in work:
            torch.mm(a, b, out=out)

    return Side(step, lambda: [])


def build_side(name: str, cfg: Config, data: dict, device: torch.device, dtype: torch.dtype,
               gather: str = "index", seed: int = 0) -> Side:
    """The side ``name`` (see the module's docstring); the torch sides take batches by ``gather``."""
    if name == "trainer":
        return trainer_side(cfg, data, device, dtype, seed)
    if name == "trainer-clip":
        return trainer_side(cfg, data, device, dtype, seed, gradient_transforms=CLIP_CHAIN)
    if name == "mm":
        return mm_side(cfg, device, dtype)
    X, y = data["X_train"], data["y_train"]
    if name == "classic":  # the classic Solver takes its batch as X[idx]
        return classic_side(cfg, PermutationSampler(X, y, cfg.batch_size, seed, "index"), device, dtype, seed)
    if name in REFERENCES:
        return torch_side(cfg, name, PermutationSampler(X, y, cfg.batch_size, seed, gather), device, dtype, seed)
    raise ValueError(f"unknown side {name!r}; known: {', '.join(LABELS)}")
