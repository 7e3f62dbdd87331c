"""A minifc model as one safetensors file: its tensors plus, in the header's metadata, what rebuilds it.

Metadata (all strings): ``format`` ("minifc.model/1"), ``model`` ("TwoLayerNet", "FullyConnectedNet" or
"Classifier"), ``config`` (JSON: a classic model's constructor arguments, or ``{"input_dim", "layers"}``
with one ``build_net`` spec per layer, see :mod:`.layer_specs`), ``reg``, ``loss`` (a registered loss
name, "" when it has none), ``dtype`` and ``minifc_version``. Tensors: a classic model's ``params``
(W1, b1, ...), else its net's ``state_dict`` (parameters and buffers, dotted names). Weights keep
minifc's layout (Linear (D, M)).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from ..builder import build_layer
from ..device import resolve_device
from ..errors import CheckpointError, ExportError, MinifcError
from ..io.checkpoint import check_finite, non_finite
from ..models import FullyConnectedNet, TwoLayerNet
from ..nn import Sequential
from ..nn.classifier import Classifier, loss_name
from ..registry.core import Registry
from .layer_specs import layer_spec
from .optional import import_extra
from .to_torch import leaf_layers

__all__ = ["FORMAT", "model_file_bytes", "load_model"]

FORMAT = "minifc.model/1"
_CLASSIC: dict[str, type[TwoLayerNet] | type[FullyConnectedNet]] = {
    "TwoLayerNet": TwoLayerNet,
    "FullyConnectedNet": FullyConnectedNet,
}


def _classic_config(model: Classifier) -> dict[str, Any] | None:
    keys: tuple[str, ...]
    if isinstance(model, TwoLayerNet) and type(model) is TwoLayerNet:
        keys = ("input_dim", "hidden_dim", "num_classes", "weight_scale")
    elif isinstance(model, FullyConnectedNet) and type(model) is FullyConnectedNet:
        keys = ("hidden_dims", "input_dim", "num_classes", "dropout", "weight_scale", "seed")
    else:
        return None
    return {k: getattr(model, k) for k in keys}


def model_file_bytes(model: Classifier, registry: Registry | None = None) -> bytes:
    """The safetensors file of ``model`` (see the module's docstring), as bytes. Raises
    :class:`~minifc.errors.ExportError` naming a layer that cannot be described, or when the
    safetensors package is missing; CheckpointError for NaN or Inf parameters."""
    st = import_extra("safetensors.torch", "a safetensors model file")
    classic = _classic_config(model)
    if classic is not None:
        tensors, config = dict(model.params), classic
    else:
        layers = leaf_layers(model)
        specs = [layer_spec(layer, i, registry) for i, layer in enumerate(layers)]
        first = next((getattr(m, "in_features", None) for m in layers if hasattr(m, "in_features")), None)
        if not isinstance(first, int):
            raise ExportError("the model has no layer with in_features: its input width cannot be recorded")
        tensors, config = model.net.state_dict(), {"input_dim": first, "layers": specs}
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    check_finite(tensors, "the model file")
    metadata = {
        "format": FORMAT,
        "model": type(model).__name__ if classic is not None else "Classifier",
        "config": json.dumps(config),
        "reg": repr(float(model.reg)),
        "loss": loss_name(model.loss_fn) or "",
        "dtype": str(model.dtype).removeprefix("torch."),
        "minifc_version": str(getattr(sys.modules.get("minifc"), "__version__", "")),  # read late: no import cycle
    }
    return bytes(st.save(tensors, metadata=metadata))


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", registry: Registry | None = None
) -> Classifier:
    """The model in a safetensors file written by ``minifc export --to safetensors``, in eval mode on
    ``device``: ``model.loss(X)`` maps X (N, D) to scores (N, C). A TwoLayerNet or FullyConnectedNet
    comes back as one; any other model as a :class:`~minifc.Classifier` over the layers it had
    (plugin layers need their plugin; ``registry``: where layers are looked up, default the global one),
    with its loss (a loss without a registered name, recorded as "", comes back as softmax).

    Raises :class:`~minifc.errors.CheckpointError` naming the file for a missing, unreadable or
    inconsistent file, ExportError when safetensors is not installed. Draws no random numbers.
    """
    path = Path(path)
    target = resolve_device(device)
    if not path.is_file():
        raise CheckpointError(f"model file {path} does not exist" if not path.exists() else f"{path} is not a file")
    safetensors = import_extra("safetensors", "loading a safetensors model file")
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except Exception as e:  # noqa: BLE001 - safetensors raises its own SafetensorError, OSError, ...
        raise CheckpointError(f"model file {path} is not a readable safetensors file: {e}") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a minifc model file (metadata format {metadata.get('format')!r}, expected {FORMAT!r})"
        )
    bad = non_finite(tensors)
    if bad:
        raise CheckpointError(f"{path}: it holds NaN or Inf in {', '.join(bad)}")
    try:
        model = _rebuild(metadata, tensors, target, registry)
    except CheckpointError:
        raise
    except (MinifcError, KeyError, TypeError, ValueError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise CheckpointError(f"{path}: {message}") from None
    model.net.eval()
    return model


def _rebuild(
    metadata: dict[str, str], tensors: dict[str, torch.Tensor], device: torch.device, registry: Registry | None
) -> Classifier:
    kind = metadata.get("model", "")
    config = json.loads(metadata.get("config", "null"))
    dtype = getattr(torch, metadata.get("dtype", "float32"), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"metadata dtype {metadata.get('dtype')!r} is not a floating-point dtype")
    reg = float(metadata.get("reg", "0"))
    tensors = {k: v.to(device=device, dtype=dtype if v.is_floating_point() else None) for k, v in tensors.items()}
    if kind in _CLASSIC:
        if not isinstance(config, dict):
            raise ValueError(f"config must be a JSON object, got {config!r}")
        classic = _CLASSIC[kind](**config, reg=reg, dtype=dtype, device="meta")  # no values drawn
        classic.params = tensors
        return classic
    if kind != "Classifier" or not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"model {kind!r} with config {config!r}: expected a classic model or a Classifier's layers")
    width, layers = config["input_dim"], []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # the caller's RNG unchanged
        for i, spec in enumerate(config["layers"]):
            layer = build_layer(spec, width, dtype, device, registry, where=f"layers[{i}]")
            width = getattr(layer, "out_features", width)
            layers.append(layer)
    net = Sequential(*layers)
    net.load_state_dict(tensors)
    return Classifier(net, metadata.get("loss") or "softmax", reg=reg)
