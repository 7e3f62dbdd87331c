"""The step's gradient-hook seam: what happens to gradients between the backward pass and the update.

A hook object has ``ready(parameters)``, called as each layer's parameter gradients become final
(last layer first), and ``finish(grads) -> grads``, called after the backward pass with the gradients
keyed like the model's params. On one process nothing happens (:class:`LocalGradients`);
data-parallel training all-reduces here.
"""

from __future__ import annotations

import torch

from ..nn.modules import Parameter

__all__ = ["LocalGradients"]


class LocalGradients:
    """One process: gradients are used as the backward pass left them."""

    def ready(self, parameters: list[Parameter]) -> None:
        """Nothing to start."""

    def finish(self, grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return grads
