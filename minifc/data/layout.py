"""What CIFAR-10 looks like on disk, and the folders minifc uses by default: class names, the names inside
``cifar-10-batches-py``, the image extensions of an image folder, :func:`cache_dir` and :func:`default_root`."""

from __future__ import annotations

import os
from pathlib import Path

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10's class names, in label order."""

BATCHES_DIR = "cifar-10-batches-py"
"""The folder name of the python version of CIFAR-10."""

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
"""The training batch files inside :data:`BATCHES_DIR`, in the order they are read."""

TEST_BATCH = "test_batch"
"""The test batch file inside :data:`BATCHES_DIR`."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""The file extensions (lower case) that count as images in an image folder, as for
``torchvision.datasets.ImageFolder``."""


def cache_dir() -> Path:
    """minifc's cache folder: ``$MINIFC_CACHE``, else ``$XDG_CACHE_HOME/minifc``, else ``~/.cache/minifc``.

    Only the path is computed; the folder is created when something is first written there.
    """
    if os.environ.get("MINIFC_CACHE"):
        return Path(os.environ["MINIFC_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "minifc"
    return Path.home() / ".cache" / "minifc"


def default_root() -> Path:
    """Where CIFAR-10 is looked for (and downloaded to) when neither ``root=`` nor ``MINIFC_DATA`` is given:
    ``cache_dir() / "cifar10"``."""
    return cache_dir() / "cifar10"
