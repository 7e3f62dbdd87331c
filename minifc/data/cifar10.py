""":func:`load_cifar10`: find CIFAR-10, read it as uint8 images and preprocess it (see :mod:`minifc.data`)."""

from __future__ import annotations

import os

import torch

from .preprocess import preprocess
from .sources import load_uint8


def load_cifar10(
    root: str | os.PathLike | None = None,
    validation_ratio: float = 0.2,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """CIFAR-10 as the classic dict of six tensors (see :mod:`minifc.data` for sources, order and cache).

    Args:
        root: folder holding ``cifar-10-batches-py/`` or ``train/`` and ``test/`` class folders; default
            ``$MINIFC_DATA``, else :func:`~minifc.data.default_root`.
        validation_ratio: fraction in [0, 1) of the training images kept for validation (the last ones).
        dtype: floating dtype of the ``X`` tensors.
        device: device of all six tensors.

    Returns:
        ``{"X_train": (N_train, 3072), "y_train": (N_train,), "X_val": (N_val, 3072), "y_val": (N_val,),
        "X_test": (N_test, 3072), "y_test": (N_test,)}``; for CIFAR-10 and ratio 0.2: 40,000 / 10,000 / 10,000.
        X in ``dtype``: pixels / 255 minus the per-channel mean of all training images, channel-major; y int64.

    Raises:
        DataNotFoundError: no dataset found (a :class:`~minifc.data.DataError`; the message lists every place
            tried and how to provide the data).
        DataError: a malformed or unreadable dataset; the message names the file or folder.
        ValueError: a ``validation_ratio`` outside [0, 1) or a ``dtype`` that is not floating point.
    """
    dtype = torch.empty(0, dtype=dtype).dtype  # also rejects non-dtypes with torch's own message
    if not dtype.is_floating_point:
        raise ValueError(f"load_cifar10: dtype must be a floating point dtype, got {dtype}")
    if not 0.0 <= validation_ratio < 1.0:
        raise ValueError(f"load_cifar10: validation_ratio must be in [0, 1), got {validation_ratio}")
    device = torch.device(device)

    x_train, y_train, x_test, y_test = load_uint8(root)
    return preprocess(x_train, y_train, x_test, y_test, validation_ratio, dtype, device)
