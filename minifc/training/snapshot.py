"""Copies of a model's parameters and buffers: the best ones measured so far, put back on demand."""

from __future__ import annotations

from typing import Any

import torch

from ..nn.modules import Module

__all__ = ["snapshot", "restore_snapshot"]


def snapshot(model: Any) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Clones of ``model.params`` and of its net's buffers (empty when the model has no Module net)."""
    params = {k: v.clone() for k, v in model.params.items()}
    net = getattr(model, "net", None)
    buffers = {k: v.clone() for k, v in net.named_buffers()} if isinstance(net, Module) else {}
    return params, buffers


def restore_snapshot(model: Any, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor]) -> None:
    """Put clones of a :func:`snapshot` back into ``model`` (buffers only where it has a Module net)."""
    model.params = {k: v.clone() for k, v in params.items()}
    net = getattr(model, "net", None)
    if buffers and isinstance(net, Module):
        net.load_state_dict(buffers, strict=False)
