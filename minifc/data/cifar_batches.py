"""The python version of CIFAR-10 (``cifar-10-batches-py``): pickled batches read without torchvision.

Each batch is a pickled dict with ``b"data"``, a ``(n, 3072)`` uint8 array whose rows hold 1024 red, 1024 green
and 1024 blue values (each a 32x32 image, row-major), and ``b"labels"``, n integers in [0, 10). The unpickler
builds numpy arrays and plain values only, so a batch file cannot run code; torchvision's md5 check is skipped,
so any batches in this format load.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from .errors import DataError, first_line
from .layout import BATCHES_DIR, CLASSES, TEST_BATCH, TRAIN_BATCHES
from .optional import import_numpy


class _BatchUnpickler(pickle.Unpickler):
    """Builds numpy arrays and plain values only; any other global in the file is refused."""

    # (module, name) a CIFAR batch may name: numpy's array reconstructors (under numpy.core before numpy 2,
    # numpy._core since; _frombuffer for pickle protocol 5) and _codecs.encode (bytes in protocol 2 pickles).
    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch holds only arrays")
        if module.startswith("numpy.core"):  # numpy 2 moved numpy.core to numpy._core and warns on the old name
            np = import_numpy("reading a CIFAR-10 batch")
            if hasattr(np, "_core"):
                module = "numpy._core" + module[len("numpy.core") :]
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One pickled batch -> ``x (n, 3, 32, 32) uint8, y (n,) int64``.

    Raises:
        DataError: the file is missing, unreadable, not a batch, or holds data of the wrong shape or labels
            outside [0, 10); the message names the file.
    """
    np = import_numpy(f"reading {path.parent}")
    if not path.is_file():
        raise DataError(f"malformed {BATCHES_DIR} folder {path.parent}: {path.name} is missing.", advice=True)
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="latin1").load()
        data = np.asarray(batch.get(b"data", batch.get("data")))
        labels = np.asarray(batch.get(b"labels", batch.get("labels")))
    except Exception as e:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {type(e).__name__}: {first_line(e)}") from None
    data = np.ascontiguousarray(_integers(np, data, "pixel values", 255, path), dtype=np.uint8)
    labels = np.asarray(_integers(np, labels, "labels", None, path), dtype=np.int64)  # range: below
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DataError(
            f"malformed CIFAR-10 batch {path}: expected data of shape (n, 3072) and n labels, got data "
            f"{data.shape} and labels {labels.shape}"
        )
    y = torch.from_numpy(labels)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(CLASSES)):
        raise DataError(
            f"malformed CIFAR-10 batch {path}: labels must be in [0, 10), got [{int(y.min())}, {int(y.max())}]"
        )
    # Each row is 1024 red, 1024 green, 1024 blue values, each 32x32 row-major: (C, H, W) order.
    return torch.from_numpy(data).reshape(-1, 3, 32, 32), y


def _integers(np: Any, values: Any, what: str, top: int | None, path: Path) -> Any:
    """``values`` (a numpy array) when it holds integers (in [0, top] unless top is None), of any numeric
    dtype: a batch re-saved with floats that are whole numbers loads; DataError naming the file and what
    is wrong otherwise, instead of a cast that would wrap or truncate them."""
    kind = values.dtype.kind
    if kind not in "uif":
        raise DataError(f"malformed CIFAR-10 batch {path}: {what} must be integers, got {values.dtype}")
    if kind == "u" and values.dtype.itemsize == 1:
        return values  # uint8 pixels, the usual case: always in range
    if kind == "f":
        if not np.isfinite(values).all():
            raise DataError(f"malformed CIFAR-10 batch {path}: {what} include NaN or Inf")
        if (values != np.floor(values)).any():
            raise DataError(f"malformed CIFAR-10 batch {path}: {what} must be integers, got fractions ({values.dtype})")
    if top is not None and values.size and (values.min() < 0 or values.max() > top):
        raise DataError(
            f"malformed CIFAR-10 batch {path}: {what} must be in [0, {top}], got values in "
            f"[{values.min():g}, {values.max():g}]"
        )
    return values


def read_batches(folder: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A ``cifar-10-batches-py`` folder -> ``x_train (N, 3, 32, 32) uint8, y_train (N,) int64, x_test, y_test``,
    with ``data_batch_1`` ... ``data_batch_5`` concatenated in that order."""
    train = [read_batch(folder / name) for name in TRAIN_BATCHES]
    x_test, y_test = read_batch(folder / TEST_BATCH)
    x_train = torch.cat([x for x, _ in train])
    y_train = torch.cat([y for _, y in train])
    return x_train, y_train, x_test, y_test
