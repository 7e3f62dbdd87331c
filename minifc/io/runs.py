"""A run folder written by ``minifc train`` (``config.json`` + ``checkpoint.pt``) loaded back for inference.

``model = minifc.load_run("runs/mlp")`` rebuilds the model the run trained from its ``config.json`` and
puts the checkpoint's weights into it: the best ones measured (those ``result.json``'s test accuracy was
measured with), or the last epoch's with ``weights="last"``. ``model.loss(X)`` then gives scores (N, C).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .. import models
from ..builder import build_net, mlp_layers
from ..config.train_config import ConfigError, absolute_data, read_saved_config
from ..device import resolve_device
from ..errors import CheckpointError
from ..models import Classifier
from ..training.integrity import verify_checksum
from ..training.state import CHECKPOINT_FORMAT
from .checkpoint import non_finite, safe_load
from .run_folder import CHECKPOINT, CONFIG

__all__ = ["CONFIG", "CHECKPOINT", "INPUT_DIM", "NUM_CLASSES", "build_model", "load_run", "read_run_config"]

INPUT_DIM, NUM_CLASSES = 3 * 32 * 32, 10  # what minifc train trains on: CIFAR-10's images and classes


def read_run_config(run: str | os.PathLike) -> dict[str, Any]:
    """The checked configuration of the run in folder ``run`` (its ``config.json``; its data folder
    absolute, a relative one being relative to ``run``). Raises
    :class:`ConfigError` naming the path for a folder that does not exist or holds no run, or an
    incomplete or invalid ``config.json``."""
    folder = Path(run)
    if not folder.exists():
        raise ConfigError(f"run folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a run folder: give the folder minifc train wrote (--out)")
    path = folder / CONFIG
    if not path.is_file():
        raise ConfigError(f"{folder} is not a run folder: it holds no {CONFIG} (minifc train --out writes one)")
    config, _ = absolute_data(read_saved_config(path))
    return config


def build_model(config: dict[str, Any], dtype: torch.dtype, device: torch.device) -> Classifier:
    """The model ``minifc train`` builds for a run configuration (``hidden``, ``norm``, ``dropout``,
    ``weight_scale``, ``reg``), for inputs (N, 3072) and 10 classes, with fresh weights."""
    hidden = config["hidden"]
    if config["norm"]:
        specs = mlp_layers(hidden, norm=config["norm"], dropout=config["dropout"])
        for spec in specs:
            if isinstance(spec, dict) and spec.get("name") == "linear":
                spec["weight_scale"] = config["weight_scale"]
        net = build_net(specs, INPUT_DIM, NUM_CLASSES, dtype=dtype, device=device)
        return Classifier(net, "softmax", reg=config["reg"])
    return models.FullyConnectedNet(  # looked up when called: tests replace it to simulate a failed allocation
        hidden,
        dropout=config["dropout"],
        reg=config["reg"],
        weight_scale=config["weight_scale"],
        dtype=dtype,
        device=device,
    )


def load_run(run: str | os.PathLike, device: str | torch.device = "cpu", weights: str = "best") -> Classifier:
    """The model trained in run folder ``run``, ready for inference: ``model.loss(X)`` maps X (N, 3072)
    (or (N, 3, 32, 32)) to scores (N, 10); its net is in eval mode (no dropout).

    ``device``: where the model goes ("cpu", "cuda", "auto", ...). ``weights``: ``"best"`` (the
    parameters of the epoch with the best validation accuracy, which ``minifc train`` tests) or
    ``"last"`` (those of the last epoch saved). Everything is checked before any weight is loaded:
    :class:`ConfigError` for a folder without a valid ``config.json``, :class:`CheckpointError` naming
    the file for a missing, corrupt or mismatched ``checkpoint.pt``, ValueError for a device this
    machine lacks or an unknown ``weights``.
    """
    if weights not in ("best", "last"):
        raise ValueError(f"load_run: weights must be 'best' or 'last', got {weights!r}")
    target = resolve_device(device)
    config = read_run_config(run)
    path = Path(run) / CHECKPOINT
    dtype = getattr(torch, config["dtype"])
    state = _read_state(path)
    prefix = "best_" if weights == "best" and state["best_params"] else ""  # none before a first evaluation
    params, buffers = state[f"{prefix}params"], state[f"{prefix}buffers"]
    with torch.random.fork_rng(devices=[target] if target.type == "cuda" else []):  # the caller's RNG unchanged
        model = build_model(config, dtype, target)
    net = model.net
    _check(path, f"{prefix}params", params, model.params)
    _check(path, f"{prefix}buffers", buffers, dict(net.named_buffers()), allow_empty=True)
    model.params = {k: v.to(target, dtype, copy=True) for k, v in params.items()}  # copies: no shared storage
    if buffers:
        net.load_state_dict(buffers, strict=False)
    net.eval()
    return model


def _read_state(path: Path) -> dict[str, Any]:
    state = safe_load(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not a minifc train checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})"
        )
    try:
        verify_checksum(state)
    except CheckpointError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None
    for key in ("params", "best_params", "buffers", "best_buffers"):
        value = state.get(key)
        if not isinstance(value, dict) or not all(isinstance(v, torch.Tensor) for v in value.values()):
            raise CheckpointError(f"{path}: {key} must be a dict of tensors")
    return state


def _check(
    path: Path, what: str, found: dict[str, torch.Tensor], own: dict[str, torch.Tensor], allow_empty: bool = False
) -> None:
    """``found`` must hold ``own``'s names with the same shapes, floating-point and finite values."""
    if allow_empty and not found:
        return
    if set(found) != set(own):
        raise CheckpointError(
            f"{path}: {what} holds {sorted(found)} but the model {CONFIG} describes has {sorted(own)}"
        )
    for name, t in found.items():
        if t.shape != own[name].shape:
            raise CheckpointError(
                f"{path}: {what}[{name!r}] has shape {tuple(t.shape)} but the model {CONFIG} describes has "
                f"{tuple(own[name].shape)} (was {CONFIG} edited, or the checkpoint copied from another run?)"
            )
        if own[name].is_floating_point() and not t.is_floating_point():
            raise CheckpointError(f"{path}: {what}[{name!r}] has dtype {t.dtype}; expected floating-point values")
    bad = non_finite(found)
    if bad:
        raise CheckpointError(f"{path}: {what} holds NaN or Inf in {', '.join(bad)}")
