"""Who am I in the process group: rank queries, barriers and rank-0-only work (checkpoints, logs).

Every function works without a process group too, as the single rank 0 of a world of 1, so that the
same training code runs in one process and under ``torchrun``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from .errors import DistributedError

__all__ = [
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "require_process_group",
    "collective_device",
    "barrier",
    "run_on_main",
    "lost_ranks",
]

T = TypeVar("T")


def is_distributed() -> bool:
    """Whether a process group is initialised (``torch.distributed.init_process_group`` was called)."""
    return dist.is_available() and dist.is_initialized()


def get_rank(group: Any = None) -> int:
    """This process's rank in ``group`` (the default group when None); 0 without a process group."""
    return dist.get_rank(group) if is_distributed() else 0


def get_world_size(group: Any = None) -> int:
    """The number of ranks in ``group`` (the default group when None); 1 without a process group."""
    return dist.get_world_size(group) if is_distributed() else 1


def is_main_process(group: Any = None) -> bool:
    """True on rank 0 (the rank that logs and writes checkpoints), and without a process group."""
    return get_rank(group) == 0


def require_process_group(who: str) -> None:
    """Raise :class:`DistributedError` naming ``who`` unless a process group is initialised."""
    if not is_distributed():
        raise DistributedError(
            f"{who} needs an initialised process group: call minifc.distributed.init_process_group(device) "
            "first (under torchrun, or with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set)"
        )


def lost_ranks(rank: int, world_size: int) -> str:
    """Which rank a failed collective of ``rank`` waited for, in words: "rank 1 did not answer ..." in a job of
    2 (the only other one), "one of ranks 1, 2, 3 ..." in a larger job (a timed-out collective does not tell which)."""
    others = [r for r in range(world_size) if r != rank]
    if len(others) == 1:
        who = f"rank {others[0]}"
    elif len(others) <= 8:
        who = "one of ranks " + ", ".join(map(str, others))
    else:
        who = f"one of the other {len(others)} ranks"
    return f"{who} did not answer (stopped, or its machine unreachable?)"


def _no_answer(group: Any) -> str:
    return lost_ranks(get_rank(group), get_world_size(group))


def collective_device(group: Any = None) -> torch.device:
    """Where small tensors for a collective must live: the current CUDA device for nccl, else the CPU."""
    if is_distributed() and dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier(group: Any = None) -> None:
    """Wait until every rank of ``group`` arrives here (no-op without a process group).

    Raises :class:`DistributedError` when a rank does not arrive within the group's timeout.
    """
    if get_world_size(group) == 1:
        return
    try:
        if dist.get_backend(group) == "nccl":
            dist.barrier(group, device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier(group)
    except RuntimeError as e:
        raise DistributedError(
            f"barrier on rank {get_rank(group)} failed (another rank stopped?): {_no_answer(group)}: {e}"
        ) from e


def run_on_main(fn: Callable[..., T], *args: Any, group: Any = None, **kwargs: Any) -> T | None:
    """Call ``fn(*args, **kwargs)`` on rank 0 only (e.g. write a checkpoint) while the others wait.

    Returns fn's result on rank 0 and None elsewhere. Every rank learns whether rank 0 succeeded:
    when fn raises on rank 0 it re-raises there, and the other ranks raise :class:`DistributedError`
    naming the failure, instead of waiting at a barrier until the timeout.
    """
    rank, world = get_rank(group), get_world_size(group)
    if world == 1:
        return fn(*args, **kwargs)
    result: T | None = None
    error: BaseException | None = None
    if rank == 0:
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001  (re-raised below, after telling the other ranks)
            error = e
    flag = torch.tensor([0 if error is None else 1], dtype=torch.int32, device=collective_device(group))
    try:
        dist.broadcast(flag, src=dist.get_global_rank(group, 0) if group is not None else 0, group=group)
    except RuntimeError as e:
        if error is not None:
            raise error from e
        if rank == 0:  # rank 0 waits for nobody here: another rank did not take part (stopped, or died)
            raise DistributedError(
                f"rank 0: telling the other ranks that {_name(fn)} finished failed (another rank stopped or "
                f"died?): {_no_answer(group)}: {e}"
            ) from e
        raise DistributedError(f"rank {rank}: waiting for rank 0 to finish {_name(fn)} failed: {e}") from e
    if error is not None:
        raise error
    if int(flag.item()):
        raise DistributedError(f"rank {rank}: {_name(fn)} failed on rank 0 (see rank 0's error)")
    return result


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
