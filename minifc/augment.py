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

import torch

__all__ = ["CIFAR_SHAPE", "as_images", "random_crop", "random_flip", "hflip", "crop_flip"]

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
    if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
        raise ValueError(f"random_crop: padding must be an integer >= 0, got {padding!r}")
    images = as_images(x, image_shape)
    if padding == 0:
        return x.clone()
    n, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))  # (N, C, H+2p, W+2p)
    top = torch.randint(0, 2 * padding + 1, (n,), device=x.device, generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n,), device=x.device, generator=generator)
    rows = top.view(n, 1) + torch.arange(h, device=x.device)  # (N, H)
    cols = left.view(n, 1) + torch.arange(w, device=x.device)  # (N, W)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
    out = padded[batch, channel, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]  # (N, C, H, W)
    return _like_input(out, x)


def crop_flip(padding: int = 4, flip: bool = True, image_shape: tuple[int, int, int] = CIFAR_SHAPE) -> Augment:
    """The Trainer ``augment`` for random crops with zero padding and random horizontal flips:
    ``augment(x)`` with x (N, C*H*W) or (N, C, H, W) returns a new batch like x."""
    if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
        raise ValueError(f"crop_flip: padding must be an integer >= 0, got {padding!r}")

    def augment(x: torch.Tensor) -> torch.Tensor:
        out = random_crop(x, padding, image_shape) if padding else x
        return random_flip(out, 0.5, image_shape) if flip else out

    augment.padding = padding  # type: ignore[attr-defined]
    augment.flip = flip  # type: ignore[attr-defined]
    return augment
