"""Safe checkpoint files: atomic writes, and loads that never unpickle code.

A checkpoint holds only tensors and plain values (dict, list, tuple, str, int, float, bool, None),
so it loads with ``torch.load(..., weights_only=True)``; a file that needs anything else is refused.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

__all__ = ["atomic_save", "safe_load", "check_finite"]


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` with torch.save to a temporary file beside ``path``, fsync it, then rename it
    over ``path``: a crash at any moment leaves either the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def safe_load(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> Any:
    """Load a checkpoint written by :func:`atomic_save` with ``weights_only=True``.

    Raises :class:`CheckpointError` naming the file for a missing, truncated, corrupt or unsafe file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"refused to load {path}: it holds objects other than tensors and plain values, which "
            f"could run code when unpickled ({str(e).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {str(e).splitlines()[0]}") from None


def check_finite(tensors: dict[str, torch.Tensor], what: str) -> None:
    """Raise CheckpointError if any tensor holds NaN or Inf (so it is never written to disk)."""
    bad = [name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(f"refusing to save {what}: non-finite values in {', '.join(bad)}")
