"""The pieces of :class:`~minifc.training.trainer.Trainer`'s construction that resolve settings into parts:
the data-parallel group, the first learning rate's range, and the batch source with its gradient hooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..validate import check_lr_range
from .data_parallel import DataParallel, wants_data_parallel
from .gradients import LocalGradients
from .sampler import Sampler, make_sampler

__all__ = ["join_data_parallel", "check_initial_rate", "batches_and_hooks"]


def join_data_parallel(
    model: Any, device: torch.device, distributed: Any, timeout: float
) -> tuple[torch.device, DataParallel | None]:
    """The device to train on and the data-parallel group (None for one process), the model checked for it."""
    if not wants_data_parallel(distributed):
        return device, None
    parallel = DataParallel(distributed, device, timeout)
    parallel.check_model(model)
    return parallel.device, parallel


def check_initial_rate(
    optim_config: Mapping[str, Any],
    update_rule: Callable[..., Any],
    lr_decay: float,
    num_epochs: int,
    dtype: torch.dtype,
) -> None:
    """ValueError when the configured (or the rule's default) learning rate leaves ``dtype``'s range within
    ``num_epochs`` of ``lr_decay``."""
    lr = optim_config.get("learning_rate", getattr(update_rule, "defaults", {}).get("learning_rate", 0))
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        lr_name = "optim_config['learning_rate']"
        check_lr_range(float(lr), lr_decay, num_epochs, dtype, lr_name, "lr_decay")


def batches_and_hooks(
    parallel: DataParallel | None,
    model: Any,
    data: Mapping[str, torch.Tensor],
    sampling: str,
    batch_size: int,
    seed: int | None,
    generator: torch.Generator,
    gradient_hooks: Any,
    bucket_cap_mb: float,
    overlap: bool,
    reduce_dtype: torch.dtype | None,
) -> tuple[Sampler, Any]:
    """The step's minibatch sampler over the training data and its gradient-hook seam: local ones for one
    process, this rank's shard and the all-reducing hooks in a data-parallel run (which starts here)."""
    X, y = data["X_train"], data["y_train"]
    if parallel is None:
        hooks = gradient_hooks if gradient_hooks is not None else LocalGradients()
        return make_sampler(sampling, X, y, batch_size, generator), hooks
    parallel.start(model)
    assert seed is not None  # DataParallel.common_seed gave every rank the same one
    sampler = parallel.sampler(X, y, batch_size, seed)
    return sampler, parallel.gradients(model, bucket_cap_mb, overlap, reduce_dtype)
