"""The Module graph: :class:`Parameter`, the base :class:`Module` (:mod:`.module_base`), the layers
(:mod:`.modules`), the :class:`Classifier` contract (:mod:`.classifier`) and a model's summary (:mod:`.summary`).

``from minifc.nn import Linear`` is the public path of the layers."""

from __future__ import annotations

from .modules import Dropout, Linear, LinearReLU, Module, ReLU, Sequential
from .parameter import Parameter

__all__ = ["Parameter", "Module", "Linear", "ReLU", "LinearReLU", "Dropout", "Sequential"]
