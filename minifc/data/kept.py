""":func:`keep_loaded`: inside it, CIFAR-10 is read from disk once per root folder and kept in memory, so that the
many runs of one process (a sweep worker's trials) do not each list and read the dataset again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

Images = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

_kept: dict[Path, Images] | None = None  # None: not inside keep_loaded


@contextmanager
def keep_loaded() -> Iterator[None]:
    """While the block runs, :func:`~minifc.data.load_cifar10` reads each root folder once: later loads of the same
    folder get copies of the uint8 images and labels read the first time (about 190 MB for CIFAR-10), without
    looking at the files again, so changes made to them meanwhile are not seen. Nested blocks share the outer one's
    images; they are dropped when the outermost block ends."""
    global _kept
    outer = _kept is None
    if outer:
        _kept = {}
    try:
        yield
    finally:
        if outer:
            _kept = None


def kept(root: Path) -> Images | None:
    """Copies of the images read from ``root`` in the current :func:`keep_loaded` block, or None."""
    found = None if _kept is None else _kept.get(root.resolve())
    return None if found is None else _copy(found)


def keep(root: Path, images: Images) -> Images:
    """Remember ``images`` (x_train, y_train, x_test, y_test) as read from ``root`` when inside a :func:`keep_loaded`
    block; returns them (the caller's, not the kept copies)."""
    if _kept is not None:
        _kept[root.resolve()] = _copy(images)
    return images


def _copy(images: Images) -> Images:
    x_train, y_train, x_test, y_test = images
    return x_train.clone(), y_train.clone(), x_test.clone(), y_test.clone()
