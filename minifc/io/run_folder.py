"""The folder of one ``minifc train`` run: the files it holds, a lock that gives the folder to one
process at a time, and moving an earlier run's files aside before a new run replaces them.

The lock is the file ``.minifc-lock``, created with ``O_EXCL`` and holding JSON
``{"pid", "host", "started", "command"}``; the process keeps it open with an exclusive ``flock`` for
the whole run and removes it at the end. A lock left by a process that no longer runs (a kill, a
crash) is stale: the next run on the same machine reports it and takes the folder over.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import MinifcError
from . import set_aside
from .checkpoint import pid_alive
from .safe_files import check_regular, check_regular_files, create_exclusive, open_regular

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid in the file decides alone
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "HISTORY_CSV",
    "HISTORY_JSON",
    "HISTORY_PLOT",
    "LOCK",
    "PREV_CHECKPOINT",
    "RESULT",
    "RUN_FILES",
    "confusion_plot",
    "evaluate_report",
    "FolderLocked",
    "RunLock",
    "check_run_files",
    "claim",
    "holds_run",
    "move_aside",
]

LOCK = ".minifc-lock"
# the names of the files a run writes into its folder: every command spells them through these
CHECKPOINT = "checkpoint.pt"
PREV_CHECKPOINT = "checkpoint.prev.pt"  # the checkpoint of the epoch before, kept beside it by every save
CONFIG = "config.json"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
RESULT = "result.json"
HISTORY_PLOT = "history.png"
EVALUATE_SPLITS = ("test", "val")


def evaluate_report(split: str) -> str:
    """The name of ``minifc evaluate``'s report on one split (``test``, ``val``)."""
    return f"evaluate_{split}.json"


def confusion_plot(split: str) -> str:
    """The name of ``minifc evaluate``'s confusion-matrix plot of one split."""
    return f"confusion_{split}.png"


#: the files a run writes into its folder (the checkpoint first); --force moves these aside
RUN_FILES = (
    CHECKPOINT,
    PREV_CHECKPOINT,
    CONFIG,
    HISTORY_JSON,
    HISTORY_CSV,
    RESULT,
    HISTORY_PLOT,
    *(evaluate_report(split) for split in EVALUATE_SPLITS),  # minifc evaluate's reports on the run
    *(confusion_plot(split) for split in EVALUATE_SPLITS),
)


class FolderLocked(MinifcError):
    """Another process holds the folder's lock (its pid, host and start time are in the message)."""


class RunLock:
    """The claim on a run folder; ``release()`` (or leaving the ``with`` block) removes the lock file.

    ``replaced``: what the stale lock this claim took over said (pid, host, started), else None.
    """

    def __init__(self, fd: int, path: Path, info: dict[str, Any], replaced: dict[str, Any] | None) -> None:
        self.fd: int | None = fd
        self.path = path
        self.info = info
        self.replaced = replaced

    def release(self) -> None:
        """Remove the lock file (when it is still this lock's) and close it; idempotent."""
        if self.fd is None:
            return
        try:
            if _same_file(self.fd, self.path):
                self.path.unlink()
        except OSError:
            pass
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim(folder: str | os.PathLike, command: str = "minifc train") -> RunLock:
    """Create ``folder`` if needed and take its lock, or raise :class:`FolderLocked` naming the holder.

    Raises OSError (naming the path) when the folder cannot be created or written (read-only, full), and
    :class:`~minifc.errors.UnsafePathError` naming the file when the lock or a run file (:data:`RUN_FILES`)
    is a symbolic link or not a regular file: nothing is followed, written or removed then.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    check_run_files(folder)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now(), "command": command}
    for _ in range(10):  # another process may remove or replace the file between our calls: look again
        created = True
        try:
            fd = create_exclusive(path)
        except FileExistsError:
            created = False
            try:
                fd = open_regular(path, "lock file")
            except FileNotFoundError:
                continue
        try:
            if not _try_flock(fd):
                raise FolderLocked(_held_message(path, _read(fd)))
            if not _same_file(fd, path):  # its holder removed it just before we locked it
                os.close(fd)
                continue
            previous = None if created else _read(fd)
            if previous is not None and not _stale(previous):
                raise FolderLocked(_held_message(path, previous))
            data = json.dumps(info, allow_nan=False).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        return RunLock(fd, path, info, previous)
    raise FolderLocked(f"{folder} is being claimed by other processes at this moment ({path} keeps changing)")


def check_run_files(folder: str | os.PathLike) -> None:
    """Raise :class:`~minifc.errors.UnsafePathError` naming the first of the lock and :data:`RUN_FILES` in
    ``folder`` that is a symbolic link (even a dangling one) or not a regular file: minifc never reads,
    writes, follows or removes such a file."""
    check_regular(Path(folder) / LOCK, "lock file")
    check_regular_files(folder, RUN_FILES, "run file")


def stale_lock_message(lock: RunLock) -> str | None:
    """A line saying which stale lock ``lock`` replaced, or None when there was none."""
    old = lock.replaced
    if old is None:
        return None
    if not old:
        return f"replaced an unreadable lock file {lock.path} (its writer stopped before writing it)"
    problem = _lock_problem(old)
    if problem:
        return f"replaced an invalid lock file {lock.path} ({problem}; no process held it)"
    return (
        f"replaced a stale lock {lock.path}: {_who(old)} is no longer running "
        f"(it was killed or crashed; its files are checked below)"
    )


def holds_run(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds any of a run's files (:data:`RUN_FILES`)."""
    folder = Path(folder)
    return any(os.path.lexists(folder / name) for name in RUN_FILES)


