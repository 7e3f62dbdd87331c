"""Annealed Gaussian gradient noise (Neelakantan et al. 2015, "Adding Gradient Noise Improves Learning for
Very Deep Networks"): at step t (from 0) every gradient gets noise of variance ``eta / (1 + t) ** gamma``."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from minifc.optim import gradient_transform

__all__ = ["add_noise", "AddNoise"]


class AddNoise:
    """The noise comes from the transform's own generator, seeded once from the Trainer's generator (``init``):
    its state is in the transform's state, so a resumed run draws the same noise as an unbroken one. The noise
    is drawn on the CPU in the gradient's dtype and moved to its device."""

    def __init__(self, eta: float, gamma: float) -> None:
        self.eta, self.gamma = float(eta), float(gamma)

    def init(self, params: Mapping[str, torch.Tensor], generator: torch.Generator | None = None) -> dict:
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        return {"rng": torch.Generator().manual_seed(seed).get_state(), "step": 0}

    def update(self, grads: dict[str, torch.Tensor], state: dict, params: Mapping[str, torch.Tensor]):
        gen = torch.Generator()
        gen.set_state(state["rng"])
        std = (self.eta / (1 + state["step"]) ** self.gamma) ** 0.5
        out = {}
        for name, g in grads.items():
            noise = torch.randn(g.shape, generator=gen, dtype=g.dtype)
            out[name] = g + std * noise.to(g.device)
        return out, {"rng": gen.get_state(), "step": state["step"] + 1}


@gradient_transform({"eta": 0.01, "gamma": 0.55})
def add_noise(eta: float = 0.01, gamma: float = 0.55) -> AddNoise:
    """``add_noise:eta=0.01,gamma=0.55`` (the paper's eta in {0.01, 0.3, 1.0}, gamma 0.55)."""
    return AddNoise(eta, gamma)
