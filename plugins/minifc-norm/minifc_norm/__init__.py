"""minifc plugin: the layers batchnorm1d and layernorm (see :mod:`.layers`) and syncbatchnorm (see :mod:`.sync`)."""

from __future__ import annotations

from minifc.registry.hookspecs import Register, hookimpl

from .layers import BatchNorm1d, LayerNorm
from .sync import SyncBatchNorm

__version__ = "0.3.0"
__all__ = ["BatchNorm1d", "LayerNorm", "SyncBatchNorm"]


@hookimpl
def minifc_register_layers(register: Register) -> None:
    register("batchnorm1d", BatchNorm1d, description="batch normalization over N, running statistics for eval")
    register("layernorm", LayerNorm, description="layer normalization over the features of each sample")
    register(
        "syncbatchnorm",
        SyncBatchNorm,
        description="batch normalization with statistics over the global batch of all data-parallel ranks",
    )
