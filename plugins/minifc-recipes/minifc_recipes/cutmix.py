"""CutMix (Yun et al. 2019) for the Trainer, on flattened batches: a box of another image of the batch pasted
into each image, the labels mixed by the box's area.

Pasting the box of image b into image a is ``x_a + m * (x_b - x_a)`` for the box's 0/1 mask m (D,): linear in
the pair, so on rows projected by a :class:`minifc_recipes.pca.Projection` it is ``z_a + (z_b - z_a) @ M`` with
the (k, k) map ``M = (inverse * m) @ matrix`` (the mean cancels; what the top-k directions miss is left out,
as for the crops). :class:`CutMix` draws a bank of boxes once; each batch then takes one box of the bank and a
permutation ``perm`` of its rows and pastes each row's partner ``X[perm]`` in. The loss is MixUp's
(:class:`minifc_recipes.mixup.MixUp`): ``lam L(scores, y) + (1 - lam) L(scores, y[perm])`` with ``lam`` the
share of the image outside the box.
"""

from __future__ import annotations

import math

import torch

from minifc.data.augment import CIFAR_SHAPE

from .mixup import Augment, Loss, MixUp
from .pca import Projection

__all__ = ["CutMix", "draw_boxes"]

Box = tuple[int, int, int, int]  # rows y0:y1, columns x0:x1


def draw_boxes(count: int, alpha: float, height: int, width: int, seed: int = 0) -> list[Box]:
    """``count`` boxes as CutMix draws them: ``lam ~ Beta(alpha, alpha)``, a box of sides ``sqrt(1 - lam)``
    times the image's centred on a uniform pixel, clipped to the image. Seeded; leaves torch's RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        a = torch.tensor(float(alpha), dtype=torch.float64)
        lams = torch.distributions.Beta(a, a).sample((count,)).tolist()
        centres = torch.stack([torch.randint(height, (count,)), torch.randint(width, (count,))], 1).tolist()
    boxes = []
    for lam, (cy, cx) in zip(lams, centres, strict=True):
        cut = math.sqrt(1.0 - lam)
        h, w = int(height * cut) // 2, int(width * cut) // 2
        boxes.append((max(cy - h, 0), min(cy + h, height), max(cx - w, 0), min(cx + w, width)))
    return boxes


class CutMix(MixUp):
    """CutMix around the loss ``base`` with a bank of ``count`` boxes drawn with ``alpha`` (> 0) from ``seed``.

    With ``projection``, the batches are rows projected by it (N, k) and each box is a (k, k) map
    (building the bank costs ``count`` (k, D) x (D, k) products); without, they are image rows
    (N, C*H*W) of ``image_shape`` and each box a mask (its pixels are copied from the partner).
    ``before`` (e.g. crops) is applied to each batch first. ``augment(X)`` is the Trainer's augment and
    ``loss(scores, y)`` the model's loss, as for MixUp.
    """

    def __init__(
        self,
        base: Loss,
        alpha: float = 1.0,
        count: int = 64,
        projection: Projection | None = None,
        before: Augment | None = None,
        image_shape: tuple[int, int, int] = CIFAR_SHAPE,
        seed: int = 0,
    ) -> None:
        super().__init__(alpha, base, before)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"CutMix: count must be an integer >= 1, got {count!r}")
        self.__name__ = f"cutmix_{getattr(base, '__name__', 'loss')}"
        channels, height, width = image_shape
        self.boxes = draw_boxes(count, self.alpha, height, width, seed)
        masks = torch.zeros(count, channels, height, width)
        for i, (y0, y1, x0, x1) in enumerate(self.boxes):
            masks[i, :, y0:y1, x0:x1] = 1.0
        masks = masks.reshape(count, -1)
        self.lams = (1.0 - masks.mean(1, dtype=torch.float64)).tolist()  # the share of each image left
        self.projected = projection is not None
        if projection is not None:
            if projection.matrix.shape[0] != masks.shape[1]:
                raise ValueError(
                    f"CutMix: the projection takes rows of {projection.matrix.shape[0]} values but image_shape "
                    f"{image_shape} has {masks.shape[1]}"
                )
            inverse, matrix = projection.inverse, projection.matrix
            self.maps = torch.stack([(inverse * m.to(inverse)).mm(matrix) for m in masks])  # (count, k, k)
        else:
            self.maps = masks.bool()  # (count, D)
        self.box: int | None = None
        self._placed = self.maps  # the bank on the device and dtype of the last batch (moved once, not per batch)

    def draw(self, n: int, device: torch.device | str = "cpu") -> None:
        """Draw the next batch's box (and with it ``lam``) and ``perm``, from torch's global RNG."""
        self.box = int(torch.randint(len(self.boxes), (1,)))
        self.lam = self.lams[self.box]
        self.perm = torch.randperm(n, device=device)

    def mix(self, X: torch.Tensor) -> torch.Tensor:
        """X (N, D) -> a new (N, D): each row with the drawn box of its partner ``X[perm]`` pasted in."""
        assert self.perm is not None and self.box is not None
        partner = X[self.perm]
        if self._placed.device != X.device or (self.projected and self._placed.dtype != X.dtype):
            self._placed = self.maps.to(X.device, X.dtype if self.projected else torch.bool)
        if self.projected:
            return torch.addmm(X, partner.sub_(X), self._placed[self.box])
        return torch.where(self._placed[self.box], partner, X)
