"""``minifc train --nproc-per-node N``: the same command on N local processes through torchrun.

The shortcut runs PyTorch's own launcher (``torch.distributed.run``, as ``torchrun --standalone
--nproc-per-node N -m minifc train ...``) with the other options unchanged; each process then joins
the job as one rank (see :mod:`minifc.training.data_parallel`). For several machines, call torchrun
directly with ``--nnodes`` and ``--rdzv-backend c10d --rdzv-endpoint HOST:PORT``.

The checks that need no rank are made before the ranks start (by :mod:`minifc.cli.commands.train`). When a
rank fails anyway, each rank writes its one-line error into a folder the launcher gives it
(``MINIFC_RANK_ERRORS``): rank 0 prints its own, the others stay quiet, and the launcher prints only
the messages that differ from rank 0's, then one line naming the rank that failed and its exit code,
instead of torchrun's report.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

__all__ = [
    "ERRORS_VAR",
    "under_launcher",
    "rank",
    "restarted_by_launcher",
    "launch_local",
    "strip_option",
    "rank_errors",
]

#: the folder where each rank of a job that ``launch_local`` started writes its error line
ERRORS_VAR = "MINIFC_RANK_ERRORS"


def under_launcher() -> bool:
    """Whether this process is a rank that torchrun started (WORLD_SIZE in the environment)."""
    return "WORLD_SIZE" in os.environ


def rank() -> int:
    """This process's rank in a torchrun job (0 outside one)."""
    return int(os.environ.get("RANK", "0") or 0)


def restarted_by_launcher() -> bool:
    """Whether torchrun restarted the job after a failure (``--max-restarts``): then the run continues."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0


def strip_option(argv: list[str], option: str) -> list[str]:
    """``argv`` without ``option VALUE`` / ``option=VALUE``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


@contextmanager
def rank_errors() -> Iterator[None]:
    """Around a rank's command in a job that :func:`launch_local` started: a click error is written to
    the job's error folder; rank 0 prints it as usual, another rank exits with its code without printing."""
    folder = os.environ.get(ERRORS_VAR)
    try:
        yield
    except click.ClickException as e:
        if not folder or not under_launcher():
            raise
        try:
            Path(folder, f"rank{rank()}.txt").write_text(e.format_message(), encoding="utf-8")
        except OSError:
            raise e from None  # no folder to tell the launcher: print it here
        if rank() != 0:
            raise click.exceptions.Exit(e.exit_code) from None
        raise


def launch_local(nproc: int, argv: list[str]) -> int:
    """Run ``minifc <argv>`` on ``nproc`` local ranks through torch.distributed.run; its exit code
    (1 when a rank failed, 130 on Ctrl-C)."""
    # torch.distributed.run and its elastic agent: imported only by a launch (heavy, and no other command needs them)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = ["--standalone", f"--nproc-per-node={nproc}", "-m", "minifc", *strip_option(argv, "--nproc-per-node")]
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default when it starts several processes
    folder = tempfile.mkdtemp(prefix="minifc-rank-errors-")
    os.environ[ERRORS_VAR] = folder
    click.echo(f"starting {nproc} processes: torchrun {' '.join(args)}", err=True)
    # torchrun logs every failure and termination itself; the summary below says what matters
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        run(parse_args(args))
        return 0
    except ChildFailedError as e:
        _report(e, Path(folder), nproc)
        return 1
    except (KeyboardInterrupt, SignalException):
        return 130
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _report(e: object, folder: Path, nproc: int) -> None:
    """The messages of the ranks that differ from rank 0's (printed by rank 0 itself), then which rank
    failed first, with its exit code."""
    messages = {int(p.stem[4:]): p.read_text(encoding="utf-8") for p in folder.glob("rank*.txt")}
    for r, message in sorted(messages.items()):
        if r != 0 and message != messages.get(0):
            click.echo(f"Error: rank {r}: {message}", err=True)
    failures = getattr(e, "failures", {})
    if not failures:
        click.echo(f"minifc: the job of {nproc} processes failed", err=True)
        return

    def order(item: tuple[int, object]) -> tuple[bool, int, int]:
        r, failure = item  # ranks that torchrun terminated because another failed come last
        code = getattr(failure, "exitcode", 0)
        return code == -signal.SIGTERM, getattr(failure, "timestamp", 0), r

    r, failure = min(failures.items(), key=order)
    code = getattr(failure, "exitcode", None)
    how = f"exited with code {code}"
    if isinstance(code, int) and code < 0:
        try:
            how = f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    others = "" if nproc == 1 else "; the job stopped"
    click.echo(f"minifc: rank {r} of {nproc} {how}{others}", err=True)
