"""Choosing the torch device: ``"auto"``, or a device name checked to exist on this machine."""

from __future__ import annotations

import torch

__all__ = ["resolve_device", "mps_available"]


def mps_available() -> bool:
    """True when torch was built with the Apple-GPU (mps) backend and it can run here."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (or None) picks cuda, then mps, then cpu; anything else is checked to exist.

    Raises ValueError (message starting ``device:``) for a name that is not a torch device, a backend
    that is not available here (cuda, mps, xpu, ...), a CUDA index beyond the devices present, and
    ``meta``, which holds shapes but no values and so can neither train nor check anything.
    """
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device: {device!r} is not a torch device (try 'cpu', 'cuda', 'mps' or 'auto')") from None
    if dev.type == "meta":
        raise ValueError(
            f"device: {device!r} holds tensor shapes but no values, so nothing can be trained or computed on it "
            f"(use 'cpu', 'cuda', 'mps' or 'auto')"
        )
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {device!r} was asked for but CUDA is not available here")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device: {device!r} was asked for but this machine has {count} CUDA device(s)")
    elif dev.type == "mps":
        if not mps_available():
            raise ValueError(f"device: {device!r} was asked for but the mps backend (Apple GPU) is not available here")
    elif dev.type != "cpu":
        backend = getattr(torch, dev.type, None)
        available = getattr(backend, "is_available", None)
        if callable(available) and not available():  # a backend torch cannot query is left to torch
            raise ValueError(f"device: {device!r} was asked for but the {dev.type} backend is not available here")
    return dev
