"""Moving an earlier run's files aside, as one step: ``minifc train --force``, and a Trainer whose
``checkpoint_path`` holds the checkpoint of a run it did not resume.

The files are first moved into a new hidden folder ``.replacing-<date>-<time>/`` beside them, which is
then renamed to ``replaced-<date>-<time>/`` in one ``os.rename``: a ``replaced-*`` folder always holds a
whole run. A process killed during the moves leaves the ``.replacing-*`` folder; the next
:func:`move_aside` of the same folder finishes that move first (the files still outside join the ones
already moved, in one ``replaced-*`` folder), and :func:`interrupted_message` says what is where.
Nothing is ever deleted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PENDING", "DONE", "interrupted_moves", "interrupted_message", "move_aside"]

PENDING = ".replacing-"
DONE = "replaced-"


def interrupted_moves(folder: str | os.PathLike) -> list[Path]:
    """The ``.replacing-*`` folders in ``folder`` that a killed move left behind, oldest name first."""
    try:
        entries = list(os.scandir(os.fspath(folder)))
    except OSError:
        return []
    found = [e for e in entries if str(e.name).startswith(PENDING) and e.is_dir(follow_symlinks=False)]
    return sorted(Path(e.path) for e in found)


def interrupted_message(folder: str | os.PathLike, names: Sequence[str]) -> str | None:
    """What an interrupted move left in ``folder`` (of the files ``names``) and what to do, or None."""
    folder = Path(folder)
    pending = interrupted_moves(folder)
    if not pending:
        return None
    held = "; ".join(f"{p} holds {', '.join(sorted(os.listdir(p))) or 'nothing'}" for p in pending)
    left = [name for name in names if os.path.lexists(folder / name)]
    still = f"; {folder} still holds {', '.join(left)}" if left else ""
    return (
        f"an earlier --force was interrupted while it moved the run in {folder} aside: {held}{still}. "
        f"Use --force to finish moving it aside (into {folder}/{DONE}<time>/; nothing is deleted) and start a "
        f"new run, or move the files back into {folder} and remove the empty {PENDING}* folder to --resume it"
    )


def move_aside(folder: str | os.PathLike, names: Sequence[str]) -> Path | None:
    """Move the files ``names`` that are in ``folder`` (links as links) into a new
    ``folder/replaced-<date>-<time>/``, finishing any move a killed process left first; returns the
    ``replaced-*`` folder that now holds them (or the finished interrupted one), or None when there was
    nothing to move. Nothing is deleted."""
    folder = Path(folder)
    pending = interrupted_moves(folder)
    present = [name for name in names if os.path.lexists(folder / name)]
    if not present and not pending:
        return None
    if present:
        # the files still outside belong with those an interrupted move took, unless a name is in both
        last = pending[-1] if pending else None
        joins = last is not None and not any(os.path.lexists(last / name) for name in present)
        staging = last if joins and last is not None else _new_staging(folder)
        for name in present:
            os.replace(folder / name, staging / name)
    else:
        staging = pending[-1]
    for other in pending:
        if other != staging:
            _finish(other)
    return _finish(staging)


def _new_staging(folder: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 1
    while True:
        suffix = stamp if n == 1 else f"{stamp}-{n}"
        staging = folder / f"{PENDING}{suffix}"
        if not os.path.lexists(folder / f"{DONE}{suffix}"):
            try:
                staging.mkdir()
                return staging
            except FileExistsError:
                pass
        n += 1


def _finish(staging: Path) -> Path:
    """Rename ``.replacing-X`` to ``replaced-X`` (``replaced-X-2``, ... when that name is taken)."""
    suffix = staging.name[len(PENDING) :]
    target = staging.with_name(f"{DONE}{suffix}")
    n = 2
    while os.path.lexists(target):
        target = staging.with_name(f"{DONE}{suffix}-{n}")
        n += 1
    os.rename(staging, target)
    return target
