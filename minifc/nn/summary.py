"""A model's summary: its layers in order, each one's output shape and parameter count, and the total.

``print(minifc.summary(model))`` prints one compact table. The output shapes come from one forward pass
of a zero batch of two samples in eval mode (no dropout, no running statistics updated, the random
number generators left as they were); the model's parameters do not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import ShapeError
from ..models import Classifier
from .modules import Module, Sequential

__all__ = ["LayerSummary", "ModelSummary", "summary"]


@dataclass(frozen=True)
class LayerSummary:
    """One layer: ``name`` (position and class, e.g. ``0 LinearReLU(3072, 100)``), ``output_shape`` (the
    shape after it, the batch dimension as None; None when unknown) and ``params`` (its parameter count)."""

    name: str
    output_shape: tuple[int | None, ...] | None
    params: int


@dataclass(frozen=True)
class ModelSummary:
    """The layers of a model in order (:class:`LayerSummary`) and its input shape (batch as None);
    ``str()`` is the table ``minifc train`` prints."""

    layers: tuple[LayerSummary, ...]
    input_shape: tuple[int | None, ...]

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    def __str__(self) -> str:
        rows = [("layer", "output shape", "parameters"), ("input", _shape(self.input_shape), "")]
        rows += [(layer.name, _shape(layer.output_shape), f"{layer.params:,}") for layer in self.layers]
        rows.append(("total", "", f"{self.total_params:,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]

        def line(row: Sequence[str]) -> str:
            return f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2].rjust(widths[2])}".rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([line(rows[0]), rule, *map(line, rows[1:-1]), rule, line(rows[-1])])


def summary(model: Classifier | Module, input_dim: int | Sequence[int] | None = None) -> ModelSummary:
    """The summary of ``model`` (a :class:`~minifc.Classifier` such as ``FullyConnectedNet``, or any
    :class:`~minifc.nn.Module`) for inputs of ``input_dim`` features per sample (an int, or a sample's
    shape such as ``(3, 32, 32)``); by default the model's ``input_dim`` or its first Linear layer's
    ``in_features``. A layer whose forward pass fails on the zero batch gets no output shape, nor do the
    layers after it."""
    net = model.net if isinstance(model, Classifier) else model
    if not isinstance(net, Module):
        raise TypeError(f"summary: expected a minifc Classifier or nn.Module, got {type(model).__name__}")
    sample = _input_shape(model, net, input_dim)
    children = list(net) if isinstance(net, Sequential) else [net]
    shapes = _output_shapes(net, children, sample)
    layers = tuple(
        LayerSummary(_name(i, m, len(children) > 1), shapes[i], sum(p.data.numel() for p in m.parameters()))
        for i, m in enumerate(children)
    )
    return ModelSummary(layers, (None, *sample))


def _input_shape(model: object, net: Module, input_dim: int | Sequence[int] | None) -> tuple[int, ...]:
    if input_dim is None:
        input_dim = getattr(model, "input_dim", None)
    if input_dim is None:
        first = next((m for m in net.modules() if hasattr(m, "in_features")), None)
        input_dim = getattr(first, "in_features", None)
    if input_dim is None:
        raise ValueError("summary: give input_dim, the number of input features per sample (the model names none)")
    shape = (input_dim,) if isinstance(input_dim, int) else tuple(input_dim)
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(f"summary: input_dim must be a positive integer or a shape of them, got {input_dim!r}")
    return shape


def _output_shapes(net: Module, children: list[Module], sample: tuple[int, ...]) -> list[tuple[int | None, ...] | None]:
    params = net.parameters()
    like = params[0].data if params else torch.zeros(())
    x: torch.Tensor | None = torch.zeros((2, *sample), dtype=like.dtype, device=like.device)
    shapes: list[tuple[int | None, ...] | None] = []
    training = net.training
    devices = [like.device] if like.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            net.eval()
            for m in children:
                try:
                    x = None if x is None else m.forward(x)
                except (ShapeError, RuntimeError, ValueError, TypeError, IndexError):
                    x = None
                if isinstance(x, torch.Tensor) and x.dim() >= 1:
                    shapes.append((None, *x.shape[1:]))
                else:
                    shapes.append(None)
                    x = None
    finally:
        net.train(training)
    return shapes


def _name(i: int, m: Module, numbered: bool) -> str:
    extra = m.extra_repr()
    leaf = next(m.children(), None) is None
    label = f"{type(m).__name__}({extra})" if extra or leaf else type(m).__name__
    return f"{i} {label}" if numbered else label


def _shape(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"
