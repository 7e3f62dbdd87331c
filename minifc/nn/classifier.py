"""``Classifier``: any Module plus a loss, with the classic model contract (``params``, ``loss(X, y=None)``).

The classic models (:mod:`minifc.models`) are Classifiers over a Sequential of Linear / ReLU / Dropout
layers; ``minifc train`` wraps a ``build_net`` stack in one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from .. import functional as F
from ..errors import ShapeError, check_finite_rows
from ..registry.blame import backward_of
from ..registry.core import default_registry
from ..validate import check_float_dtype, check_number
from .modules import Linear, Module, Parameter, Sequential
from .param_dict import check_param_dict

__all__ = ["LOSSES", "Classifier", "loss_name"]


LOSSES = {"softmax": F.softmax_loss, "svm": F.svm_loss}
#: a model's forward pass leaves a non-finite loss to the Trainer's divergence report (with its hints)
_UNCHECKED = {F.softmax_loss: F.softmax_loss_unchecked, F.svm_loss: F.svm_loss_unchecked}


class Classifier:
    """Any Module plus a loss, with the classic model contract (``params``, ``loss(X, y=None)``).

    ``param_names`` maps the classic names (W1, b1, ...) to the module's dotted parameter names; by
    default the dotted names are used. ``reg`` adds ``reg * sum(W**2)`` over parameters with two or
    more dimensions (the weights), the classic L2 penalty. ``loss`` is a function
    ``(scores, y) -> (loss, dscores)`` or a registered loss name.

    ``compute_dtype``: None, or the products' dtype under a mixed-precision policy
    (:func:`minifc.nn.mixed.apply_compute_dtype`); the scores then reach the loss in the parameters' dtype.
    """

    compute_dtype: torch.dtype | None = None

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
        self._shapes = {name: p.data.shape for name, p in self._param_objects.items()}
        self.params = {name: p.data for name, p in self._param_objects.items()}
        first = next(m for m in net.modules() if not m._modules)
        if isinstance(first, Linear):
            first.input_grad = False  # the input layer's dx is never needed for training

    @property
    def reg(self) -> float:
        """Strength of the classic L2 penalty ``reg * sum(W**2)`` (a finite number >= 0)."""
        return self._reg

    @reg.setter
    def reg(self, value: float) -> None:
        self._reg = check_number(value, f"{type(self).__name__} reg", minimum=0.0)

    @property
    def params(self) -> dict[str, torch.Tensor]:
        """The classic ``name -> tensor`` dict (a plain dict; the layers read their tensors from it)."""
        return self._params

    @params.setter
    def params(self, values: Mapping[str, torch.Tensor]) -> None:
        if not isinstance(values, dict):
            raise TypeError(f"params must be a dict of tensors, got {type(values).__name__}")
        missing = [k for k in self._param_objects if k not in values]
        if missing:
            raise KeyError(f"params lacks {', '.join(missing)}; the model has {', '.join(self._param_objects)}")
        for name, value in values.items():
            if name not in self._param_objects:
                raise KeyError(f"no parameter named {name!r}; the model has {', '.join(self._param_objects)}")
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"params[{name!r}] must be a tensor, got {type(value).__name__}")
        self._params = values
        for name, p in self._param_objects.items():
            p.bind(values, name)
        self.check_params()

    def check_params(self) -> None:
        """Raise naming the entry of ``params`` that is missing, extra, not a tensor, of another shape than
        its layer's, or of another dtype or device (:func:`minifc.nn.param_dict.check_param_dict`)."""
        check_param_dict(self._params, self._shapes)

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' dtype; setting it converts every parameter (and casts later inputs)."""
        return next(iter(self._params.values())).dtype

    @dtype.setter
    def dtype(self, dtype: torch.dtype) -> None:
        self.net.to(check_float_dtype(_to_dtype(dtype), f"{type(self).__name__}.dtype"))

    @property
    def device(self) -> torch.device:
        return next(iter(self._params.values())).device

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None) -> Any:
        """X (N, d_1, ..., d_k) -> scores (N, C) when y is None, else ``(loss, grads)`` with grads keyed
        like ``params``. X is cast to the model's dtype (the classic models take float64 data with
        float32 weights). The same as :meth:`forward_loss` then :meth:`backward`, except that a
        non-finite loss caused by NaN or Inf in X raises ValueError naming the first such row (scores
        alone are returned as computed: NaN in, NaN out)."""
        if y is None:
            return self.forward_loss(X)
        loss, dscores = self.forward_loss(X, y)
        if not math.isfinite(float(loss)):  # one host read; X is looked at only when the loss is bad
            check_finite_rows(X, f"{type(self).__name__}.loss: X")
        return loss, self.backward(dscores)

    def forward_loss(self, X: torch.Tensor, y: torch.Tensor | None = None) -> Any:
        """The forward pass: scores (N, C) when y is None, else ``(loss, dscores)`` (the L2 penalty
        ``reg * sum(W**2)`` included) with the layers' caches kept for :meth:`backward`."""
        self.check_params()
        X = self._check_input(X)
        if y is not None and X.dim() > 0 and X.shape[0] == 0:
            raise ShapeError(f"{type(self).__name__}.loss: X is empty (shape {tuple(X.shape)}); a loss needs samples")
        self._before_forward(y is not None)
        with torch.no_grad():
            if self.net.training != (y is not None):  # a walk over every module: only when it changes
                self.net.train(y is not None)
            scores = self.net.forward(X)
            if self.compute_dtype is not None:  # the loss and softmax in the master dtype
                scores = scores.to(self.dtype)
            if y is None:
                return scores
            loss, dscores = self.loss_fn(scores, y)
            if self.reg:
                for p in self._param_objects.values():
                    if p.data.dim() >= 2:
                        loss = loss + self.reg * (p.data * p.data).sum()
        return loss, dscores

    def backward(
        self, dscores: torch.Tensor, on_ready: Callable[[list[Parameter]], object] | None = None
    ) -> dict[str, torch.Tensor]:
        """The backward pass from dscores (N, C): every parameter's gradient, keyed like ``params``.

        ``on_ready(parameters)`` is called as each layer's parameter gradients become final: after
        each child of a Sequential net (last layer first), or once for the whole net otherwise. A
        parameter updated inside its layer's backward (a consumed ``Parameter.sink``) has no entry.
        """
        objects = self._param_objects
        with torch.no_grad():
            for p in objects.values():
                p.grad = None
            net = self.net
            if isinstance(net, Sequential):
                dout: torch.Tensor | None = dscores
                given_by: Module | None = None
                for module in reversed(list(net)):
                    if dout is None:  # only the first layer may skip its dx (input_grad False)
                        raise RuntimeError(f"{type(given_by).__name__}.backward returned no dx, but "
                                           f"{type(module).__name__} before it needs one")
                    dout = backward_of(module, dout, given_by)
                    self._layer_done(module, on_ready)
                    given_by = module
            else:
                backward_of(net, dscores, None)
                self._layer_done(net, on_ready)
            grads = {}
            for name, p in objects.items():
                if p.grad is None:
                    if p.sink is not None:  # updated inside its layer's backward
                        continue
                    raise RuntimeError(f"backward left no gradient for parameter {name}")
                grads[name] = p.grad
        return grads

    def _layer_done(self, module: Module, on_ready: Callable[[list[Parameter]], object] | None) -> None:
        """A layer's gradients are final: add the L2 term ``2 reg W`` to its weights', then announce them."""
        if not self.reg and on_ready is None:
            return
        parameters = module.parameters()
        if self.reg:
            for p in parameters:
                if p.grad is not None and p.data.dim() >= 2:
                    p.grad = p.grad.add(p.data, alpha=2 * self.reg)
        if on_ready is not None:
            on_ready(parameters)

    @property
    def param_objects(self) -> dict[str, Parameter]:
        """The :class:`~minifc.nn.Parameter` behind each classic name (for trainers and checks)."""
        return self._param_objects

    def _before_forward(self, training: bool) -> None:
        """A subclass's hook to sync layers with classic attributes (e.g. ``dropout_param``)."""

    def _check_input(self, X: torch.Tensor) -> torch.Tensor:
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"{type(self).__name__}.loss: X must be a torch.Tensor, got {type(X).__name__}")
        dtype, device = self.dtype, self.device
        if X.device != device:
            raise ValueError(f"{type(self).__name__}: X is on {X.device} but the model's parameters are on {device}")
        if X.dtype != dtype:
            if X.dtype.is_complex or not (X.dtype.is_floating_point or X.dtype == torch.uint8):
                raise TypeError(f"{type(self).__name__}: X has dtype {X.dtype}; expected floating-point data")
            X = X.to(dtype)
        return X

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.net.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(state)


def loss_name(loss_fn: Any) -> str | None:
    """The registered name of a Classifier's ``loss_fn`` (e.g. "softmax"), or None when it has none."""
    registry = default_registry()
    return next((n for n in registry.names("loss") if _resolve_loss(registry.get("loss", n)) is loss_fn), None)


def _resolve_loss(loss: Any) -> Any:
    """A loss function from a function or a registered name; the functional API's checked losses are
    replaced by their unchecked forms (the same math without the host read of the loss)."""
    if not callable(loss):
        loss = default_registry().get("loss", loss)
    return next((fast for checked, fast in _UNCHECKED.items() if loss is checked), loss)


def _to_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}")
    return dtype
