"""minifc plugin: the layers batchnorm1d and layernorm (see :mod:`.layers`)."""

from __future__ import annotations

from minifc.hookspecs import Register, hookimpl

from .layers import BatchNorm1d, LayerNorm

__version__ = "0.1.0"
__all__ = ["BatchNorm1d", "LayerNorm"]


@hookimpl
def minifc_register_layers(register: Register) -> None:
    register("batchnorm1d", BatchNorm1d, description="batch normalization over N, running statistics for eval")
    register("layernorm", LayerNorm, description="layer normalization over the features of each sample")
