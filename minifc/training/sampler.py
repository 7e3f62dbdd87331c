"""Minibatch samplers: which rows of X_train each training step sees.

A sampler's ``next_batch(step) -> (X_batch, y_batch)`` copies the step's rows into one buffer it
reuses from step to step (a fresh 1 MB+ tensor per step costs about a third more on CPU): each
batch overwrites the previous one, so code that keeps a batch past its step must clone it. Layers
may cache the previous batch, but every forward replaces those caches before a backward reads them.
Randomness comes from ``sampler.generator`` (the Trainer's, saved in its checkpoints).
"""

from __future__ import annotations

import torch

__all__ = ["Sampler", "ShuffleSampler", "SubsetSampler", "ReplacementSampler", "make_sampler"]


class Sampler:
    """Base: holds the training split and the row buffer. Subclasses choose the indices."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator) -> None:
        self.X, self.y, self.batch_size, self.generator = X, y, batch_size, generator
        self._buffer: torch.Tensor | None = None

    @property
    def iterations_per_epoch(self) -> int:
        return max(self.X.shape[0] // self.batch_size, 1)

    def indices(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's row indices (on X's device) and their labels."""
        raise NotImplementedError

    def next_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """X rows (batch, ...) and labels (batch,) of training step ``step`` (0-based, over all epochs)."""
        idx, y_batch = self.indices(step)
        buf = self._buffer
        if buf is None or buf.shape[0] != idx.shape[0]:
            buf = self._buffer = self.X.new_empty((idx.shape[0], *self.X.shape[1:]))
        return torch.index_select(self.X, 0, idx, out=buf), y_batch  # whole rows: faster than X[idx]

    def reset(self) -> None:
        """Forget anything drawn ahead (after a checkpoint restored the generator)."""


class ShuffleSampler(Sampler):
    """A new permutation every epoch, cut into ``iterations_per_epoch`` batches (the tail is dropped)."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator) -> None:
        super().__init__(X, y, batch_size, generator)
        self._batches: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def indices(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        batches = self._batches
        pos = step % self.iterations_per_epoch
        if pos == 0 or batches is None:
            # the epoch's permutation cut into its batches once, so that a step costs one torch op
            count = self.iterations_per_epoch * self.batch_size
            order = torch.randperm(self.X.shape[0], generator=self.generator)[:count].to(self.X.device)
            labels = self.y.index_select(0, order)
            pairs = zip(order.split(self.batch_size), labels.split(self.batch_size), strict=True)
            batches = self._batches = list(pairs)
        return batches[pos]

    def reset(self) -> None:
        self._batches = None


class SubsetSampler(Sampler):
    """Each step ``randperm(N)[:batch_size]``: distinct samples, the EECS 498 Solver's way (a batch
    larger than the set takes all of it)."""

    def indices(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randperm(self.X.shape[0], generator=self.generator)[: self.batch_size].to(self.X.device)
        return idx, self.y.index_select(0, idx)


class ReplacementSampler(Sampler):
    """Each step ``batch_size`` indices drawn with replacement (CS231n's Solver)."""

    def indices(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(self.X.shape[0], (self.batch_size,), generator=self.generator).to(self.X.device)
        return idx, self.y.index_select(0, idx)


SAMPLERS = {"shuffle": ShuffleSampler, "subset": SubsetSampler, "replacement": ReplacementSampler}


def make_sampler(
    sampling: str, X: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Sampler:
    """The sampler named ``sampling`` ('shuffle', 'subset' or 'replacement') over X (N, ...), y (N,)."""
    if sampling not in SAMPLERS:
        raise ValueError(f"sampling must be one of {', '.join(map(repr, SAMPLERS))}; got {sampling!r}")
    if batch_size > X.shape[0] and sampling != "subset":
        raise ValueError(f"batch_size ({batch_size}) is larger than the training set ({X.shape[0]} samples)")
    return SAMPLERS[sampling](X, y, batch_size, generator)
