"""The torch equivalents of minifc's built-in layers, both ways.

minifc's :class:`~minifc.nn.Linear` keeps its weight as (D, M) and computes ``x @ W + b``;
``torch.nn.Linear`` keeps (M, D) and computes ``x @ W.T + b``: the weight is transposed each way.
Every tensor is copied (no storage shared), in the dtype and on the device it had.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..nn import Dropout, Linear, LinearReLU, Module, ReLU

__all__ = ["BUILTIN_TO_TORCH", "BUILTIN_FROM_TORCH", "SKIPPED_TORCH"]


def _linear_to_torch(layer: Module) -> torch.nn.Module:
    assert isinstance(layer, Linear)
    w = layer.weight.data
    out = torch.nn.Linear(layer.in_features, layer.out_features, dtype=w.dtype, device=w.device)
    with torch.no_grad():
        out.weight.copy_(w.t())
        out.bias.copy_(layer.bias.data)
    return out


def _linear_relu_to_torch(layer: Module) -> torch.nn.Module:
    return torch.nn.Sequential(_linear_to_torch(layer), torch.nn.ReLU())


def _dropout_to_torch(layer: Module) -> torch.nn.Module:
    assert isinstance(layer, Dropout)
    return torch.nn.Dropout(layer.p)


#: minifc layer class (exactly; a subclass declares its own ``to_torch``) -> converter
BUILTIN_TO_TORCH: dict[type[Module], Callable[[Module], torch.nn.Module]] = {
    Linear: _linear_to_torch,
    LinearReLU: _linear_relu_to_torch,
    ReLU: lambda layer: torch.nn.ReLU(),
    Dropout: _dropout_to_torch,
}


def _linear_from_torch(module: torch.nn.Module) -> Module:
    assert isinstance(module, torch.nn.Linear)
    w = module.weight.detach()
    # built on "meta" (no values drawn from the caller's RNG), then given the module's tensors
    layer = Linear(module.in_features, module.out_features, dtype=w.dtype, device="meta")
    layer.weight.data = w.t().contiguous().clone()
    bias = module.bias
    layer.bias.data = torch.zeros_like(w[:, 0]) if bias is None else bias.detach().clone()  # no bias: zeros
    return layer


def _dropout_from_torch(module: torch.nn.Module) -> Module:
    assert isinstance(module, torch.nn.Dropout)
    return Dropout(module.p)


#: torch module class (exactly) -> converter to a minifc layer
BUILTIN_FROM_TORCH: dict[type[torch.nn.Module], Callable[[torch.nn.Module], Module]] = {
    torch.nn.Linear: _linear_from_torch,
    torch.nn.ReLU: lambda module: ReLU(),
    torch.nn.Dropout: _dropout_from_torch,
}


def _flattens_samples(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.Flatten) and module.start_dim == 1 and module.end_dim == -1


#: torch modules minifc needs no layer for: every minifc layer takes (N, d_1, ..., d_k) as (N, D) itself
SKIPPED_TORCH: dict[type[torch.nn.Module], Callable[[torch.nn.Module], bool]] = {
    torch.nn.Flatten: _flattens_samples,
    torch.nn.Identity: lambda module: True,
}
