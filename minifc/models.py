"""The classic models, built on the Module graph: ``TwoLayerNet`` and ``FullyConnectedNet``.

The classic contract is ``model.params`` (a dict of tensors) and ``model.loss(X, y=None)``, which
returns scores when y is None, else ``(loss, grads)`` with grads keyed like params. Here ``params`` is
a plain dict that the graph's parameters read their tensors from: ``model.params[name] = tensor`` (as
the classic Solver does after every update) replaces the tensor inside the layer, ``params.copy()``
and ``torch.save(model.params, f)`` work as on any dict, and ``model.params = other_dict`` rebinds
every layer to the new dict.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from . import functional as F
from .io.checkpoint import atomic_save, check_finite
from .io.classic_checkpoint import converted_params, load_target, read_classic_checkpoint
from .nn.classifier import LOSSES, Classifier
from .nn.modules import Dropout, Linear, LinearReLU, Module, Sequential
from .validate import check_float_dtype, check_number, check_positive_int

__all__ = ["LOSSES", "Classifier", "TwoLayerNet", "FullyConnectedNet"]


class _ClassicNet(Classifier):
    """Shared save/load of the classic models (see :mod:`minifc.io.classic_checkpoint`)."""

    def _config(self) -> dict[str, Any]:
        raise NotImplementedError

    def _args_from(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments that rebuild the layers of a checkpoint read by ``load``."""
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def save(self, path: str | os.PathLike) -> None:
        """Write reg, dtype and params (the course's keys) plus the constructor's config to ``path``,
        atomically; loadable with ``torch.load(weights_only=True)``. Refuses NaN/Inf parameters."""
        params = {k: v.detach().cpu() for k, v in self.params.items()}
        check_finite(params, f"{type(self).__name__}.save({str(path)!r}): params")
        checkpoint = {
            "model": type(self).__name__,
            "config": self._config(),
            "reg": self.reg,
            "dtype": self.dtype,
            "params": params,
            **self._extra_state(),
        }
        atomic_save(checkpoint, path)
        print(f"Saved in {path}")

    def load(
        self, path: str | os.PathLike, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
    ) -> None:
        """Rebuild this model from ``path`` (written by :meth:`save` or by the course's own ``save``), on
        ``device`` in ``dtype`` (default: the file's). The arguments and the whole file are checked first,
        and the model is built aside: a bad file raises :class:`~minifc.errors.CheckpointError` naming it,
        a device not present here a ValueError naming it, and either leaves the model unchanged.
        Draws no random numbers."""
        dtype, target = load_target(dtype, device, f"{type(self).__name__}.load")
        checkpoint = read_classic_checkpoint(path, type(self).__name__)
        dtype = dtype or checkpoint["dtype"] or torch.float32
        params = converted_params(checkpoint, path, dtype, target)
        fresh: Any = type(self).__new__(type(self))  # built aside, no init values drawn; self changes only at the end
        fresh.__init__(**self._args_from(checkpoint), reg=checkpoint["reg"], dtype=dtype, device="meta")
        fresh.params = params
        vars(self).update(vars(fresh))
        print(f"load checkpoint file: {path}")


def _scale(weight_scale: float | None, model: str) -> float | None:
    """A model's ``weight_scale``: None (He initialisation) or a finite number >= 0."""
    return None if weight_scale is None else check_number(weight_scale, f"{model} weight_scale", minimum=0.0)


def _positive_int(value: Any, what: str) -> int:
    return check_positive_int(value, what)


