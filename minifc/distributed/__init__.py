"""Data-parallel training on ``torch.distributed``: one process per rank, gradients averaged over ranks.

Building blocks (each works in a lone process too, as rank 0 of 1, unless it says otherwise):

- :func:`init_process_group` -> :class:`DistributedContext`: join the job torchrun describes
  (gloo for CPU, nccl for CUDA on ``cuda:LOCAL_RANK``, finite timeout);
- :func:`broadcast_parameters`: rank 0's parameters and buffers to every rank, at the start;
- :class:`ShardedSampler`: the same seeded permutation per epoch on every rank, a disjoint share each,
  per-rank batch = global batch / world size; :func:`eval_shard` for evaluation sets;
  :func:`rank_seed` for per-rank random streams;
- :class:`GradReducer`: bucketed all-reduce of the gradients, launched layer by layer during the
  backward pass (``ready``) and completed before the update (``finish``);
- :func:`check_in_sync`: periodic checksum, :class:`ParameterDriftError` naming the drifted ranks;
- :func:`average_buffers`, :func:`all_reduce_accuracy`: consistent BatchNorm statistics and
  accuracy over every rank's shard;
- :func:`barrier`, :func:`is_main_process`, :func:`run_on_main`: rank-0-only work such as checkpoints;
- :func:`run_local`: run a function on N local ranks (tests, benchmarks).
"""

from __future__ import annotations

from .context import DEFAULT_TIMEOUT, DistributedContext, LaunchEnv, init_process_group, read_launch_env
from .drift import check_in_sync, parameter_checksums
from .errors import DistributedError, ParameterDriftError
from .launch import RankOutcome, free_port, run_local
from .metrics import all_reduce_accuracy, all_reduce_counts
from .rank import (
    barrier,
    collective_device,
    get_rank,
    get_world_size,
    is_distributed,
    is_main_process,
    require_process_group,
    run_on_main,
)
from .reducer import DEFAULT_BUCKET_CAP_MB, GradReducer, ReducerStats
from .sampler import ShardedSampler, eval_shard, rank_seed
from .state import average_buffers, broadcast_parameters

__all__ = [
    "DEFAULT_BUCKET_CAP_MB",
    "DEFAULT_TIMEOUT",
    "DistributedContext",
    "DistributedError",
    "GradReducer",
    "LaunchEnv",
    "ParameterDriftError",
    "RankOutcome",
    "ReducerStats",
    "ShardedSampler",
    "all_reduce_accuracy",
    "all_reduce_counts",
    "average_buffers",
    "barrier",
    "broadcast_parameters",
    "check_in_sync",
    "collective_device",
    "eval_shard",
    "free_port",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_distributed",
    "is_main_process",
    "parameter_checksums",
    "rank_seed",
    "read_launch_env",
    "require_process_group",
    "run_local",
    "run_on_main",
]
