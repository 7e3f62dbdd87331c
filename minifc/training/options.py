"""The Trainer's settings in four groups: what each step sees, how parameters are updated, where the run is
checkpointed, and how ranks train together (plus what the run shows).

``Trainer.from_options(model, data, optim=OptimOptions(update_rule="adam"), sampling=SamplingOptions(batch_size=50))``
builds the same Trainer as the keyword arguments ``Trainer(model, data, update_rule="adam", batch_size=50)``, which
keep working; :meth:`TrainerOptions.keywords` is the translation between the two.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import torch

__all__ = [
    "CheckpointOptions",
    "OptimOptions",
    "OutputOptions",
    "ParallelOptions",
    "SamplingOptions",
    "TrainerOptions",
]


@dataclass(frozen=True)
class SamplingOptions:
    """Which rows each step sees and how accuracy is measured: minibatch size, epochs, the ``sampling`` order
    (``shuffle``, ``subset``, ``replacement``), the seed of its generator, ``augment(X_batch) -> X_batch``,
    and the number of samples accuracy is measured on (None: all)."""

    batch_size: int = 100
    num_epochs: int = 10
    sampling: str = "shuffle"
    seed: int | None = None
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    num_train_samples: int | None = 1000
    num_val_samples: int | None = None


@dataclass(frozen=True)
class OptimOptions:
    """How parameters are updated: the rule (a registered name or ``rule(w, dw, config)``), its config,
    regularizers, ``lr_decay`` per epoch, a schedule (a registered name such as ``"step:gamma=0.5"``, or a
    function ``schedule(step, total_steps) -> factor``), and which faster
    update forms it may take: ``fused`` (a rule's one-kernel form), ``update_in_product`` (sgd /
    sgd_momentum inside the weight-gradient product); ``fuse_updates=False`` (the older spelling) turns
    both off; ``gradient_transforms`` run on the gradients before the update (``["clip_norm:max_norm=1"]``);
    ``precision``: ``"32"``, ``"64"``, ``"bf16-mixed"``, ``"auto"`` or None (the model's dtype)."""

    update_rule: str | Callable[..., Any] = "sgd"
    optim_config: Mapping[str, Any] | None = None
    regularizers: Iterable[Any] | None = None
    lr_decay: float = 1.0
    schedule: str | Mapping[str, Any] | Callable[[int, int], float] | None = None
    fuse_updates: bool = True
    fused: bool = True
    update_in_product: bool = True
    gradient_transforms: Iterable[Any] | None = None
    precision: str | None = None


@dataclass(frozen=True)
class CheckpointOptions:
    """Where the run's checkpoint is rewritten after every epoch (None: nowhere)."""

    checkpoint_path: str | os.PathLike[str] | None = None


@dataclass(frozen=True)
class ParallelOptions:
    """A data-parallel run (``distributed``: True, a context, or None to follow torchrun's environment), its
    gradient buckets, whether their all-reduces overlap the backward pass, the seconds a rank waits for the
    others; ``gradient_hooks``: the step's gradient-hook seam; ``reduce_precision``: ``"32"`` or ``"bf16"``
    (gradients all-reduced in bfloat16)."""

    distributed: Any = None
    bucket_cap_mb: float = 25.0
    overlap: bool = True
    timeout: float = 300.0
    gradient_hooks: Any = None
    reduce_precision: str = "32"


@dataclass(frozen=True)
class OutputOptions:
    """What the run shows and who is told: callbacks, the progress bar (None: on a terminal), epoch lines."""

    callbacks: Iterable[Any] | None = None
    progress: bool | None = None
    verbose: bool = True


@dataclass(frozen=True)
class TrainerOptions:
    """Every group of the Trainer's settings."""

    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    optim: OptimOptions = field(default_factory=OptimOptions)
    checkpoint: CheckpointOptions = field(default_factory=CheckpointOptions)
    parallel: ParallelOptions = field(default_factory=ParallelOptions)
    output: OutputOptions = field(default_factory=OutputOptions)

    def keywords(self) -> dict[str, Any]:
        """The Trainer's keyword arguments these options stand for."""
        groups = (self.sampling, self.optim, self.checkpoint, self.parallel, self.output)
        return {f.name: getattr(group, f.name) for group in groups for f in fields(group)}

    @classmethod
    def from_keywords(cls, **keywords: Any) -> TrainerOptions:
        """The options the Trainer's keyword arguments stand for; TypeError naming an unknown one."""
        groups: dict[str, Any] = {
            "sampling": SamplingOptions,
            "optim": OptimOptions,
            "checkpoint": CheckpointOptions,
            "parallel": ParallelOptions,
            "output": OutputOptions,
        }
        known = {f.name: group for group, kind in groups.items() for f in fields(kind)}
        unknown = sorted(set(keywords) - set(known))
        if unknown:
            raise TypeError(f"Trainer got unexpected keyword argument(s) {', '.join(unknown)}")
        values: dict[str, dict[str, Any]] = {group: {} for group in groups}
        for name, value in keywords.items():
            values[known[name]][name] = value
        return cls(**{group: kind(**values[group]) for group, kind in groups.items()})
