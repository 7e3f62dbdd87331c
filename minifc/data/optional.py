"""The optional dependencies of the data sources, imported only when a source needs them: the core package works
without torchvision and numpy."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import VISION_HINT, DataError, first_line


def import_torchvision(what: str, submodule: str) -> ModuleType:
    """``torchvision.<submodule>``; ``what`` (e.g. "decoding the CIFAR-10 image folder") says why, in the error.

    Raises:
        DataError: torchvision is not installed or cannot be imported, with the install command.
    """
    try:
        importlib.import_module("torchvision")
        return importlib.import_module(f"torchvision.{submodule}")
    except Exception as e:  # not installed, or installed but broken (e.g. built for another torch)
        raise DataError(
            f"{what} needs torchvision, which could not be imported ({type(e).__name__}: {first_line(e)}). "
            f"Install it with: {VISION_HINT}"
        ) from None


def import_numpy(what: str) -> ModuleType:
    """numpy; ``what`` (e.g. "reading /data/cifar-10-batches-py") says why, in the error.

    Raises:
        DataError: numpy is not installed, with the install command.
    """
    try:
        return importlib.import_module("numpy")
    except ImportError:
        raise DataError(f"{what} needs numpy, which is not installed. Install it with: {VISION_HINT}") from None
