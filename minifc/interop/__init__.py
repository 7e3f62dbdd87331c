"""minifc models in the torch ecosystem: :func:`to_torch` / :func:`from_torch` convert between a minifc
model and a ``torch.nn.Sequential``; :func:`load_model` reads the safetensors file ``minifc export``
writes (see :mod:`.model_file`)."""

from __future__ import annotations

from .from_torch import from_torch
from .model_file import load_model, model_file_bytes
from .to_torch import to_torch, torch_code

__all__ = ["to_torch", "from_torch", "torch_code", "load_model", "model_file_bytes"]
