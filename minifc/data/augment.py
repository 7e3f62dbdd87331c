"""On-the-fly data augmentation for whole batches of flattened images, on the batch's device.

The Trainer's ``augment=`` argument takes ``augment(X_batch) -> X_batch``; :func:`crop_flip` builds
one. Batches are ``(N, C * H * W)`` rows in channel-major order (what :func:`minifc.data.load_cifar10`
returns), viewed as ``(N, C, H, W)`` images; ``(N, C, H, W)`` batches are accepted as they are.
Every function is vectorized over the batch (no Python loop over samples), creates its tensors on the
input's device and dtype, and draws its randomness from torch's global RNG (or ``generator``), so the
Trainer's seed covers it. The input is never modified.

Zero padding: the classic CIFAR-10 preprocessing subtracts the per-channel mean, so a padded zero is
the mean pixel (and after a whitening of centred data, zero is still the mean).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..validate import check_int

__all__ = ["CIFAR_SHAPE", "CropFlip", "as_images", "random_crop", "random_flip", "hflip", "shift", "crop_flip"]

CIFAR_SHAPE = (3, 32, 32)
"""(C, H, W) of a CIFAR-10 image."""

Augment = Callable[[torch.Tensor], torch.Tensor]


def as_images(x: torch.Tensor, image_shape: tuple[int, int, int] = CIFAR_SHAPE) -> torch.Tensor:
    """x (N, C*H*W) or (N, C, H, W) -> a (N, C, H, W) view (no copy when x is contiguous)."""
    if x.dim() == 4 and tuple(x.shape[1:]) == tuple(image_shape):
        return x
    if x.dim() != 2 or x.shape[1] != math.prod(image_shape):
        raise ValueError(
            f"augment: expected a batch (N, {math.prod(image_shape)}) or (N, {', '.join(map(str, image_shape))}), "
            f"got shape {tuple(x.shape)}"
        )
    return x.reshape(x.shape[0], *image_shape)


def _like_input(images: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return images.reshape(x.shape)


def hflip(x: torch.Tensor, image_shape: tuple[int, int, int] = CIFAR_SHAPE) -> torch.Tensor:
    """Every image mirrored left-right: x (N, C*H*W) or (N, C, H, W) -> a new tensor like x."""
    return _like_input(as_images(x, image_shape).flip(3), x)


def shift(x: torch.Tensor, dy: int, dx: int, image_shape: tuple[int, int, int] = CIFAR_SHAPE) -> torch.Tensor:
    """Every image moved down by ``dy`` and right by ``dx`` pixels (negative: up, left), the uncovered
    border zero-filled: the window that :func:`random_crop` with padding p takes at (p - dy, p - dx).
    x (N, C*H*W) or (N, C, H, W) -> a new tensor like x."""
    check_int(dy, "shift: dy")
    check_int(dx, "shift: dx")
    images = as_images(x, image_shape)
    h, w = images.shape[2:]
    p = max(abs(dy), abs(dx))
    padded = torch.nn.functional.pad(images, (p, p, p, p))
    return _like_input(padded[:, :, p - dy : p - dy + h, p - dx : p - dx + w].contiguous(), x)


def random_flip(
    x: torch.Tensor,
    p: float = 0.5,
    image_shape: tuple[int, int, int] = CIFAR_SHAPE,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each image mirrored left-right with probability ``p``: x (N, C*H*W) or (N, C, H, W) -> like x."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"random_flip: p must be in [0, 1], got {p!r}")
    images = as_images(x, image_shape)
    flip = torch.rand(images.shape[0], device=x.device, generator=generator) < p
    out = torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
    return _like_input(out, x)


def _windows(
    images: torch.Tensor, padding: int, top: torch.Tensor, left: torch.Tensor, mirror: torch.Tensor | None
) -> torch.Tensor:
    """Image n's H x W window at (top[n], left[n]) of its zero-padded copy, mirrored left-right where
    ``mirror[n]``: two gathers (rows, then columns) with broadcast indices.
    images (N, C, H, W), top/left (N,) integers in [0, 2 * padding], mirror (N,) bool or None -> (N, C, H, W)."""
    n, c, h, w = images.shape
    dev = images.device
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))  # (N, C, H+2p, W+2p)
    rows = (top.view(n, 1) + torch.arange(h, device=dev)).view(n, 1, h, 1)
    picked = padded.gather(2, rows.expand(n, c, h, w + 2 * padding))  # (N, C, H, W+2p)
    j = torch.arange(w, device=dev)
    offsets = j if mirror is None else torch.where(mirror.view(n, 1), j.flip(0), j)  # (W,) or (N, W)
    cols = (left.view(n, 1) + offsets).view(n, 1, 1, w)
    return picked.gather(3, cols.expand(n, c, h, w))


def random_crop(
    x: torch.Tensor,
    padding: int = 4,
    image_shape: tuple[int, int, int] = CIFAR_SHAPE,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A random H x W window of each image zero-padded by ``padding`` pixels on every side.

    Equivalent to shifting each image by (dy, dx), drawn uniformly from [-padding, padding]^2,
    filling with zeros. x (N, C*H*W) or (N, C, H, W) -> a new tensor like x.
    """
    return _crop_flip(x, padding, 0.0, image_shape, generator)


def _crop_flip(
    x: torch.Tensor, padding: int, flip_p: float, image_shape: tuple[int, int, int], generator: torch.Generator | None
) -> torch.Tensor:
    check_int(padding, "random_crop: padding", minimum=0)
    images = as_images(x, image_shape)
    n = images.shape[0]
    top = torch.randint(0, 2 * padding + 1, (n,), device=x.device, generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n,), device=x.device, generator=generator)
    mirror = torch.rand(n, device=x.device, generator=generator) < flip_p if flip_p else None
    return _like_input(_windows(images, padding, top, left, mirror), x)


@dataclass(frozen=True)
class CropFlip:
    """Random crops with zero padding ``padding`` and random horizontal flips (``flip``) of images
    ``image_shape``: ``augment(x)`` with x (N, C*H*W) or (N, C, H, W) returns a new batch like x."""

    padding: int
    flip: bool
    image_shape: tuple[int, int, int] = CIFAR_SHAPE

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding:
            return _crop_flip(x, self.padding, 0.5 if self.flip else 0.0, self.image_shape, None)
        return random_flip(x, 0.5, self.image_shape) if self.flip else x


def crop_flip(padding: int = 4, flip: bool = True, image_shape: tuple[int, int, int] = CIFAR_SHAPE) -> CropFlip:
    """The Trainer ``augment`` for random crops with zero padding and random horizontal flips:
    ``augment(x)`` with x (N, C*H*W) or (N, C, H, W) returns a new batch like x."""
    check_int(padding, "crop_flip: padding", minimum=0)
    return CropFlip(padding, flip, image_shape)
