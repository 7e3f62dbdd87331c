"""Safe checkpoint files: atomic writes, and loads that never unpickle code.

A checkpoint holds only tensors and plain values (dict, list, tuple, str, int, float, bool, None),
so it loads with ``torch.load(..., weights_only=True)``; a file that needs anything else is refused.
"""

from __future__ import annotations

import errno
import math
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from .safe_files import check_regular, reraise_naming, temp_prefix, write_atomic

__all__ = ["atomic_save", "safe_load", "check_finite", "non_finite", "clean_stale_temps", "pid_alive"]


def atomic_save(obj: Any, path: str | os.PathLike, keep_previous: str | os.PathLike | None = None) -> Path:
    """Write ``obj`` with torch.save to a temporary file beside ``path``, fsync it, then rename it
    over ``path``: a crash at any moment leaves either the old file or the new one, never half.

    ``keep_previous``: a path where the file being replaced is kept (itself replaced atomically),
    so that ``path`` exists at every moment and the older checkpoint survives a bad new one.
    A symbolic link or a non-regular file at ``path`` or ``keep_previous`` is refused
    (:class:`~minifc.errors.UnsafePathError` naming it, see :mod:`minifc.io.safe_files`); nothing is
    written through a link. Temporary files are named ``.<name>.<pid>.<random>.tmp``; one that a killed
    process left behind is removed by :func:`clean_stale_temps`. An OSError (a full disk, a read-only
    folder) leaves ``path`` as it was and names ``path`` in its ``filename``.
    """
    path = Path(path)
    prev = Path(keep_previous) if keep_previous is not None else None
    check_regular(path, "checkpoint")
    if prev is not None:
        check_regular(prev, "older checkpoint")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reraise_naming(e, path)

    def keep() -> None:
        if prev is not None and path.is_file():
            _keep_copy(path, prev)

    return write_atomic(path, lambda f: _torch_save(obj, f, path), what="checkpoint", durable=True, before_replace=keep)


def _torch_save(obj: Any, f: Any, path: Path) -> None:
    """``torch.save(obj, f)``, its write failures (reported as RuntimeError ``[enforce fail at
    inline_container.cc] ... file write failed``) raised as the OSError they are, naming ``path``."""
    try:
        torch.save(obj, f)
    except RuntimeError as e:
        text = str(e)
        if "inline_container.cc" not in text or not ("write" in text or "unexpected pos" in text):
            raise
        try:
            full = os.statvfs(path.parent).f_bavail == 0
        except (OSError, AttributeError):  # no statvfs on Windows
            full = False
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        reason = f"{os.strerror(errno.EIO)}: torch could not write the file (is the disk full?)"
        raise OSError(errno.EIO, reason, str(path)) from None


def _keep_copy(path: Path, prev: Path) -> None:
    """Make ``prev`` a copy of ``path`` (a hard link when the file system allows), atomically."""
    if prev.is_file() and os.path.samefile(path, prev):
        return  # a kill between the link and the rename of a previous save: prev already is path's file
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(prev), suffix=".tmp", dir=prev.parent)
    os.close(fd)
    try:
        try:
            os.unlink(tmp)
            os.link(path, tmp, follow_symlinks=False)
        except OSError:
            shutil.copy2(path, tmp, follow_symlinks=False)
        check_regular(prev, "older checkpoint")
        os.replace(tmp, prev)
    finally:
        # gone after a normal rename; still there when the rename had nothing to do (both names already one
        # file) or failed
        Path(tmp).unlink(missing_ok=True)


def clean_stale_temps(*paths: str | os.PathLike, untagged: bool = False) -> list[Path]:
    """Remove the temporary files that :func:`atomic_save` left beside each of ``paths`` when its process
    was killed during a save: those whose writer (its pid is in the name) no longer runs on this machine.

    ``untagged``: also remove temporary files without a pid in their name (an older naming); only safe
    when nothing else can be writing these files, for example under a lock on the folder. Temporary files
    of running processes are always left alone. Returns the files removed.
    """
    removed = []
    for target in map(Path, paths):
        prefix = f".{target.name}."
        try:
            entries = list(os.scandir(target.parent))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if not (name.startswith(prefix) and name.endswith(".tmp")) or not entry.is_file(follow_symlinks=False):
                continue
            middle = name[len(prefix) : -len(".tmp")]  # "<pid>.<random>", or "<random>" in the older naming
            pid_text, dot, _ = middle.partition(".")
            stale = (not pid_alive(int(pid_text))) if dot and pid_text.isdigit() else untagged
            if not stale:
                continue
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(Path(entry.path))
    return removed


