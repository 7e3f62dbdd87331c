"""Finding CIFAR-10: the root folder (``root=``, ``MINIFC_DATA`` or :func:`default_root`), the layout in it
(``cifar-10-batches-py`` or an image folder), and the download into the default root when nothing is there."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .cifar_batches import read_batches
from .errors import ROOT_ARGUMENT, ROOT_DEFAULT, ROOT_ENVIRONMENT, DataError, DataNotFoundError, first_line
from .image_folder import read_image_folder
from .kept import keep, kept
from .layout import BATCHES_DIR, TEST_BATCH, TRAIN_BATCHES, default_root
from .optional import import_torchvision


@dataclass(frozen=True)
class Source:
    """A dataset found on disk."""

    kind: str
    """``"batches"`` or ``"imagefolder"``."""
    path: Path
    """The ``cifar-10-batches-py`` folder, or the folder holding ``train/`` and ``test/``."""


def resolve_root(root: str | os.PathLike | None) -> tuple[Path, str]:
    """The root folder and where it came from (``ROOT_ARGUMENT``, ``ROOT_ENVIRONMENT`` or ``ROOT_DEFAULT`` of
    :mod:`minifc.data.errors`): ``root``, else ``$MINIFC_DATA`` (empty counts as unset), else the default root."""
    if root is not None:
        return Path(root).expanduser(), ROOT_ARGUMENT
    if os.environ.get("MINIFC_DATA"):
        return Path(os.environ["MINIFC_DATA"]).expanduser(), ROOT_ENVIRONMENT
    return default_root(), ROOT_DEFAULT


def load_uint8(root: str | os.PathLike | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Find the dataset (downloading it into the default root if needed and allowed) and return ``x_train
    (N, 3, 32, 32) uint8, y_train (N,) int64, x_test, y_test``, the training images in the documented order.

    Raises:
        DataNotFoundError: nothing found; the message lists every place tried and how to provide the data.
        DataError: a malformed dataset.
    """
    base, origin = resolve_root(root)
    images = kept(base)
    if images is not None:
        return images
    tried: list[str] = []
    source = find_source(base, tried)
    if source is None and origin == ROOT_DEFAULT:
        try:
            download_cifar10(base)
        except Exception as e:  # any failure (no internet, no torchvision, disk full) becomes the one clear error
            tried.append(f"downloading with torchvision into {base}: failed ({type(e).__name__}: {first_line(e)})")
        else:
            source = find_source(base, [])
    if source is None:
        raise DataNotFoundError(base, origin, tried)
    return keep(base, read_batches(source.path) if source.kind == "batches" else read_image_folder(source.path))


def find_source(base: Path, tried: list[str]) -> Source | None:
    """The first layout present under ``base`` (see :mod:`minifc.data`); appends a line per place looked at, and
    what was there, to ``tried``.

    Raises:
        DataError: ``base`` has ``train/`` but no ``test/`` or the reverse.
    """
    if not base.is_dir():
        tried.append(f"{base}: {'not a folder' if base.exists() else 'does not exist'}")
        return None
    for path in (base / BATCHES_DIR, base):
        if (path / TRAIN_BATCHES[0]).is_file() or (path / TEST_BATCH).is_file():
            return Source("batches", path)
    batches = base / BATCHES_DIR
    tried.append(
        f"{batches}: " + (f"holds neither {TRAIN_BATCHES[0]} nor {TEST_BATCH}" if batches.is_dir() else "not found")
    )
    train, test = base / "train", base / "test"
    if train.is_dir() or test.is_dir():
        if not (train.is_dir() and test.is_dir()):
            missing = test if train.is_dir() else train
            raise DataError(
                f"malformed CIFAR-10 image folder {base}: it has {'train' if train.is_dir() else 'test'}/ but no "
                f"{missing.name}/ folder. Expected {base}/train/<class>/* and {base}/test/<class>/* with one "
                "folder per class.",
                advice=True,
            )
        return Source("imagefolder", base)
    tried.append(f"{train} and {test}: not found")
    return None


def download_cifar10(root: Path) -> None:
    """Download the python version of CIFAR-10 into ``root / "cifar-10-batches-py"`` with torchvision (needs
    internet access); :func:`~minifc.data.load_cifar10` calls it only for the default root.

    Raises:
        DataError: torchvision cannot be imported. Download errors are torchvision's.
    """
    datasets = import_torchvision("downloading CIFAR-10", "datasets")
    root.mkdir(parents=True, exist_ok=True)
    datasets.CIFAR10(str(root), train=True, download=True)
