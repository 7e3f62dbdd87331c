"""What ``minifc export`` reads: a run folder (``minifc train --out``), a classic checkpoint
(``model.save``) or a safetensors model file (``minifc export --to safetensors``)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..io.checkpoint import safe_load
from ..io.runs import load_run, read_run_config
from ..models import FullyConnectedNet, TwoLayerNet
from ..nn.classifier import Classifier
from ..training.state import CHECKPOINT_FORMAT
from .model_file import load_model

__all__ = ["Source", "load_source"]


@dataclass
class Source:
    """A model to export; ``data``: the data folder of its run (None for a file), ``dtype`` its data's."""

    model: Classifier
    data: str | None
    dtype: torch.dtype


def load_source(path: Path, weights: str = "best") -> Source:
    """The model in ``path`` on the CPU, in eval mode. Raises ConfigError/CheckpointError naming the path."""
    if path.is_dir():
        config = read_run_config(path)
        return Source(load_run(path, weights=weights), config["data"], getattr(torch, config["dtype"]))
    if path.suffix == ".safetensors":
        model = load_model(path)
        return Source(model, None, model.dtype)
    state = safe_load(path, mmap=True)
    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is the checkpoint of a run: pass its folder, {path.parent}")
    name = state.get("model") if isinstance(state, dict) else None
    classic: TwoLayerNet | FullyConnectedNet
    if name == "TwoLayerNet":
        classic = TwoLayerNet(1, 1, 1, device="meta")
    else:  # FullyConnectedNet, or a course file without a "model" key (any number of layers)
        classic = FullyConnectedNet([1], input_dim=1, num_classes=1, device="meta")
    with contextlib.redirect_stdout(io.StringIO()):  # load's "load checkpoint file" line
        classic.load(path)
    classic.net.eval()
    return Source(classic, None, classic.dtype)