def move_aside(folder: str | os.PathLike) -> Path | None:
    """Move the run files in ``folder`` into a new ``folder/replaced-<date>-<time>/`` in one step (see
    :mod:`minifc.io.set_aside`: a move a killed process left is finished first); returns that folder, or
    None when there was nothing to move. Nothing is deleted."""
    return set_aside.move_aside(folder, RUN_FILES)


_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"


def _now() -> str:
    return datetime.now().astimezone().strftime(_TIME_FORMAT)


def _try_flock(fd: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without flock: the pid in the file decides alone
        return True
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _read(fd: int) -> dict[str, Any]:
    """The lock file's JSON; {} when it is empty or unreadable (a writer killed before writing it)."""
    try:
        data = os.pread(fd, 4096, 0)
        info = json.loads(data.decode())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def _stale(info: dict[str, Any]) -> bool:
    """A lock file whose flock nobody holds: stale unless its pid may still be its owner (another host,
    where the pid cannot be checked, or a running process that started before the lock was written)."""
    if not info or _lock_problem(info):
        return True
    pid = info["pid"]
    if info.get("host") != socket.gethostname():
        return False
    if pid == os.getpid() or not pid_alive(pid):
        return True
    started = _process_start(pid)
    lock_time = _parse_time(info.get("started"))
    return started is not None and lock_time is not None and started > lock_time + 2  # the pid was reused


_MAX_PID = 2**31 - 1  # pid_t


def _lock_problem(info: dict[str, Any]) -> str | None:
    """Why a lock file's JSON cannot be one minifc wrote (a pid that is no process id, a host that is no
    name), or None when it can."""
    pid, host = info.get("pid"), info.get("host")
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= _MAX_PID:
        return f"its pid {json.dumps(pid)} is not a process id"
    if not isinstance(host, str):
        return f"its host {json.dumps(host)} is not a host name"
    return None


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where /proc tells (Linux); else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        lines = Path("/proc/stat").read_text().splitlines()
        boot = next(int(line.split()[1]) for line in lines if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _parse_time(text: Any) -> float | None:
    try:
        return datetime.strptime(str(text), _TIME_FORMAT).timestamp()
    except (ValueError, OverflowError):
        return None


def _who(info: dict[str, Any]) -> str:
    pid, host, started = info.get("pid", "?"), info.get("host", "?"), info.get("started", "?")
    return f"{info.get('command', 'a run')} (pid {pid} on host {host}, started {started})"


def _held_message(path: Path, info: dict[str, Any]) -> str:
    folder = path.parent
    if not info or _lock_problem(info):
        return f"{folder} is in use by another run, which is starting at this moment (lock file {path})"
    here = info.get("host") == socket.gethostname()
    hint = "wait for it to finish or stop it" if here else f"if that run is no longer running, delete {path}"
    return f"{folder} is in use by {_who(info)}: {hint}, or use another --out"