class TwoLayerNet(_ClassicNet):
    """affine - relu - affine - softmax, with params W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)."""

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float | None = 1e-3,
        reg: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        dims = [
            _positive_int(d, n)
            for d, n in ((input_dim, "input_dim"), (hidden_dim, "hidden_dim"), (num_classes, "num_classes"))
        ]
        self.input_dim, self.hidden_dim, self.num_classes = dims
        self.weight_scale = _scale(weight_scale, "TwoLayerNet")
        check_float_dtype(dtype, "TwoLayerNet dtype")
        net = Sequential(
            LinearReLU(dims[0], dims[1], weight_scale, dtype, device),
            Linear(dims[1], dims[2], weight_scale, dtype, device),
        )
        net[0].label, net[1].label = "layer 1 (W1)", "layer 2 (W2)"
        names = {"W1": "0.weight", "b1": "0.bias", "W2": "1.weight", "b2": "1.bias"}
        super().__init__(net, "softmax", reg, names)

    def _config(self) -> dict[str, Any]:
        return {
            "input_dim": self.input_dim,
            "hidden_dim": self.hidden_dim,
            "num_classes": self.num_classes,
            "weight_scale": self.weight_scale,
        }

    def _args_from(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        input_dim, hidden_dim, num_classes = checkpoint["dims"]
        scale = checkpoint["config"].get("weight_scale", getattr(self, "weight_scale", 1e-3))
        return {"input_dim": input_dim, "hidden_dim": hidden_dim, "num_classes": num_classes, "weight_scale": scale}


class FullyConnectedNet(_ClassicNet):
    """{affine - relu - [dropout]} x (L - 1) - affine - softmax, params W1 b1 ... WL bL."""

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        dropout: float = 0.0,
        reg: float = 0.0,
        weight_scale: float | None = 1e-2,
        seed: int | None = None,
        dtype: torch.dtype = torch.float,
        device: str | torch.device = "cpu",
    ) -> None:
        if isinstance(hidden_dims, int) or not hidden_dims:
            raise ValueError(f"hidden_dims must be a non-empty list of positive integers, got {hidden_dims!r}")
        hidden = [_positive_int(h, f"hidden_dims[{i}]") for i, h in enumerate(hidden_dims)]
        _positive_int(input_dim, "input_dim")
        _positive_int(num_classes, "num_classes")
        p = F.check_drop_probability(dropout, "FullyConnectedNet dropout")
        weight_scale = _scale(weight_scale, "FullyConnectedNet")
        check_float_dtype(dtype, "FullyConnectedNet dtype")
        self.hidden_dims, self.input_dim, self.num_classes = list(hidden), input_dim, num_classes
        self.dropout, self.weight_scale, self.seed = p, weight_scale, seed
        self.num_layers = 1 + len(hidden)
        self.use_dropout = p != 0
        self.dropout_param: dict[str, Any] = {"mode": "train", "p": p} if self.use_dropout else {}
        if self.use_dropout and seed is not None:
            self.dropout_param["seed"] = seed
        dims = [input_dim, *hidden, num_classes]
        layers: list[Module] = []
        names = {}
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            layer = (Linear if last else LinearReLU)(dims[i], dims[i + 1], weight_scale, dtype, device)
            layer.label = f"layer {i + 1} (W{i + 1})"
            names[f"W{i + 1}"], names[f"b{i + 1}"] = f"{len(layers)}.weight", f"{len(layers)}.bias"
            layers.append(layer)
            if not last and self.use_dropout:
                layers.append(Dropout(p, seed))
        super().__init__(Sequential(*layers), "softmax", reg, names)
        self._dropouts = [m for m in layers if isinstance(m, Dropout)]

    def _config(self) -> dict[str, Any]:
        return {
            "hidden_dims": self.hidden_dims,
            "input_dim": self.input_dim,
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            "weight_scale": self.weight_scale,
            "seed": self.seed,
        }

    def _extra_state(self) -> dict[str, Any]:
        dropout_param = dict(self.dropout_param)
        return {"num_layers": self.num_layers, "use_dropout": self.use_dropout, "dropout_param": dropout_param}

    def _args_from(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        dims, dropout_param = checkpoint["dims"], checkpoint["dropout_param"]
        return {
            "hidden_dims": dims[1:-1],
            "input_dim": dims[0],
            "num_classes": dims[-1],
            "dropout": dropout_param.get("p", 0.0),
            "weight_scale": checkpoint["config"].get("weight_scale", getattr(self, "weight_scale", 1e-2)),
            "seed": dropout_param.get("seed"),
        }

    def _before_forward(self, training: bool) -> None:
        """The dropout layers follow ``dropout_param`` as it is now (``p``, ``seed``), and
        ``dropout_param['mode']`` is set to 'train' or 'test' as the course's model does."""
        if self.use_dropout:
            dp = self.dropout_param
            dp["mode"] = "train" if training else "test"
            p, seed = F.check_drop_probability(dp["p"]), dp.get("seed")
            for m in self._dropouts:
                m.p, m.seed = p, seed
