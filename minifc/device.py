"""Choosing and checking the torch device a model and its data live on."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (or None) picks cuda, then mps, then cpu; anything else is checked to exist here."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: {device!r} is not a torch device (try 'cpu', 'cuda', 'mps' or 'auto')") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} was asked for but CUDA is not available here")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device: {device!r} was asked for but this machine has {torch.cuda.device_count()} GPU(s)")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device: {device!r} was asked for but MPS (Apple GPU) is not available here")
    if dev.type == "meta":
        raise ValueError("device: 'meta' tensors hold no values and cannot be trained on; use 'cpu', 'cuda' or 'auto'")
    return dev
