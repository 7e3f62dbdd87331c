"""What the Trainer does differently when it runs as one rank of a data-parallel job.

Built from :mod:`minifc.distributed` (torch.distributed: gloo on CPU, nccl on CUDA):

- at the start, rank 0's parameters and buffers are broadcast, so every rank starts equal;
- every rank draws the same seeded permutation per epoch and takes its own share of it
  (:class:`ShardSampler`, per-rank batch = global batch / world size); dropout and augmentation draw
  from per-rank streams (:func:`~minifc.distributed.rank_seed`);
- the step's gradient-hook seam all-reduces gradients in buckets, started layer by layer during the
  backward pass and finished before the regularizers and the update (:class:`AveragedGradients`), so
  every rank applies the same update; a checksum at every epoch's end names a rank that drifted;
- BatchNorm running statistics are averaged before evaluation and saving; accuracy is counted over
  each rank's shard and summed; only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.distributed as dist

from ..distributed import (
    DistributedContext,
    GradReducer,
    ShardedSampler,
    all_reduce_counts,
    average_buffers,
    broadcast_parameters,
    check_in_sync,
    eval_shard,
    init_process_group,
    rank_seed,
    read_launch_env,
    run_on_main,
)
from ..nn.modules import Module, Parameter
from .gradients import LocalGradients
from .metrics import count_correct, subsample
from .sampler import Sampler

__all__ = ["DataParallel", "ShardSampler", "AveragedGradients", "wants_data_parallel"]


def wants_data_parallel(distributed: Any) -> bool:
    """``distributed=None`` means: when this process was started by torchrun (WORLD_SIZE is set, even
    to 1: one rank of a job follows the job's data order)."""
    if distributed is None:
        return read_launch_env() is not None
    return bool(distributed)


class ShardSampler(Sampler):
    """This rank's minibatches: :class:`~minifc.distributed.ShardedSampler`'s per epoch."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, global_batch: int, rank: int, world: int, seed: int) -> None:
        self.sharded = ShardedSampler(X.shape[0], global_batch, rank=rank, world_size=world, seed=seed)
        super().__init__(X, y, self.sharded.batch_size, torch.Generator().manual_seed(seed))
        self._epoch: int | None = None
        self._batches: list[torch.Tensor] = []

    @property
    def iterations_per_epoch(self) -> int:
        return self.sharded.steps_per_epoch

    def indices(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, pos = divmod(step, self.iterations_per_epoch)
        if epoch != self._epoch:
            self.sharded.set_epoch(epoch)
            self._batches = [b.to(self.X.device) for b in self.sharded.batches()]
            self._epoch = epoch
        idx = self._batches[pos]
        return idx, self.y.index_select(0, idx)

    def reset(self) -> None:
        self._epoch = None


class AveragedGradients:
    """The gradient-hook seam of a data-parallel run: bucketed all-reduce (SUM, then / world size)."""

    def __init__(
        self, objects: Mapping[str, Parameter], bucket_cap_mb: float, overlap: bool,
        reduce_dtype: torch.dtype | None = None,
    ) -> None:
        self.objects = dict(objects)
        self.reducer = GradReducer(self.objects, None, bucket_cap_mb, overlap, reduce_dtype)

    def ready(self, parameters: list[Parameter]) -> None:
        self.reducer.ready(parameters)

    def finish(self, grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The averaged gradients (each layer's, announced complete, classic L2 term included)."""
        self.reducer.finish()
        return {name: _reduced(self.objects[name]) for name in grads}


class DataParallel:
    """A Trainer's rank in a data-parallel job (see the module docstring)."""

    def __init__(self, distributed: Any, device: torch.device, timeout: float) -> None:
        if isinstance(distributed, DistributedContext):
            self.ctx, self.owns_group = distributed, False
        else:
            self.ctx = init_process_group(device, timeout=timeout)
            self.owns_group = self.ctx.owns_group

    @property
    def rank(self) -> int:
        return self.ctx.rank

    @property
    def world_size(self) -> int:
        return self.ctx.world_size

    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    @property
    def device(self) -> torch.device:
        return self.ctx.device

    def check_model(self, model: Any) -> None:
        if not isinstance(getattr(model, "net", None), Module) or not hasattr(model, "param_objects"):
            raise TypeError(
                "data-parallel training needs a model built from minifc.nn modules (a Classifier, TwoLayerNet, "
                f"FullyConnectedNet or bare Module), got {type(model).__name__}"
            )

    def common_seed(self, seed: int | None) -> int:
        """The run's seed, the same on every rank (rank 0's random one when None)."""
        value = torch.tensor([-1 if seed is None else seed], dtype=torch.int64)
        if seed is None and self.is_main:
            value[0] = int(torch.randint(2**31 - 1, ()))
        if self.ctx.initialized:
            dist.broadcast(value, src=0)
        return int(value[0])

    def start(self, model: Any) -> None:
        """Every rank takes rank 0's parameters and buffers."""
        if self.ctx.initialized:
            broadcast_parameters(model.params, dict(model.net.named_buffers()))

    def sampler(self, X: torch.Tensor, y: torch.Tensor, global_batch: int, seed: int) -> ShardSampler:
        return ShardSampler(X, y, global_batch, self.rank, self.world_size, seed)

    def gradients(
        self, model: Any, bucket_cap_mb: float, overlap: bool, reduce_dtype: torch.dtype | None = None
    ) -> AveragedGradients | LocalGradients:
        """The gradient-hook seam: bucketed averaging over the ranks, summed in ``reduce_dtype`` (None: the
        gradients' own); nothing to do for a lone rank."""
        if not self.ctx.initialized:
            return LocalGradients()
        return AveragedGradients(model.param_objects, bucket_cap_mb, overlap, reduce_dtype)

    def seed_rank(self, seed: int) -> None:
        """Dropout and augmentation draw from this rank's own stream."""
        torch.manual_seed(rank_seed(seed, self.rank))

    def sync_buffers(self, model: Any) -> None:
        """Make running statistics (BatchNorm) the same on every rank: their mean."""
        buffers = dict(model.net.named_buffers())
        if buffers and self.ctx.initialized:
            average_buffers(buffers)

    def check_in_sync(self, model: Any, step: int) -> None:
        if self.ctx.initialized:
            check_in_sync(model.params, step)

    def accuracy(
        self,
        model: Any,
        X: torch.Tensor,
        y: torch.Tensor,
        num_samples: int | None = None,
        batch_size: int = 100,
        generator: torch.Generator | None = None,
    ) -> float:
        """Accuracy over every rank's disjoint share of X (N, ...), y (N,), summed over the ranks; on the
        same random subsample of ``num_samples`` rows on every rank (``generator`` is seeded alike)."""
        X, y = subsample(X, y, num_samples, generator)
        idx = eval_shard(X.shape[0], self.rank, self.world_size).to(X.device)
        Xs, ys = X.index_select(0, idx), y.index_select(0, idx)
        correct = count_correct(model, Xs, ys, batch_size)
        if not self.ctx.initialized:
            return correct / max(X.shape[0], 1)
        total_correct, total = all_reduce_counts(correct, Xs.shape[0])
        return total_correct / max(total, 1)

    def close(self) -> None:
        """Wait for every rank, then destroy the process group if this rank's Trainer created it (a group
        adopted from the caller stays). Leaving it to the interpreter's exit can abort a rank there."""
        if self.ctx.initialized and self.owns_group:
            self.ctx.barrier()
            self.ctx.destroy()

    def on_main(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn`` on rank 0 while the others wait (they raise if it fails there)."""
        if not self.ctx.initialized:
            return fn(*args)
        return run_on_main(fn, *args)


def _reduced(p: Parameter) -> torch.Tensor:
    """``p``'s averaged gradient, which ``GradReducer.finish`` has set (or raised)."""
    if p.grad is None:
        raise RuntimeError(f"parameter {p.name!r} has no reduced gradient")
    return p.grad
