"""What the Trainer checks before training starts: the data, its fit to the model, optim_config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..errors import LabelError, MinifcError, ShapeError
from ..models import Classifier
from ..nn.modules import Module
from ..registry.components import Lookup
from ..validate import check_number

__all__ = [
    "prepare_data",
    "check_data_tensor",
    "check_against_model",
    "check_optim_config",
    "resolve_update_rule",
    "move_model",
    "trainable_model",
]

SPLITS = ("train", "val")


def prepare_data(data: Any, dtype: torch.dtype, device: torch.device | str) -> dict[str, torch.Tensor]:
    """Check ``data`` (X_train (N, ...), y_train (N,), X_val, y_val) and return it cast to ``dtype``
    (labels to int64) on ``device``, moved once. Errors name the key and the sample at fault. Tensors
    that require grad are used detached (training computes its own gradients)."""
    if not isinstance(data, Mapping):
        raise TypeError(f"data must be a dict with X_train, y_train, X_val, y_val; got {type(data).__name__}")
    missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
    if missing:
        raise KeyError(f"data is missing {', '.join(missing)} (it needs X_train, y_train, X_val, y_val)")
    out = {}
    for split in SPLITS:
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        X, y = (check_data_tensor(t, key) for t, key in ((X, f"X_{split}"), (y, f"y_{split}")))
        if X.dtype == torch.bool:
            raise TypeError(f"data['X_{split}'] is a bool tensor; give the features as numbers (e.g. X.float())")
        if X.dim() == 0:
            raise ShapeError(f"data['X_{split}'] is a 0-dim tensor; expected (N, features...)")
        if X.shape[0] == 0:
            raise ValueError(f"data['X_{split}'] is empty: training needs at least one sample")
        if y.dim() != 1 or y.shape[0] != X.shape[0]:
            raise LabelError(
                f"data['y_{split}'] has shape {tuple(y.shape)}; expected ({X.shape[0]},), one label per row "
                f"of X_{split}"
            )
        if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
            raise LabelError(f"data['y_{split}'] must hold integer class labels, got {y.dtype}")
        if bool((y < 0).any()):
            raise LabelError(f"data['y_{split}'] has negative labels (min {int(y.min())})")
        X = X.to(dtype)  # after the cast: float64 values beyond float32's range become Inf
        finite = torch.isfinite(X)
        if not bool(finite.all()):
            rows = (~finite).reshape(X.shape[0], -1).any(dim=1).nonzero().flatten()
            raise ValueError(
                f"data['X_{split}'] contains NaN or Inf (as {dtype}) in {rows.numel()} sample(s), "
                f"first at row {int(rows[0])}"
            )
        out[f"X_{split}"] = X.to(device=device)
        out[f"y_{split}"] = y.to(device=device, dtype=torch.int64)
    return out


def check_data_tensor(t: Any, key: str) -> torch.Tensor:
    """``t`` detached from autograd (minifc computes its own gradients) when it is a dense, real tensor
    holding values; TypeError naming ``data[key]`` for anything else (a sparse, complex or meta tensor)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"data[{key!r}] must be a torch.Tensor, got {type(t).__name__}")
    if t.layout != torch.strided:
        raise TypeError(f"data[{key!r}] is a {t.layout} tensor; give a dense one (t.to_dense())")
    if t.is_complex():
        raise TypeError(f"data[{key!r}] is complex ({t.dtype}); give real numbers")
    if t.device.type == "meta":
        raise TypeError(f"data[{key!r}] is on the meta device and holds no values")
    return t.detach()


def check_against_model(model: Any, data: Mapping[str, torch.Tensor]) -> None:
    """One forward of a sample of each split: the features must fit the model and the labels its
    number of classes (the width of its scores)."""
    for split in SPLITS:
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        try:
            scores = model.loss(X[:1].clone())  # a copy: a layer may write into its input
        except (MinifcError, RuntimeError) as e:
            raise ShapeError(f"data['X_{split}'] (shape {tuple(X.shape)}) does not fit the model: {e}") from e
        if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
            got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
            raise ShapeError(f"the model's loss(X) must return scores of shape (N, C), got {got}")
        num_classes = scores.shape[1]
        top = int(y.max())
        if top >= num_classes:
            raise LabelError(
                f"data['y_{split}'] has labels up to {top} but the model scores {num_classes} classes: "
                f"labels must be in [0, {num_classes})"
            )


def check_optim_config(optim_config: Any) -> dict[str, Any]:
    """``optim_config`` as a new dict of hyper-parameters (None: empty); its learning rate >= 0."""
    if optim_config is None:
        return {}
    if not isinstance(optim_config, Mapping):
        raise TypeError(
            f"optim_config must be a dict of hyper-parameters such as {{'learning_rate': 1e-3}}, "
            f"got {type(optim_config).__name__}"
        )
    config = dict(optim_config)
    bad = [k for k in config if not isinstance(k, str) or not k.isidentifier()]
    if bad:
        raise ValueError(f"optim_config keys must be names such as 'learning_rate', got {bad!r}")
    if "learning_rate" in config:
        check_number(config["learning_rate"], "optim_config['learning_rate']", minimum=0.0)
    return config


def resolve_update_rule(rule: str | Callable[..., Any], lookup: Lookup) -> tuple[Callable[..., Any], str, str]:
    """``(rule, name, provider)`` for a registered name (found with ``lookup``) or a function."""
    if isinstance(rule, str):
        component = lookup("update_rule", rule)
        return component.obj, rule, component.provider
    if not callable(rule):
        raise TypeError(f"update_rule must be a name or a function, got {type(rule).__name__}")
    return rule, getattr(rule, "__name__", repr(rule)), "user function"


def move_model(model: Any, device: torch.device) -> None:
    """Move a model's parameters (and a Module net's buffers) to ``device``, in place."""
    net = getattr(model, "net", None)
    if isinstance(net, Module):
        net.to(device=device)
        return
    params = model.params
    for name in list(params):
        if params[name].device != device:
            params[name] = params[name].to(device)


def trainable_model(model: Any, loss: str | Callable[..., Any]) -> Any:
    """A bare :class:`minifc.nn.Module` wrapped in a :class:`minifc.models.Classifier` with ``loss``;
    any other model must already have ``params`` and ``loss(X, y=None)`` (TypeError naming it)."""
    trainable = Classifier(model, loss) if isinstance(model, Module) else model
    for attr in ("params", "loss"):
        if not hasattr(trainable, attr):
            raise TypeError(
                f"Trainer: model must have `params` and `loss(X, y=None)`; {type(model).__name__} has no {attr}"
            )
    return trainable
