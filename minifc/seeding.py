"""One call that makes a run reproducible from its very first random number."""

from __future__ import annotations

import random

import torch

from .validate import check_int

__all__ = ["seed_everything"]


def seed_everything(seed: int) -> int:
    """Seed Python's ``random`` and torch's global RNG (CPU and every CUDA device). Call it before
    building the model, so that its initial weights are drawn from the seeded stream too."""
    seed = check_int(seed, "seed", minimum=0)
    random.seed(seed)
    torch.manual_seed(seed)
    return seed
