"""Running a function on N local ranks (one process each, gloo over loopback): for tests, benchmarks
and notebooks. Training jobs use ``torchrun`` instead.

Each rank runs ``fn(ctx, *args)`` in a fresh process (``fn`` must be a module-level function: it is
pickled) with torchrun's environment variables set (``MASTER_ADDR=127.0.0.1``, a free
port) and a process group joined through :func:`~minifc.distributed.init_process_group`. The parent
waits at most ``timeout`` seconds in all, kills what is left, and reports each rank's outcome.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext, SpawnContext
from pathlib import Path
from typing import Any

import torch

from ..validate import check_positive_int
from .context import init_process_group
from .errors import DistributedError

__all__ = ["RankOutcome", "free_port", "run_local"]


@dataclass
class RankOutcome:
    """How one rank ended: ``value`` returned by fn (None if it failed), ``error`` the traceback text
    of its exception, ``exitcode`` of its process (negative: killed by that signal), ``timed_out``
    when the parent had to kill it, ``elapsed`` seconds from start to exit (as seen by the parent)."""

    rank: int
    exitcode: int | None
    value: Any = None
    error: str | None = None
    timed_out: bool = False
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exitcode == 0 and self.error is None and not self.timed_out


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host`` (for MASTER_PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _rank_main(
    payload: bytes,
    sys_path: list[str],
    rank: int,
    world_size: int,
    port: int,
    device: str,
    threads: int,
    pg_timeout: float,
    out_dir: str,
) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(threads)
    out = Path(out_dir)
    try:
        # a forkserver started before the caller's module became importable does not know its path yet
        sys.path[:0] = [p for p in sys_path if p not in sys.path]
        fn, args = pickle.loads(payload)
        ctx = init_process_group(device, timeout=pg_timeout)
        value = fn(ctx, *args)
        torch.save(value, out / f"rank{rank}.tmp")
        os.replace(out / f"rank{rank}.tmp", out / f"rank{rank}.pt")
    except BaseException:  # noqa: BLE001  (reported to the parent)
        (out / f"rank{rank}.err").write_text(traceback.format_exc())
        os._exit(1)  # skip tearing down a broken process group, which can abort or hang
    ctx.destroy()


def _context(start_method: str | None) -> SpawnContext | ForkServerContext:
    methods = multiprocessing.get_all_start_methods()
    if start_method is None:
        start_method = "forkserver" if "forkserver" in methods else "spawn"
    if start_method not in ("forkserver", "spawn") or start_method not in methods:
        raise ValueError(f"run_local: start_method must be 'forkserver' or 'spawn' here, got {start_method!r}")
    if start_method == "spawn":
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "torch.distributed", "minifc.distributed"])
    return ctx


def run_local(
    fn: Callable[..., Any],
    world_size: int,
    args: tuple = (),
    *,
    device: str = "cpu",
    threads: int = 1,
    timeout: float = 120.0,
    pg_timeout: float = 60.0,
    check: bool = True,
    start_method: str | None = None,
) -> list[RankOutcome]:
    """Run ``fn(ctx, *args)`` on ``world_size`` local ranks; return their outcomes, by rank.

    ``threads``: torch's intra-op threads per rank. ``timeout``: seconds for the whole run, after
    which the remaining ranks are killed. ``pg_timeout``: the process group's timeout (how long a
    collective waits for a rank that stopped). ``fn``'s return value travels back through
    ``torch.save``. ``check``: raise :class:`DistributedError` (with the first failing rank's
    traceback) unless every rank succeeded. ``start_method``: "forkserver" (the default where
    available: the server imports torch once, later runs start in a fraction of a second) or "spawn".
    Never "fork": the parent's OpenMP and CUDA state does not survive a fork.
    """
    check_positive_int(world_size, "run_local: world_size")
    mp = _context(start_method)
    out_dir = tempfile.mkdtemp(prefix="minifc-ranks-")
    port = free_port()
    payload = pickle.dumps((fn, tuple(args)))
    procs = [
        mp.Process(
            target=_rank_main,
            args=(payload, list(sys.path), rank, world_size, port, device, threads, pg_timeout, out_dir),
            name=f"minifc-rank{rank}",
            daemon=True,
        )
        for rank in range(world_size)
    ]
    start = time.monotonic()
    outcomes = [RankOutcome(rank, None) for rank in range(world_size)]
    try:
        for p in procs:
            p.start()
        pending = set(range(world_size))
        while pending and time.monotonic() - start < timeout:
            for rank in sorted(pending):
                procs[rank].join(0.02)
                if procs[rank].exitcode is not None:
                    outcomes[rank].elapsed = time.monotonic() - start
                    pending.discard(rank)
        for rank in pending:
            procs[rank].kill()
            procs[rank].join()
            outcomes[rank].timed_out = True
            outcomes[rank].elapsed = time.monotonic() - start
        for rank, p in enumerate(procs):
            o = outcomes[rank]
            o.exitcode = p.exitcode
            err, res = Path(out_dir, f"rank{rank}.err"), Path(out_dir, f"rank{rank}.pt")
            if err.exists():
                o.error = err.read_text()
            elif res.exists():
                o.value = torch.load(res, weights_only=False)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        shutil.rmtree(out_dir, ignore_errors=True)
    if check:
        for o in outcomes:
            if not o.ok:
                why = "timed out" if o.timed_out else f"exited with code {o.exitcode}"
                raise DistributedError(f"rank {o.rank} of {world_size} {why}" + (f":\n{o.error}" if o.error else ""))
    return outcomes
