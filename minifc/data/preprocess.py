"""From uint8 images to the classic arrays of a fully-connected net: scaled to [0, 1], minus the per-channel mean of
the training images, flattened in (C, H, W) order, split into train and validation, in the requested dtype and on
the requested device."""

from __future__ import annotations

import torch


def preprocess(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    validation_ratio: float,
    dtype: torch.dtype,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """uint8 ``(N, 3, 32, 32)`` images and ``(N,)`` labels -> the dict of :func:`~minifc.data.load_cifar10`.

    The mean is over all of ``x_train`` (train and validation); the validation split is the last
    ``int(N * validation_ratio)`` training images. X: ``(n, 3072)`` in ``dtype``; y: ``(n,)`` int64; all on ``device``.
    """
    # Work in float32 at least, so that the mean of 50,000 images is not computed in half precision.
    work = dtype if torch.finfo(dtype).bits >= 32 else torch.float32
    xtr = x_train.to(device).to(work).div_(255)
    xte = x_test.to(device).to(work).div_(255)
    mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
    xtr = xtr.sub_(mean).reshape(xtr.shape[0], -1).to(dtype)
    xte = xte.sub_(mean).reshape(xte.shape[0], -1).to(dtype)
    ytr, yte = y_train.to(device, torch.int64), y_test.to(device, torch.int64)
    n_val = int(xtr.shape[0] * validation_ratio)
    n_train = xtr.shape[0] - n_val
    return {
        "X_train": xtr[:n_train],
        "y_train": ytr[:n_train],
        "X_val": xtr[n_train:],
        "y_val": ytr[n_train:],
        "X_test": xte,
        "y_test": yte,
    }
