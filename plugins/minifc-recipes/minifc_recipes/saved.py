"""The trained model of a ``best`` run, kept beside its summary as ``model.pt``, and read back.

A run of ``minifc example best`` writes ``OUT/model.pt`` after its final evaluation: the recipe's
settings, the net's parameters and buffers (the best-validation ones, which the run scored) and the
fitted preprocessing (ZCA or PCA), all as tensors and plain values (``torch.load(weights_only=True)``
reads it). :func:`load_model` rebuilds the model from it, so the network can score new images, or be
measured again with other test-time views, without training again::

    saved = load_model("runs/best/model.pt")
    scores = saved.model.loss(saved.inputs(X))      # X (N, 3072) raw CIFAR rows -> scores (N, 10)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from minifc.errors import CheckpointError
from minifc.io.checkpoint import atomic_save, safe_load
from minifc.nn import Linear

from .pca import Projection
from .preprocess import Whitening
from .recipe import Recipe
from .views import ViewAveraged

__all__ = ["MODEL_FILE", "MODEL_FORMAT", "SavedModel", "save_model", "load_model"]

MODEL_FILE = "model.pt"
MODEL_FORMAT = "minifc-recipes-best-1"


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in tensors.items()}


def _preprocessing_state(pre: Whitening | Projection | None) -> dict[str, Any]:
    if pre is None:
        return {"kind": "none"}
    if isinstance(pre, Projection):
        return {"kind": "pca", "mean": pre.mean.cpu(), "matrix": pre.matrix.cpu(), "inverse": pre.inverse.cpu(),
                "eps": pre.eps}
    return {"kind": "zca", "mean": pre.mean.cpu(), "matrix": pre.matrix.cpu(), "eps": pre.eps}


def save_model(
    path: str | os.PathLike, recipe: Recipe, model: ViewAveraged, preprocessing: Whitening | Projection | None
) -> Path:
    """Write ``recipe``, ``model``'s parameters and buffers and the fitted ``preprocessing`` to ``path``
    (atomically: a crash leaves the previous file or the new one). Returns the path."""
    linears = [m for m in model.net.modules() if isinstance(m, Linear)]
    input_dim, num_classes = linears[0].in_features, linears[-1].out_features
    state = {
        "format": MODEL_FORMAT,
        "recipe": asdict(recipe),
        "input_dim": int(input_dim),
        "num_classes": int(num_classes),
        "params": _cpu(model.params),
        "buffers": _cpu(dict(model.net.named_buffers())),
        "preprocessing": _preprocessing_state(preprocessing),
    }
    return atomic_save(state, path)


@dataclass
class SavedModel:
    """A model read back by :func:`load_model`: ``model`` (a :class:`ViewAveraged` in evaluation mode,
    with the run's test-time views), ``recipe`` and ``preprocessing`` (None when the recipe has none)."""

    recipe: Recipe
    model: ViewAveraged
    preprocessing: Whitening | Projection | None

    def inputs(self, X: torch.Tensor) -> torch.Tensor:
        """Raw rows X (N, 3072) -> the rows the net takes: whitened (N, 3072), projected (N, k), or X."""
        return X if self.preprocessing is None else self.preprocessing.apply(X)


def _preprocessing(state: dict[str, Any], device: torch.device) -> Whitening | Projection | None:
    kind = state.get("kind")
    if kind == "zca":
        return Whitening(state["mean"].to(device), state["matrix"].to(device), float(state["eps"]))
    if kind == "pca":
        return Projection(state["mean"].to(device), state["matrix"].to(device), state["inverse"].to(device),
                          float(state["eps"]))
    if kind == "none":
        return None
    raise CheckpointError(f"unknown preprocessing {kind!r}")


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> SavedModel:
    """Rebuild the model :func:`save_model` wrote to ``path``, on ``device``.

    Raises :class:`minifc.errors.CheckpointError` naming the file when it is missing, unreadable, not a
    saved ``best`` model, or does not fit the net its recipe builds."""
    from minifc.builder import build_net

    from .inputs import projected_views

    path, device = Path(path), torch.device(device)
    state = safe_load(path)
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a model saved by `minifc example best` (format {found!r}, "
                              f"expected {MODEL_FORMAT!r})")
    try:
        known = {f.name for f in fields(Recipe)}
        recipe = Recipe(**{k: v for k, v in state["recipe"].items() if k in known})
        preprocessing = _preprocessing(state["preprocessing"], device)
        params = state["params"]
        net = build_net(recipe.layers(), int(state["input_dim"]), int(state["num_classes"]), device=device)
        views = projected_views(preprocessing, recipe) if isinstance(preprocessing, Projection) else None
        model = ViewAveraged(net, "softmax", tta=True, shift=recipe.tta_shift, flip=recipe.tta_flip, views=views)
        model.params = {k: v.to(device) for k, v in params.items()}
        net.load_state_dict({k: v.to(device) for k, v in state["buffers"].items()}, strict=False)
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: the saved model does not fit the net its recipe builds: {e}") from None
    net.eval()
    return SavedModel(recipe, model, preprocessing)
