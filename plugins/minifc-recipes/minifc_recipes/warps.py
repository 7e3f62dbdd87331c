"""Random affine warps of the image (rotation, zoom, shift, mirror) as an augmentation of projected rows.

A warp resamples the image at rotated, scaled and shifted positions (bilinear, zero outside the image):
a linear map of the image, so, like a crop, it has a (k, k) counterpart on rows projected by a
:class:`minifc_recipes.pca.Projection` (:meth:`Projection.follow`). :class:`ProjectedWarps` draws a fixed
bank of such warps once and then augments each training batch with them at the cost of a crop: one
(k, k) product per run of rows (:func:`minifc_recipes.views.apply_drawn_maps`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as TF

from minifc.data.augment import CIFAR_SHAPE, as_images, hflip

from .pca import Projection
from .views import apply_drawn_maps

__all__ = ["warp_view", "ProjectedWarps"]


def warp_view(
    X: torch.Tensor,
    angle: float,
    scale: float,
    dy: float = 0.0,
    dx: float = 0.0,
    flip: bool = False,
    image_shape: tuple[int, int, int] = CIFAR_SHAPE,
) -> torch.Tensor:
    """X (N, C*H*W) image rows -> the rows of the images rotated by ``angle`` degrees (counter-clockwise)
    and scaled by ``scale`` about their centre, then moved down by ``dy`` and right by ``dx`` pixels
    (fractions allowed), then mirrored left-right with ``flip``; bilinear, zero outside the image.
    ``warp_view(X, 0, 1, dy, dx)`` with whole-pixel shifts is :func:`minifc.data.augment.shift`."""
    if not scale > 0:
        raise ValueError(f"warp_view: scale must be > 0, got {scale!r}")
    images = as_images(X, image_shape)
    n, _, h, w = images.shape
    a = math.radians(angle)
    cos, sin = math.cos(a) / scale, math.sin(a) / scale
    # affine_grid maps output positions to input positions in [-1, 1] coordinates (x right, y down): the
    # inverse of the warp, i.e. rotate back by -angle, shrink by 1 / scale, and undo the shift first
    tx, ty = -2.0 * dx / w, -2.0 * dy / h
    theta = torch.tensor(
        [[cos, -sin * h / w, cos * tx - sin * ty * h / w], [sin * w / h, cos, sin * tx * w / h + cos * ty]],
        dtype=images.dtype,
        device=images.device,
    )
    grid = TF.affine_grid(theta.expand(n, 2, 3), [n, images.shape[1], h, w], align_corners=False)
    out = TF.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out.reshape(n, -1)
    return hflip(out, image_shape) if flip else out


class ProjectedWarps:
    """A bank of ``count`` random warps of the image, each a (k, k) map and (k,) offset on projected rows.

    Warp i rotates by an angle drawn uniformly from [-rotate, rotate] degrees, scales by a factor from
    [1 - zoom, 1 + zoom], shifts by whole pixels (dy, dx) drawn uniformly from [-padding, padding]^2, and
    mirrors with probability 1/2 when ``flip``; the bank is drawn from a generator seeded with ``seed``.
    :meth:`augment` (a Trainer ``augment``) gives each run of a batch's rows one warp of the bank.
    Building the bank costs ``count`` (k, D) x (D, k) products.
    """

    def __init__(
        self,
        projection: Projection,
        count: int,
        rotate: float = 0.0,
        zoom: float = 0.0,
        padding: int = 0,
        flip: bool = True,
        chunks: int = 4,
        seed: int = 0,
    ) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"ProjectedWarps: count must be an integer >= 1, got {count!r}")
        for name, value, top in (("rotate", rotate, 180.0), ("zoom", zoom, 0.99)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
                raise ValueError(f"ProjectedWarps: {name} must be a number in [0, {top:g}], got {value!r}")
        if isinstance(padding, bool) or not isinstance(padding, int) or not 0 <= padding <= 16:
            raise ValueError(f"ProjectedWarps: padding must be an integer in [0, 16], got {padding!r}")
        g = torch.Generator().manual_seed(seed)

        def uniform(bound: float) -> list[float]:
            return ((torch.rand(count, generator=g, dtype=torch.float64) * 2 - 1) * bound).tolist()

        def whole(bound: int) -> list[int]:  # whole-pixel shifts, as the crops: a fractional one blurs
            return torch.randint(-bound, bound + 1, (count,), generator=g).tolist()

        angles, scales = uniform(rotate), [1 + z for z in uniform(zoom)]
        dys, dxs = whole(padding), whole(padding)
        flips = (torch.rand(count, generator=g) < 0.5).tolist() if flip else [False] * count
        self.warps = list(zip(angles, scales, dys, dxs, flips, strict=True))
        maps = [projection.follow(lambda x, w=w: warp_view(x, *w)) for w in self.warps]
        self.matrices = torch.stack([m for m, _ in maps])  # (count, k, k)
        self.offsets = torch.stack([c for _, c in maps])  # (count, k)
        self.chunks = max(1, int(chunks))
        self._all = torch.arange(count)

    def augment(self, Z: torch.Tensor) -> torch.Tensor:
        """Z (N, k) projected rows -> a new (N, k): each run of rows warped by one warp of the bank."""
        return apply_drawn_maps(Z, self.matrices, self.offsets, self._all, self.chunks)
