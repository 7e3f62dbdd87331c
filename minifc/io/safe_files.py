"""Writing files without following links: the primitives behind every file minifc writes into a run
folder (checkpoints, the lock, config, histories, results, plots, example summaries).

A file is written to a new temporary file beside it (created with ``O_EXCL``, which never follows a
link), then renamed over its name: a rename replaces a link itself, never the file it points to, and a
crash leaves either the old file or the new one. Before that, a symbolic link (even a dangling one) or
anything other than a regular file found at the name is refused with :class:`UnsafePathError` naming
it; nothing is written through it and its target is never touched. The lock file is created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` and an existing one is opened with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO
never blocks) and refused unless it is a regular file.

Temporary files are named ``.<name>.<pid>.<random>.tmp``, the naming
:func:`minifc.io.checkpoint.clean_stale_temps` recognizes.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, NoReturn

from ..errors import UnsafePathError

__all__ = [
    "file_kind",
    "check_regular",
    "check_regular_files",
    "write_atomic",
    "write_bytes",
    "write_text",
    "create_exclusive",
    "open_regular",
    "temp_prefix",
    "reraise_naming",
    "fsync_dir",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, for messages: "a folder", "a named pipe (FIFO)", ..."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _refusal(path: Path, mode: int, what: str) -> UnsafePathError:
    if stat.S_ISLNK(mode):
        try:
            target = f" to {os.readlink(path)}"
        except OSError:
            target = ""
        return UnsafePathError(
            f"refusing to use the {what} {path}: it is a symbolic link{target}, which minifc never follows "
            f"(the link's target is left untouched); remove the link, or use another folder"
        )
    return UnsafePathError(
        f"refusing to use the {what} {path}: it is {file_kind(mode)}, not a regular file; remove it, or use "
        f"another folder"
    )


def check_regular(path: str | os.PathLike, what: str = "file") -> None:
    """Raise :class:`UnsafePathError` naming ``path`` when something other than a regular file is there:
    a symbolic link (even a dangling one), a FIFO, a device, a folder. Nothing there passes; ``what``
    says what the file is for ("lock file", "checkpoint", ...)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise _refusal(path, mode, what)


def check_regular_files(folder: str | os.PathLike, names: Iterable[str], what: str = "run file") -> None:
    """:func:`check_regular` for each of ``names`` in ``folder``."""
    for name in names:
        check_regular(Path(folder) / name, what)


def temp_prefix(path: Path) -> str:
    """``.<name>.<pid>.``: the start of the temporary files written for ``path``."""
    return f".{path.name}.{os.getpid()}."


def write_atomic(
    path: str | os.PathLike,
    write: Callable[[BinaryIO], object],
    *,
    what: str = "file",
    durable: bool = False,
    before_replace: Callable[[], None] | None = None,
) -> Path:
    """Call ``write(f)`` on a new temporary file beside ``path``, then rename it over ``path``.

    Refuses (:class:`UnsafePathError`) a link or a non-regular file at ``path``; ``what`` names the file
    in that message ("checkpoint", "plot", ...). ``durable``: fsync the file before the rename and the
    folder after it (a power cut keeps the old or the new file). ``before_replace``: called once the new
    file is complete, just before the rename (a checkpoint keeps its predecessor then). The
    file gets the usual umask-based mode. An OSError (a full disk, a read-only folder) leaves ``path``
    as it was, removes the temporary file and names ``path`` in its ``filename``.
    """
    path = Path(path)
    check_regular(path, what)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as e:
        reraise_naming(e, path)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # mkstemp makes files readable by their owner only
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            write(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        check_regular(path, what)  # os.replace would replace a link, not follow it: this names it
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        reraise_naming(e, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def write_bytes(path: str | os.PathLike, data: bytes, *, what: str = "file") -> Path:
    """``data`` written with :func:`write_atomic`."""
    return write_atomic(path, lambda f: f.write(data), what=what)


def write_text(path: str | os.PathLike, text: str, *, what: str = "file") -> Path:
    """``text`` as UTF-8 written with :func:`write_atomic` (newlines as given)."""
    return write_bytes(path, text.encode("utf-8"), what=what)


def create_exclusive(path: str | os.PathLike, mode: int = 0o644) -> int:
    """Create ``path`` for reading and writing and return its descriptor; FileExistsError when anything,
    a dangling link included, is there already. Never follows a link."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)


def open_regular(path: str | os.PathLike, what: str = "file") -> int:
    """Open the existing ``path`` for reading and writing without following a link or blocking on a FIFO;
    :class:`UnsafePathError` naming it when it is not a regular file. FileNotFoundError when it is gone."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as e:  # ELOOP: a link; ENXIO: a FIFO nobody reads; EISDIR: a folder
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            raise e from None
        if stat.S_ISREG(mode):
            reraise_naming(e, path)
        raise _refusal(path, mode, what) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _refusal(path, mode, what)
    return fd


def reraise_naming(e: OSError, path: Path) -> NoReturn:
    """Raise ``e`` itself when it names a file, else the same error (same errno and subclass) naming ``path``."""
    if e.filename is not None or e.errno is None:
        raise e
    raise OSError(e.errno, e.strerror, str(path)) from e


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