def pid_alive(pid: int) -> bool:
    """True when a process with this id runs on this machine (a process of another user counts); False
    for anything that cannot be a process id (a bool, 0, a negative number, one beyond the OS's range)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":  # os.kill there would end the process; without a safe probe, assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):  # OverflowError: beyond pid_t (a lock file that says 10**21)
        return False
    return True


def safe_load(path: str | os.PathLike, map_location: str | torch.device | None = "cpu", mmap: bool = False) -> Any:
    """Load a checkpoint written by :func:`atomic_save` with ``weights_only=True``; ``mmap``: map the
    tensors' bytes instead of reading them (for a look at the plain values).

    Raises :class:`CheckpointError` naming the file for a missing, truncated, corrupt or unsafe file.
    """
    path = Path(path)
    if path.is_dir():
        inside = [p.name for p in sorted(path.glob("*.pt")) if p.is_file()]
        hint = f"pass one of the files in it ({', '.join(inside)})" if inside else "it holds no .pt file"
        raise CheckpointError(f"checkpoint {path} is a folder, not a checkpoint file: {hint}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): it was truncated or never written")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "weights only" not in text.lower():
            raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {_first_line(e)}") from None
        found = [line.strip() for line in text.splitlines() if "GLOBAL" in line]
        if found:
            reason = found[0].removeprefix("WeightsUnpickler error:").strip().split(". ")[0]
            what = "it holds objects other than tensors and plain values, which could run code when unpickled"
        else:  # an opcode the safe unpickler does not take: garbage, or a pickle protocol torch never writes
            reason = _unsafe_reason(e)
            what = (
                "it is corrupt or truncated, or holds objects other than tensors and plain values, which could "
                "run code when unpickled"
            )
        raise CheckpointError(
            f"refused to load {path}: {what} ({reason}). Only load such a file with "
            f"torch.load(weights_only=False) if you trust where it came from."
        ) from None
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - torch.load on arbitrary bytes raises almost anything
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    first = text[0].split(". ")[0] if text else ""
    return f"{type(e).__name__}: {first}".rstrip(": ")


def _unsafe_reason(e: BaseException) -> str:
    """The 'Unsupported global: GLOBAL os.system ...' line of torch's weights-only error."""
    _, found, rest = str(e).partition("WeightsUnpickler error:")
    lines = [line.strip() for line in rest.splitlines() if line.strip()] if found else []
    return lines[0].split(". ")[0] if lines else "weights-only unpickling failed"


def _tensors(obj: Any, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _tensors(value, f"{prefix}[{i}]")


def all_finite(t: torch.Tensor) -> bool:
    """True when tensor ``t`` (any shape) holds no NaN or Inf; integer and bool tensors always do."""
    if not (t.is_floating_point() or t.is_complex()):
        return True
    if t.is_floating_point() and t.numel() > 0:
        try:  # NaN propagates into min and max, and an Inf is one of them: one pass, no mask tensor
            low, high = torch.aminmax(t)
            return math.isfinite(float(low)) and math.isfinite(float(high))
        except (RuntimeError, NotImplementedError):  # a backend without aminmax for this dtype
            pass
    return bool(torch.isfinite(t).all())


def non_finite(obj: Any) -> list[str]:
    """Dotted names of the floating-point tensors in ``obj`` (nested dicts, lists) holding NaN or Inf."""
    return [name for name, t in _tensors(obj, "") if not all_finite(t)]


def check_finite(obj: Any, what: str) -> None:
    """Raise CheckpointError if any tensor in ``obj`` holds NaN or Inf (so it is never written to disk)."""
    bad = non_finite(obj)
    if bad:
        shown = ", ".join(bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
        raise CheckpointError(f"refusing to save {what}: non-finite values (NaN or Inf) in {shown}")
