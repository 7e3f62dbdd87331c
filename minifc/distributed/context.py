"""Joining a process group: torchrun's environment, the backend for the device, a finite timeout.

``torchrun --nproc-per-node N ...`` (``python -m torch.distributed.run``) starts N processes and exports
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` to each;
:func:`init_process_group` reads them, picks gloo for CPU and nccl for CUDA (rank r on ``cuda:LOCAL_RANK``)
and returns a :class:`DistributedContext`. Without that environment it returns a one-process context
and creates no process group, so the same code runs with and without ``torchrun``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .errors import DistributedError
from .rank import barrier

__all__ = ["DEFAULT_TIMEOUT", "LaunchEnv", "DistributedContext", "read_launch_env", "init_process_group"]

DEFAULT_TIMEOUT = 300.0
"""Seconds a collective (or joining the group) may wait for the other ranks before it fails."""


@dataclass(frozen=True)
class LaunchEnv:
    """What a launcher (torchrun) told this process about its place in the job."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int


def _int_var(env: Mapping[str, str], name: str, low: int, high: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        raise DistributedError(f"environment variable {name} is not set (WORLD_SIZE is: torchrun sets both)")
    try:
        value = int(raw)
    except ValueError:
        raise DistributedError(f"environment variable {name}={raw!r} is not an integer") from None
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" and <= {high}"
        raise DistributedError(f"environment variable {name}={value} must be >= {low}{upper}")
    return value


def read_launch_env(env: Mapping[str, str] | None = None) -> LaunchEnv | None:
    """Parse torchrun's variables from ``env`` (default ``os.environ``); None when WORLD_SIZE is unset.

    ``LOCAL_RANK`` defaults to ``RANK`` (one machine); everything else is required once WORLD_SIZE is set.
    Raises :class:`DistributedError` naming the missing or malformed variable.
    """
    env = os.environ if env is None else env
    if env.get("WORLD_SIZE") in (None, ""):
        return None
    world = _int_var(env, "WORLD_SIZE", 1)
    rank = _int_var(env, "RANK", 0, world - 1)
    local_rank = _int_var(env, "LOCAL_RANK", 0) if env.get("LOCAL_RANK") not in (None, "") else rank
    addr = env.get("MASTER_ADDR", "").strip()
    if not addr:
        raise DistributedError(
            f"WORLD_SIZE={world} is set but MASTER_ADDR is not: the address of rank 0's machine is needed "
            "to join the process group (torchrun sets it; by hand: MASTER_ADDR=127.0.0.1 on one machine)"
        )
    port = _int_var(env, "MASTER_PORT", 1, 65535)
    return LaunchEnv(rank, world, local_rank, addr, port)


@dataclass
class DistributedContext:
    """This process's place in the job. ``initialized``: a process group exists (False for a lone process).

    ``owns_group``: this context created the group, so :meth:`destroy` destroys it.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None
    timeout: float
    initialized: bool
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the rank that logs, shows progress and writes checkpoints."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """More than one rank."""
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every rank (no-op in a lone process)."""
        if self.initialized:
            barrier()

    def destroy(self) -> None:
        """Leave and destroy the process group this context created (idempotent)."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
        self.initialized = self.owns_group = False

    def __enter__(self) -> DistributedContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


def _timeout_seconds(timeout: float | timedelta) -> float:
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise DistributedError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
    return float(seconds)


def _device_and_backend(device: str | torch.device, backend: str | None, local_rank: int) -> tuple[torch.device, str]:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise DistributedError(f"device {device!r} is not a device name: {e}") from None
    if backend is not None and backend not in ("gloo", "nccl"):
        raise DistributedError(f"backend must be 'gloo' (CPU) or 'nccl' (CUDA), got {backend!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DistributedError(f"device {str(device)!r} requested but CUDA is not available on this machine")
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise DistributedError(
                f"LOCAL_RANK={local_rank} but this machine has {count} CUDA device(s): start at most {count} "
                "processes per machine (torchrun --nproc-per-node)"
            )
        dev = torch.device("cuda", local_rank)
        backend = backend or "nccl"
    elif dev.type == "cpu":
        if backend == "nccl":
            raise DistributedError("backend 'nccl' needs CUDA tensors but the device is the CPU: use 'gloo'")
        backend = backend or "gloo"
    else:
        raise DistributedError(f"data-parallel training runs on 'cpu' (gloo) or 'cuda' (nccl), not {dev.type!r}")
    if backend == "nccl" and not dist.is_nccl_available():
        raise DistributedError("backend 'nccl' is not available in this torch build")
    if backend == "gloo" and not dist.is_gloo_available():
        raise DistributedError("backend 'gloo' is not available in this torch build")
    return dev, backend


def _restart_hint() -> str:
    """Why a rank that torchrun restarted may fail to join: torchrun's store, shared by every round of ranks,
    still holds the addresses of the ranks it replaced, and a rank that reads them before they are rewritten
    connects to a process that is gone."""
    restarted = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0
    if not restarted or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return ""
    return (
        " (a job that torchrun restarted: start torchrun with TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 in its "
        "environment, so that each round of ranks gets a store of its own)"
    )


def init_process_group(
    device: str | torch.device = "cpu",
    *,
    backend: str | None = None,
    timeout: float | timedelta = DEFAULT_TIMEOUT,
) -> DistributedContext:
    """Join the process group described by torchrun's environment and return this rank's context.

    ``device``: "cpu" -> gloo; "cuda" (any index) -> nccl on ``cuda:LOCAL_RANK``, made the current
    device. ``backend`` overrides the choice (gloo also moves CUDA tensors, slower). ``timeout``
    (seconds or timedelta) bounds joining and every collective: a rank that stopped makes the others
    raise instead of hanging. Without WORLD_SIZE in the environment: a one-process context (rank 0 of
    1, ``initialized=False``) on ``device``, no process group. When a process group already exists
    it is adopted (``owns_group=False``) and the environment is not read.
    """
    seconds = _timeout_seconds(timeout)
    if dist.is_available() and dist.is_initialized():
        backend_now = dist.get_backend()
        local_rank = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        dev, _ = _device_and_backend(device, backend_now, local_rank)
        return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, dev, backend_now, seconds, True)
    launch = read_launch_env()
    if launch is None:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise DistributedError(f"device {str(device)!r} requested but CUDA is not available on this machine")
        return DistributedContext(0, 1, 0, dev, None, seconds, False)
    if not dist.is_available():
        raise DistributedError("this torch build has no torch.distributed support")
    dev, backend = _device_and_backend(device, backend, launch.local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    try:
        dist.init_process_group(
            backend,
            init_method="env://",
            rank=launch.rank,
            world_size=launch.world_size,
            timeout=timedelta(seconds=seconds),
        )
    except (RuntimeError, ValueError) as e:  # DistStoreError and DistNetworkError are RuntimeErrors
        raise DistributedError(
            f"rank {launch.rank} of {launch.world_size} could not join the process group at "
            f"{launch.master_addr}:{launch.master_port} ({backend}) within {seconds:g} s: {e}{_restart_hint()}"
        ) from e
    return DistributedContext(launch.rank, launch.world_size, launch.local_rank, dev, backend, seconds, True, True)
