"""The layer ``leaky_relu``: a minifc Module with an explicit backward pass."""

from __future__ import annotations

import torch

from minifc.nn import Module


class LeakyReLU(Module):
    """``max(x, 0) + negative_slope * min(x, 0)``, elementwise: x (N, D) -> out (N, D).

    No parameters; the input's sign is kept for the backward pass. Tensors follow the input's dtype
    and device.
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        if not isinstance(negative_slope, (int, float)) or isinstance(negative_slope, bool) or negative_slope < 0:
            raise ValueError(f"LeakyReLU: negative_slope must be a number >= 0, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)
        self._positive: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self._positive = x > 0
            return torch.where(self._positive, x, x * self.negative_slope)

    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        """dout (N, D) -> dx (N, D): dout where the input was positive, negative_slope * dout elsewhere."""
        positive, self._positive = self._positive, None
        if positive is None:
            raise RuntimeError("LeakyReLU: backward called before forward")
        return torch.where(positive, dout, dout * self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"
