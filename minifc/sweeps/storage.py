"""Where a study lives: a journal file in the sweep folder (default; many processes on this machine), a
PostgreSQL or MySQL database (``--storage postgresql://...``; many machines, heartbeats), or SQLite (one
worker only).

Only a database storage has heartbeats: a worker writes one every ``heartbeat`` seconds (default
:data:`HEARTBEAT_S`) while it trains, and a trial whose worker stayed silent for ``grace`` seconds (default
:data:`GRACE_S`) is failed by the next worker that asks for
a trial, then retried (at most ``max_retry`` times). A journal storage has none: the sweep that owns the folder
fails the running trials of a worker that died (and, on ``--resume``, every trial left running) and retries
them the same way.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import SweepError
from .optional import import_optuna
from .study import retry_callback

__all__ = [
    "HEARTBEAT_S", "GRACE_S", "JOURNAL", "ASK_LOCK", "storage_kind", "check_storage", "open_storage", "ask_lock",
    "with_driver", "shown_url",
]

HEARTBEAT_S = 10
GRACE_S = 30
JOURNAL = "study.journal"  # the default storage, in the sweep folder
ASK_LOCK = "ask.lock"  # held while a worker counts the trials and asks for one (the global cap)
_DATABASES = ("postgresql", "mysql", "sqlite")


def storage_kind(url: str | None) -> str:
    """``journal`` (no url), ``postgresql``, ``mysql`` or ``sqlite``; SweepError for anything else."""
    if url is None:
        return "journal"
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in _DATABASES or "://" not in url:
        raise SweepError(
            f"--storage {shown_url(url)}: expected a database URL postgresql://..., mysql://... or sqlite:///FILE "
            "(leave --storage out for a journal file in the sweep folder)"
        )
    return scheme


def check_storage(url: str | None, workers: int) -> str:
    """The storage kind, refusing SQLite for several workers (it locks the whole database on a write)."""
    kind = storage_kind(url)
    if kind == "sqlite" and workers > 1:
        raise SweepError(
            f"--storage sqlite with --workers {workers}: SQLite locks the whole database on every write, so parallel "
            "workers fail with 'database is locked' (Optuna advises against it); leave --storage out (a journal file "
            "in the sweep folder serves many local workers) or use postgresql://"
        )
    return kind


def open_storage(url: str | None, folder: Path, max_retry: int, heartbeat: int = HEARTBEAT_S,
                 grace: int = GRACE_S) -> Any:
    """The Optuna storage: a JournalStorage on ``folder/study.journal`` without ``url``, else an RDBStorage with a
    heartbeat every ``heartbeat`` seconds, trials silent for ``grace`` seconds failed and retried up to
    ``max_retry`` times."""
    optuna = import_optuna()
    if url is None:
        journal = optuna.storages.journal
        path = str(folder / JOURNAL)
        return journal.JournalStorage(journal.JournalFileBackend(path, lock_obj=journal.JournalFileOpenLock(path)))
    beats: dict[str, Any] = {} if storage_kind(url) == "sqlite" else {
        "heartbeat_interval": heartbeat, "grace_period": grace,
        "heartbeat_stale_trial_callback": retry_callback(max_retry),
    }
    try:
        with _schema_lock(with_driver(url)), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: "experimental"
            return optuna.storages.RDBStorage(with_driver(url), **beats)
    except ImportError as e:
        raise SweepError(
            f"--storage {shown_url(url)} needs a database driver ({e}): pip install 'minifc[postgres]' "
            "(PostgreSQL) or a MySQL driver such as PyMySQL (mysql+pymysql://...)"
        ) from None
    except Exception as e:  # noqa: BLE001 - sqlalchemy's connection errors: one line naming the URL
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SweepError(f"--storage {shown_url(url)}: cannot open the database: {first}") from None


def with_driver(url: str) -> str:
    """``url`` naming a PostgreSQL driver that is installed: SQLAlchemy reads a bare ``postgresql://`` as psycopg
    (version 3); with only psycopg2 installed, ``postgresql+psycopg2://``."""
    if not url.startswith("postgresql://") or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def shown_url(url: str) -> str:
    """The URL with its password (``user:secret@``) replaced by ``***``."""
    head, sep, tail = url.partition("://")
    if not sep or "@" not in tail:
        return url
    creds, _, host = tail.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{head}://{user}{':***' if ':' in creds else ''}@{host}"


@contextlib.contextmanager
def ask_lock(storage: Any, folder: Path) -> Iterator[None]:
    """Held while a worker counts the study's trials and asks for one, so that workers together start exactly the
    sweep's number of trials: a file lock in the sweep folder (workers of this machine), plus a PostgreSQL advisory
    lock or a MySQL named lock for workers on other machines."""
    import fcntl  # POSIX only, as the sweep's worker processes are

    with open(folder / ASK_LOCK, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            with _database_lock(storage):
                yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


_LOCK_KEY = 0x6D696E6966  # "minif": one advisory lock per database; asking for a trial takes milliseconds
_SCHEMA_KEY = 0x6D696E6973  # "minis": held while Optuna creates or checks its tables


@contextlib.contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """Held while Optuna creates its tables in a PostgreSQL or MySQL database: workers starting at once on a fresh
    database would otherwise create the same tables together and all but one fail (PostgreSQL: a duplicate key in
    ``pg_type``). Taken on a connection of its own, closed afterwards."""
    if storage_kind(url) == "sqlite":
        yield
        return
    import sqlalchemy  # comes with optuna, an optional dependency
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        with _engine_lock(engine, _SCHEMA_KEY):
            yield
    finally:
        engine.dispose()


@contextlib.contextmanager
def _database_lock(storage: Any) -> Iterator[None]:
    engine = getattr(storage, "engine", None)
    if engine is None:
        yield
        return
    with _engine_lock(engine, _LOCK_KEY):
        yield


@contextlib.contextmanager
def _engine_lock(engine: Any, key: int) -> Iterator[None]:
    """A PostgreSQL advisory lock or a MySQL named lock ``key`` on a connection of ``engine``; nothing for other
    databases."""
    dialect = getattr(getattr(engine, "dialect", None), "name", "")
    if dialect not in ("postgresql", "mysql"):
        yield
        return
    from sqlalchemy import text  # comes with optuna, an optional dependency

    take, give = {
        "postgresql": ("SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)"),
        "mysql": ("SELECT GET_LOCK(CAST(:k AS CHAR), 600)", "SELECT RELEASE_LOCK(CAST(:k AS CHAR))"),
    }[dialect]
    with engine.connect() as connection:
        connection.execute(text(take), {"k": key})
        connection.commit()  # the lock is the session's: the transaction need not stay open while it is held
        try:
            yield
        finally:
            connection.execute(text(give), {"k": key})
            connection.commit()


def worker_tag() -> str:
    """``host:pid`` of this process, recorded on each trial it runs."""
    return f"{os.uname().nodename}:{os.getpid()}"
