"""``minifc train --nproc-per-node N``: the same command on N local processes through torchrun.

The shortcut starts ``python -m torch.distributed.run --standalone --nproc-per-node N -m minifc train
...`` (PyTorch's own launcher) with the other options unchanged; each process then joins the job as
one rank (see :mod:`minifc.training.data_parallel`). For several machines, call torchrun directly
with ``--nnodes`` and ``--rdzv-backend c10d --rdzv-endpoint HOST:PORT``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import click

__all__ = ["under_launcher", "restarted_by_launcher", "launch_local", "strip_option"]


def under_launcher() -> bool:
    """Whether this process is a rank that torchrun started (WORLD_SIZE in the environment)."""
    return "WORLD_SIZE" in os.environ


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


def launch_local(nproc: int, argv: list[str]) -> int:
    """Run ``minifc <argv>`` on ``nproc`` local ranks through torch.distributed.run; its exit code."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "minifc",
        *strip_option(argv, "--nproc-per-node"),
    ]
    env = {**os.environ}
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default when it starts several processes
    click.echo(f"starting {nproc} processes: {' '.join(command[1:])}", err=True)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 130
