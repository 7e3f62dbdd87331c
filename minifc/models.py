"""The classic models, built on the Module graph: ``TwoLayerNet`` and ``FullyConnectedNet``.

The classic contract is ``model.params`` (a dict of tensors) and ``model.loss(X, y=None)``, which
returns scores when y is None, else ``(loss, grads)`` with grads keyed like params. Here ``params`` is
a live view of the graph's parameters: reading gives the tensors the layers compute with, and
assigning ``model.params[name] = tensor`` (as the classic Solver does after every update) replaces
the tensor inside the layer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import torch

from . import functional as F
from .checkpoint import atomic_save, safe_load
from .errors import ShapeError
from .nn import Dropout, Linear, LinearReLU, Module, Parameter, Sequential

__all__ = ["ParamDict", "Classifier", "TwoLayerNet", "FullyConnectedNet"]


class ParamDict(MutableMapping):
    """A dict-like view ``name -> tensor`` over Parameters; setting an item replaces ``.data``."""

    def __init__(self, parameters: dict[str, Parameter]) -> None:
        self._parameters = parameters

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._parameters[name].data

    def __setitem__(self, name: str, value: torch.Tensor) -> None:
        if name not in self._parameters:
            raise KeyError(f"no parameter named {name!r}; the model has {', '.join(self._parameters)}")
        p = self._parameters[name]
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"params[{name!r}] must be a tensor, got {type(value).__name__}")
        if value.shape != p.data.shape:
            raise ShapeError(
                f"params[{name!r}]: new value has shape {tuple(value.shape)}, expected {tuple(p.data.shape)}"
            )
        p.data = value

    def __delitem__(self, name: str) -> None:
        raise TypeError("parameters cannot be removed from a model")

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __len__(self) -> int:
        return len(self._parameters)

    def __repr__(self) -> str:
        return "ParamDict(" + ", ".join(f"{k}: {tuple(v.shape)}" for k, v in self.items()) + ")"


LOSSES = {"softmax": F.softmax_loss, "svm": F.svm_loss}


class Classifier:
    """Any Module plus a loss, with the classic model contract (``params``, ``loss(X, y=None)``).

    ``param_names`` maps the classic names (W1, b1, ...) to the module's dotted parameter names; by
    default the dotted names are used. ``reg`` adds ``reg * sum(W**2)`` over parameters with two or
    more dimensions (the weights), the classic L2 penalty. ``loss`` is a function
    ``(scores, y) -> (loss, dscores)`` or a registered loss name.
    """

    def __init__(
        self,
        net: Module,
        loss: Any = "softmax",
        reg: float = 0.0,
        param_names: dict[str, str] | None = None,
    ) -> None:
        self.net = net
        self.reg = reg
        self.loss_fn = _resolve_loss(loss)
        named = dict(net.named_parameters())
        mapping = param_names or {n: n for n in named}
        self._param_objects = {classic: named[dotted] for classic, dotted in mapping.items()}
        first = next(m for m in net.modules() if not m._modules)
        if isinstance(first, Linear):
            first.input_grad = False  # the input layer's dx is never needed for training

    @property
    def params(self) -> ParamDict:
        return ParamDict(self._param_objects)

    @params.setter
    def params(self, values: dict[str, torch.Tensor]) -> None:
        view = self.params
        for name, value in values.items():
            view[name] = value

    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self._param_objects.values())).data.dtype

    @property
    def device(self) -> torch.device:
        return next(iter(self._param_objects.values())).data.device

    def loss(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        sinks: Mapping[str, tuple[torch.Tensor, float, float]] | None = None,
        before_backward: Callable[[torch.Tensor], object] | None = None,
    ) -> Any:
        """X (N, d_1, ..., d_k) -> scores (N, C) when y is None, else ``(loss, grads)``.

        For trainers: ``before_backward(loss)`` runs between the loss and the backward pass (e.g. to
        stop on a non-finite loss before anything changes); ``sinks`` maps parameter names to
        :attr:`minifc.nn.Parameter.sink` values for this backward pass. A parameter whose layer
        consumed its sink is updated already and has no entry in ``grads``. Needs ``reg == 0``.
        """
        self._check_input(X)
        if sinks and self.reg:
            raise ValueError("Classifier.loss: sinks need reg == 0 (the L2 gradient would bypass them)")
        with torch.no_grad():
            self.net.train(y is not None)
            scores = self.net.forward(X)
            if y is None:
                return scores
            loss, dscores = self.loss_fn(scores, y)
            if self.reg:
                for p in self._param_objects.values():
                    if p.data.dim() >= 2:
                        loss = loss + self.reg * (p.data * p.data).sum()
            if before_backward is not None:
                before_backward(loss)
            for name, p in self._param_objects.items():
                p.grad = None
                p.sink = sinks.get(name) if sinks else None
            try:
                self.net.backward(dscores)
            finally:
                consumed = set()
                for name, p in self._param_objects.items():
                    if p.sink is not None and p.grad is None:
                        consumed.add(name)
                    p.sink = None
            grads = {}
            for name, p in self._param_objects.items():
                g = p.grad
                if g is None:
                    if name in consumed:
                        continue
                    raise RuntimeError(f"backward left no gradient for parameter {name}")
                if self.reg and p.data.dim() >= 2:
                    g = g.add(p.data, alpha=2 * self.reg)
                grads[name] = g
        return loss, grads

    def _check_input(self, X: torch.Tensor) -> None:
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"{type(self).__name__}.loss: X must be a torch.Tensor, got {type(X).__name__}")
        dtype, device = self.dtype, self.device
        if X.device != device:
            raise ValueError(f"{type(self).__name__}: X is on {X.device} but the model's parameters are on {device}")
        if X.dtype != dtype:
            raise TypeError(f"{type(self).__name__}: X has dtype {X.dtype} but the model's parameters are {dtype}")

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.net.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(state)


def _resolve_loss(loss: Any) -> Any:
    if callable(loss):
        return loss
    from .registry import get_loss

    return get_loss(loss)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _to_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}")
    return dtype


class _ClassicNet(Classifier):
    """Shared save/load of the classic models: config plus params, plain values only."""

    def _config(self) -> dict[str, Any]:
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> None:
        """Write config and params to ``path`` (atomically; loadable with weights_only=True)."""
        checkpoint = {
            "model": type(self).__name__,
            "config": self._config(),
            "reg": self.reg,
            "dtype": _dtype_name(self.dtype),
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
        }
        atomic_save(checkpoint, path)
        print(f"Saved in {path}")

    def load(
        self, path: str | os.PathLike, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
    ) -> None:
        """Rebuild this model from a file written by :meth:`save`, on ``device`` in ``dtype``."""
        checkpoint = safe_load(path)
        if checkpoint.get("model") != type(self).__name__:
            raise ValueError(f"{path} holds a {checkpoint.get('model')}, not a {type(self).__name__}")
        dtype = _to_dtype(dtype or checkpoint["dtype"])
        self.__init__(**checkpoint["config"], reg=checkpoint["reg"], dtype=dtype, device=device)
        self.params = {k: v.to(device=device, dtype=dtype) for k, v in checkpoint["params"].items()}
        print(f"load checkpoint file: {path}")


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


class TwoLayerNet(_ClassicNet):
    """affine - relu - affine - softmax, with params W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)."""

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        dims = [
            _positive_int(d, n)
            for d, n in ((input_dim, "input_dim"), (hidden_dim, "hidden_dim"), (num_classes, "num_classes"))
        ]
        self.input_dim, self.hidden_dim, self.num_classes = dims
        self.weight_scale = weight_scale
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


class FullyConnectedNet(_ClassicNet):
    """{affine - relu - [dropout]} x (L - 1) - affine - softmax, params W1 b1 ... WL bL."""

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        dropout: float = 0.0,
        reg: float = 0.0,
        weight_scale: float = 1e-2,
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
        self.hidden_dims, self.input_dim, self.num_classes = list(hidden), input_dim, num_classes
        self.dropout, self.weight_scale, self.seed = p, weight_scale, seed
        self.num_layers = 1 + len(hidden)
        self.use_dropout = p != 0
        self.dropout_param = {"mode": "train", "p": p} if self.use_dropout else {}
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

    def _config(self) -> dict[str, Any]:
        return {
            "hidden_dims": self.hidden_dims,
            "input_dim": self.input_dim,
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            "weight_scale": self.weight_scale,
            "seed": self.seed,
        }
