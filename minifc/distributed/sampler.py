"""Which samples each rank trains on: one seeded permutation per epoch, cut into disjoint shares.

The semantics of ``torch.utils.data.DistributedSampler``, with minibatches on top:

1. every rank draws the same permutation of ``range(num_samples)`` from
   ``torch.Generator().manual_seed(seed + epoch)`` (:meth:`ShardedSampler.set_epoch` each epoch);
2. ``drop_last=False``: the list is padded by repeating its beginning up to a multiple of the world
   size W (a few samples are seen twice per epoch); ``drop_last=True``: the tail beyond the last
   multiple of W is dropped. Call the result ``order`` (length N');
3. rank r takes ``order[r::W]`` and cuts it into minibatches of ``b = B // W`` (B: the global batch);
   a last, incomplete minibatch is dropped (as the Trainer drops it).

**Equivalence with one process.** Rank r's j-th sample of step k is ``order[k*B + j*W + r]``, so at
step k the W ranks together train on exactly ``order[k*B : (k+1)*B]``: the minibatch of step k of one
process with batch B drawing from the same ``order``. The mean of the W per-rank mean gradients is
then that process's mean gradient (equal sizes b on every rank), and training matches up to rounding.
``order`` equals the plain permutation except for the padding, so the one-process run of
``ShardedSampler(N, B, rank=0, world_size=1)`` agrees with the W ranks at every step k whose batch
lies within the first N entries; with ``drop_last=True`` that is every step (both have
``N // B`` steps), with ``drop_last=False`` the W ranks may take one more step, over repeated samples.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .rank import get_rank, get_world_size

__all__ = ["ShardedSampler", "check_global_batch", "eval_shard", "rank_seed"]


def _int(value: object, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"ShardedSampler: {what} must be an integer >= {low}, got {value!r}")
    return value


def check_global_batch(global_batch_size: int, world_size: int) -> None:
    """ValueError naming both numbers unless the global batch splits evenly over the ranks."""
    if global_batch_size % world_size:
        raise ValueError(
            f"the global batch size {global_batch_size} is not divisible by the world size "
            f"{world_size}: every rank takes global batch / world size samples per step; choose a "
            f"batch size that is a multiple of {world_size}"
        )


class ShardedSampler:
    """This rank's minibatch indices, epoch by epoch (see the module docstring for the exact rules).

    ``rank``/``world_size`` default to this process's place in the default process group (0 and 1
    without one). Raises ValueError when the global batch does not divide by the world size, or
    when a rank's share of the epoch is smaller than one per-rank minibatch.
    """

    def __init__(
        self,
        num_samples: int,
        global_batch_size: int,
        *,
        rank: int | None = None,
        world_size: int | None = None,
        seed: int = 0,
        drop_last: bool = False,
        shuffle: bool = True,
    ) -> None:
        self.num_samples = _int(num_samples, "num_samples", 1)
        self.global_batch_size = _int(global_batch_size, "global_batch_size", 1)
        self.world_size = _int(get_world_size() if world_size is None else world_size, "world_size", 1)
        self.rank = _int(get_rank() if rank is None else rank, "rank", 0)
        if self.rank >= self.world_size:
            raise ValueError(f"ShardedSampler: rank {self.rank} is not below world_size {self.world_size}")
        self.seed = _int(seed, "seed", 0)
        self.drop_last, self.shuffle = bool(drop_last), bool(shuffle)
        check_global_batch(self.global_batch_size, self.world_size)
        self.batch_size = self.global_batch_size // self.world_size
        if self.samples_per_rank < self.batch_size:
            raise ValueError(
                f"ShardedSampler: {self.num_samples} samples give each of {self.world_size} rank(s) "
                f"{self.samples_per_rank} per epoch, fewer than the per-rank batch of {self.batch_size} "
                f"(global batch {self.global_batch_size})"
            )
        self.epoch = 0

    @property
    def total_size(self) -> int:
        """N': the length of the padded (or truncated) epoch order, a multiple of the world size."""
        w = self.world_size
        return self.num_samples // w * w if self.drop_last else -(-self.num_samples // w) * w

    @property
    def samples_per_rank(self) -> int:
        return self.total_size // self.world_size

    @property
    def steps_per_epoch(self) -> int:
        """Minibatches per epoch, the same on every rank."""
        return self.samples_per_rank // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's permutation (call it at the start of every epoch, on every rank)."""
        self.epoch = _int(epoch, "epoch", 0)

    def epoch_order(self) -> torch.Tensor:
        """``order`` of the current epoch (same on every rank): (N',) int64."""
        n = self.num_samples
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.arange(n)
        size = self.total_size
        if size <= n:
            return order[:size]
        reps = -(-(size - n) // n)  # the padding may need the list more than once (n < world size)
        return torch.cat([order, order.repeat(reps)[: size - n]])

    def indices(self) -> torch.Tensor:
        """This rank's share of the epoch: ``order[rank::world_size]``, (N' / W,) int64."""
        return self.epoch_order()[self.rank :: self.world_size]

    def batches(self) -> list[torch.Tensor]:
        """This rank's minibatches of the epoch: ``steps_per_epoch`` tensors of ``batch_size`` indices."""
        share = self.indices()
        return list(share[: self.steps_per_epoch * self.batch_size].split(self.batch_size))

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.batches())

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __repr__(self) -> str:
        return (
            f"ShardedSampler(num_samples={self.num_samples}, global_batch_size={self.global_batch_size}, "
            f"rank={self.rank}, world_size={self.world_size}, seed={self.seed}, drop_last={self.drop_last})"
        )


def eval_shard(num_samples: int, rank: int | None = None, world_size: int | None = None) -> torch.Tensor:
    """This rank's share of an evaluation set, ``arange(num_samples)[rank::world_size]``, (ceil or floor
    of N / W,) int64: disjoint, together every sample exactly once (no padding, so that accuracy summed
    over the ranks with :func:`~minifc.distributed.all_reduce_accuracy` counts each sample once)."""
    n = _int(num_samples, "num_samples", 0)
    world = _int(get_world_size() if world_size is None else world_size, "world_size", 1)
    r = _int(get_rank() if rank is None else rank, "rank", 0)
    if r >= world:
        raise ValueError(f"eval_shard: rank {r} is not below world_size {world}")
    return torch.arange(n)[r::world]


def rank_seed(seed: int, rank: int) -> int:
    """A seed for rank ``rank``'s own random stream (augmentation, dropout): ``seed`` itself on rank 0
    (a one-process run draws what rank 0 draws), distinct and far apart for the other ranks."""
    return (int(seed) + int(rank) * 0x9E3779B97F4A7C15) % 2**63
