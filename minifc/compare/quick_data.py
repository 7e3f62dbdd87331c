"""The data of a preset's quick mode: a tiny synthetic CIFAR-10 in the ``cifar-10-batches-py`` format, written
into the compare folder (seconds to train on, for tests and a first look; classes differ in brightness, so a small
net learns them)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from ..data.layout import BATCHES_DIR, TEST_BATCH, TRAIN_BATCHES
from ..data.optional import import_numpy

__all__ = ["QUICK_DATA", "write_quick_data"]

#: a base configuration's ``data`` value that asks for the quick data (replaced by its folder when written)
QUICK_DATA = "<quick synthetic data>"


def write_quick_data(root: Path, per_batch: int = 60, n_test: int = 100, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py``: 5 x ``per_batch`` training and ``n_test`` test images of 3 x 32 x 32 uint8
    pixels, labels in [0, 10). Returns ``root``."""
    np = import_numpy("writing the quick mode's synthetic CIFAR-10")
    folder = root / BATCHES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    for name, n in [(batch, per_batch) for batch in TRAIN_BATCHES] + [(TEST_BATCH, n_test)]:
        labels = torch.randint(10, (n,), generator=gen)
        noise = torch.randint(0, 50, (n, 3072), generator=gen)
        pixels = (labels[:, None] * 20 + noise).clamp(0, 255).to(torch.uint8)
        batch = {b"labels": labels.tolist(), b"data": np.asarray(pixels.numpy(), dtype=np.uint8)}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=4)
    return root
