"""MixUp (Zhang et al. 2018) for the Trainer, on flattened batches, with an explicit gradient.

The Trainer hands ``augment`` the batch's rows only, and the loss the batch's labels only, so the two
halves of MixUp share the batch's mixing through a :class:`MixUp` object:

- ``mixup.augment(X)`` (the Trainer's ``augment``) draws ``lam ~ Beta(alpha, alpha)`` and a permutation
  ``perm`` of the N rows and returns ``lam X + (1 - lam) X[perm]``;
- ``mixup.loss(scores, y)`` (the model's loss) returns ``lam L(scores, y) + (1 - lam) L(scores, y[perm])``
  and the same mixture of the two dscores, where ``L`` is any loss ``(scores, y) -> (loss, dscores)``:
  the cross-entropy against the mixed targets, since ``L`` is linear in its target distribution.

The loss applies the mixing of the last batch drawn, and refuses a batch of another size; before the
first ``augment`` (e.g. a gradient check of the loss alone) it is ``L`` itself. Mixing is linear, so
it commutes with a linear preprocessing (a projection can come before or after).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["MixUp"]

Loss = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Augment = Callable[[torch.Tensor], torch.Tensor]


class MixUp:
    """MixUp with ``alpha`` (> 0) around the loss ``base`` and an optional ``before`` augmentation
    (applied to each batch first, e.g. crops). X (N, D) -> mixed (N, D); scores (N, C), y (N,) ->
    ``(loss, dscores (N, C))``."""

    def __init__(self, alpha: float, base: Loss, before: Augment | None = None) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"MixUp: alpha must be a number > 0, got {alpha!r}")
        self.alpha, self.base, self.before = float(alpha), base, before
        self.lam: float | None = None
        self.perm: torch.Tensor | None = None
        self.__name__ = f"mixup_{getattr(base, '__name__', 'loss')}"

    def draw(self, n: int, device: torch.device | str = "cpu") -> None:
        """Draw the next batch's ``lam`` (torch's global RNG, like the other augmentations) and ``perm``."""
        a = torch.tensor(self.alpha)
        self.lam = float(torch.distributions.Beta(a, a).sample())
        self.perm = torch.randperm(n, device=device)

    def augment(self, X: torch.Tensor) -> torch.Tensor:
        """X (N, D) -> a new (N, D): ``before``, then a fresh draw, then :meth:`mix`."""
        if self.before is not None:
            X = self.before(X)
        self.draw(X.shape[0], X.device)
        return self.mix(X)

    def mix(self, X: torch.Tensor) -> torch.Tensor:
        """X (N, D) -> ``lam X + (1 - lam) X[perm]`` with the last draw (a new tensor)."""
        assert self.perm is not None and self.lam is not None
        return torch.lerp(X[self.perm], X, self.lam)

    def loss(self, scores: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of the mixed batch: ``lam base(scores, y) + (1 - lam) base(scores, y[perm])``."""
        if self.perm is None or self.lam is None:
            return self.base(scores, y)
        if self.perm.shape[0] != scores.shape[0]:
            raise ValueError(
                f"MixUp: the loss got a batch of {scores.shape[0]} rows but the last batch mixed by "
                f"augment had {self.perm.shape[0]}; pass mixup.augment as the Trainer's augment"
            )
        loss_a, d_a = self.base(scores, y)
        loss_b, d_b = self.base(scores, y[self.perm.to(y.device)])
        return torch.lerp(loss_b, loss_a, self.lam), torch.lerp(d_b, d_a, self.lam)
