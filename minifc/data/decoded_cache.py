"""The cache of a decoded image folder: uint8 ``(N, 3, 32, 32)`` images and int64 labels of both splits in one
file, ``<cache>/decoded/imagefolder-<folder name>-<hash of the resolved folder path>.pt``.

A cache file is used while the folder's file list, sizes and modification times stay the same (its fingerprint);
it is written atomically and loaded with ``torch.load(weights_only=True)``. A cache that cannot be read or written
only costs a decode, so those are warnings. The cache is never written inside the data folder.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch

from ..io.checkpoint import atomic_save
from .errors import first_line
from .layout import cache_dir

CACHE_FORMAT = 1
"""Version of the cache file's layout; a file of another version is a cache miss."""

KEYS = ("x_train", "y_train", "x_test", "y_test")
"""The tensors a cache file holds."""


def cache_path(base: Path) -> Path:
    """The cache file of the image folder ``base`` (the folder holding ``train/`` and ``test/``)."""
    resolved = base.resolve()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", resolved.name)[:40] or "root"
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:16]
    return cache_dir() / "decoded" / f"imagefolder-{slug}-{digest}.pt"


def is_inside(path: Path, base: Path) -> bool:
    """Whether ``path`` would be inside the folder ``base`` (after resolving links), where minifc never writes."""
    return path.resolve().is_relative_to(base.resolve())


def fingerprint(base: Path, files: Iterable[tuple[str, int, int]]) -> str:
    """A digest of ``(path, size, mtime_ns)`` of every image under ``base``, in listing order: it changes when a
    file is added, removed, renamed, resized or rewritten."""
    h = hashlib.sha256()
    skip = len(str(base))
    for path, size, mtime_ns in files:
        h.update(f"{path[skip:]}\0{size}\0{mtime_ns}\n".encode())
    return h.hexdigest()


def load_cache(path: Path, base: Path, fp: str) -> dict[str, torch.Tensor] | None:
    """The cached tensors (keys :data:`KEYS`) of the folder ``base`` with fingerprint ``fp``, or None when ``path``
    holds no usable cache for them."""
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        ok = (
            obj.get("format") == CACHE_FORMAT
            and obj.get("source") == str(base.resolve())
            and obj.get("fingerprint") == fp
            and all(obj[k].dtype == torch.uint8 and obj[k].shape[1:] == (3, 32, 32) for k in ("x_train", "x_test"))
            and all(obj[k].dtype == torch.int64 and obj[k].dim() == 1 for k in ("y_train", "y_test"))
        )
    except Exception as e:  # a corrupt or foreign file is only a cache miss
        warnings.warn(f"ignoring unreadable cache file {path} ({first_line(e)}); decoding again", stacklevel=5)
        return None
    return {k: obj[k] for k in KEYS} if ok else None


def save_cache(path: Path, base: Path, fp: str, decoded: dict[str, torch.Tensor]) -> None:
    """Write the decoded tensors of ``base`` atomically; a failure is a warning (the next load decodes again)."""
    if is_inside(path, base):  # checked by the caller too; this one guards the write itself
        return
    obj = {"format": CACHE_FORMAT, "source": str(base.resolve()), "fingerprint": fp, **decoded}
    try:
        atomic_save(obj, path)
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as RuntimeError
        warnings.warn(f"could not write the decoded-image cache {path}: {first_line(e)}", stacklevel=5)
