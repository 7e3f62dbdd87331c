"""The generic Trainer: minibatch training of any model with the classic contract.

A model has ``params`` (name -> tensor; assigning an item replaces the tensor) and
``loss(X, y=None)`` returning scores, or ``(loss, grads)`` with grads keyed like params. A bare
:class:`minifc.nn.Module` is wrapped in :class:`minifc.models.Classifier` with the ``loss`` named.
The parts the Trainer wires together live in :mod:`minifc.training`; :meth:`Trainer.step` reads top
to bottom through the step's seams.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from ..device import resolve_device
from ..grad_mode import no_grad
from ..models import Classifier
from ..nn.modules import Module
from ..optim import check_config
from ..registry.core import default_registry
from ..validate import check_int, check_number
from .callbacks import standard_callbacks
from .divergence import finite_loss
from .first_step import check_grads, watch_layers
from .grad_transforms import resolve_transforms
from .gradients import LocalGradients
from .inputs import (
    check_against_model,
    check_optim_config,
    move_model,
    prepare_data,
    resolve_update_rule,
    trainable_model,
)
from .loop import call_callbacks, run_epochs
from .named_kinds import resolve_callbacks, resolve_schedule
from .options import TrainerOptions
from .precision import reduce_dtype_of, resolve_precision
from .regularize import add_penalties, resolve_regularizers
from .run_state import TrainingState
from .schedule import apply_schedule, check_schedule, lr_limit
from .trainer_accuracy import TrainerAccuracy
from .trainer_progress import TrainerProgress
from .trainer_setup import batches_and_hooks, check_initial_rate, join_data_parallel
from .update import InProduct, PerParameter, choose_updater

__all__ = ["Trainer", "resolve_device"]


class Trainer(TrainerProgress, TrainerAccuracy):
    """Minibatch training with any update rule, regularizers, callbacks and resumable checkpoints.

    Args:
        model: classic-contract model (``params``, ``loss``) or a :class:`minifc.nn.Module`.
        data: dict with ``X_train`` (N, ...), ``y_train`` (N,), ``X_val``, ``y_val``.
        update_rule: a registered name (``"adam"``) or a function ``rule(w, dw, config)``.
        optim_config: hyper-parameters given to every parameter's config (e.g. learning_rate).
        regularizers: a list of names or specs, e.g. ``["l1", {"name": "max_norm", "max_norm": 3.0}]``.
        lr_decay: learning rate multiplier applied after every epoch.
        schedule: a registered name with options (``"step:step_size=2,gamma=0.5"``) or a function
            ``schedule(step, total_steps) -> factor`` (>= 0) on the base learning rate per step.
        batch_size, num_epochs: minibatch size and number of epochs.
        device: ``"auto"`` (cuda, mps, cpu), or any torch device; model and data move there once.
        seed: seeds minibatch order, subsampling and, when training starts, torch's global RNG
            (dropout masks). Seed the model's initialisation with :func:`minifc.seed_everything`.
        callbacks: objects with ``on_*`` methods (see :mod:`minifc.training.callbacks`) or registered names
            (``"early_stopping:patience=3"``), called in order after the Trainer's own progress bar and epoch log.
        sampling: ``"shuffle"`` (a permutation per epoch), ``"subset"`` (each step the first
            ``batch_size`` of a fresh permutation, the EECS 498 Solver's way) or ``"replacement"``
            (CS231n's); see :mod:`minifc.training.sampler` (the batch lives in a reused buffer).
        num_train_samples, num_val_samples: accuracy is measured on this many samples (None: all).
        augment: ``augment(X_batch) -> X_batch`` applied to every training minibatch on the device.
        checkpoint_path: file rewritten (atomically) after every epoch; the previous one is kept
            beside it as ``<name>.prev<suffix>``. An earlier run's files there (a run this Trainer did
            not resume) are moved into ``replaced-<time>/`` beside them at the first save, with a warning.
        loss: loss name or function, used when ``model`` is a bare Module.
        progress: tqdm bar per epoch; None shows it only when stderr is a terminal.
        verbose: print a line per epoch (False: nothing at all).
        fused: rules with a one-kernel form (adam, adamw) use it (torch's fused Adam kernel).
        update_in_product: Linear layers apply sgd / sgd_momentum updates inside their weight-gradient
            product (:class:`minifc.training.update.InProduct`, the rule's ``sink`` form).
            Both are the same math rounded differently; with both False the update is bit-identical
            to the rule per parameter.
        fuse_updates: the older spelling: False turns both ``fused`` and ``update_in_product`` off.
        gradient_transforms: names, specs or objects (``["clip_norm:max_norm=1.0"]``) run in order on the gradients
            before the update (:mod:`minifc.training.grad_transforms`); with any, ``update_in_product`` is off.
        gradient_hooks: the step's gradient-hook seam (:mod:`minifc.training.gradients`).
        distributed: train as one rank of a data-parallel job (:mod:`minifc.training.data_parallel`):
            True, a :class:`minifc.distributed.DistributedContext`, or None (the default) to follow
            torchrun's environment (WORLD_SIZE set). ``batch_size`` is then the global batch.
        bucket_cap_mb, overlap: gradient buckets of a data-parallel run, and whether their
            all-reduces start during the backward pass. ``timeout``: seconds a rank waits for the others.
        precision, reduce_precision: ``"32"``, ``"64"``, ``"bf16-mixed"``, ``"auto"`` or None (the model's dtype);
            ``"bf16"`` all-reduces data-parallel gradients in bfloat16 (:mod:`minifc.training.precision`).

    The run's progress is one :class:`~minifc.training.run_state.TrainingState`, ``trainer.training_state``,
    saved and restored whole by the checkpoints; ``trainer.epoch``, ``step_count``, the histories,
    ``best_val_acc``, ``best_params``, ``optim_configs``, ``base_lr``, ``stop_training``, ... read and write it.

    Attribute ``run_config``: None, or a dict of plain values (JSON types) describing the run, saved in
    every checkpoint and restored by a resume that did not set its own.
    """

    updater: PerParameter  # the update seam's strategy, chosen for each fresh run (_start_fresh)

    def __init__(
        self,
        model: Any,
        data: Mapping[str, torch.Tensor],
        update_rule: str | Callable[..., Any] = "sgd",
        optim_config: Mapping[str, Any] | None = None,
        regularizers: Iterable[Any] | None = None,
        lr_decay: float = 1.0,
        batch_size: int = 100,
        num_epochs: int = 10,
        device: str | torch.device | None = "auto",
        seed: int | None = None,
        callbacks: Iterable[Any] | None = None,
        schedule: str | Mapping[str, Any] | Callable[[int, int], float] | None = None,
        sampling: str = "shuffle",
        num_train_samples: int | None = 1000,
        num_val_samples: int | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        loss: str | Callable[..., Any] = "softmax",
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        progress: bool | None = None,
        verbose: bool = True,
        fuse_updates: bool = True,
        gradient_hooks: Any = None,
        distributed: Any = None,
        bucket_cap_mb: float = 25.0,
        overlap: bool = True,
        timeout: float = 300.0,
        fused: bool = True,
        update_in_product: bool = True,
        gradient_transforms: Iterable[Any] | None = None,
        precision: str | None = None,
        reduce_precision: str = "32",
    ) -> None:
        self.model = trainable_model(model, loss)
        self.device, self.parallel = join_data_parallel(self.model, resolve_device(device), distributed, timeout)
        lookup = default_registry().component  # names resolve here, once; training/ gets the components
        self.update_rule, self.update_rule_name, self.rule_provider = resolve_update_rule(update_rule, lookup)
        self.optim_config = check_optim_config(optim_config)
        check_config(self.update_rule, dict(self.optim_config), f"update rule {self.update_rule_name!r}")
        self.regularizers = resolve_regularizers(regularizers, lookup)
        self.transforms = resolve_transforms(gradient_transforms, lookup)
        self.lr_decay = check_number(lr_decay, "lr_decay", minimum=0.0)
        self.num_epochs = check_int(num_epochs, "num_epochs", minimum=0)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.seed = check_int(seed, "seed", minimum=0, optional=True)
        if self.parallel is not None:
            self.seed = self.parallel.common_seed(self.seed)
        self.schedule = check_schedule(resolve_schedule(schedule, lookup, self.num_epochs))
        reduce_dtype = reduce_dtype_of(reduce_precision)
        self.precision = resolve_precision(precision, self.device, self.model)
        dtype = self.precision.dtype or next(iter(self.model.params.values())).dtype
        check_initial_rate(self.optim_config, self.update_rule, self.lr_decay, self.num_epochs, dtype)
        self.num_train_samples = check_int(num_train_samples, "num_train_samples", 1, optional=True)
        self.num_val_samples = check_int(num_val_samples, "num_val_samples", 1, optional=True)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.augment = augment
        self.verbose = verbose
        self.fused = bool(fused) and bool(fuse_updates)
        self.update_in_product = bool(update_in_product) and bool(fuse_updates) and self.transforms is None
        main = self.parallel is None or self.parallel.is_main
        self.callbacks = [*standard_callbacks(verbose and main, progress), *resolve_callbacks(callbacks, lookup)]

        move_model(self.model, self.device)
        self.data = prepare_data(data, dtype, self.device)
        check_against_model(self.model, self.data)
        self.working_copies = self.precision.apply(self.model, say=verbose and main)  # after the checks
        self.generator = torch.Generator()
        self.sampler, self.gradient_hooks = batches_and_hooks(
            self.parallel, self.model, self.data, sampling, self.batch_size, self.seed, self.generator,
            gradient_hooks, bucket_cap_mb, overlap, reduce_dtype,
        )  # fmt: skip
        self.sampling = sampling
        # plain values describing the run (the CLI's configuration), kept in its checkpoints: a resume can
        # compare what it is given with what the run was trained with
        self.run_config: dict[str, Any] | None = None
        self._explicit = isinstance(self.model, Classifier) and type(self.model).loss is Classifier.loss
        self._start_fresh()

    @classmethod
    def from_options(
        cls,
        model: Any,
        data: Mapping[str, torch.Tensor],
        options: TrainerOptions | None = None,
        *,
        device: str | torch.device | None = "auto",
        loss: str | Callable[..., Any] = "softmax",
    ) -> Trainer:
        """The Trainer for settings grouped as :class:`~minifc.training.options.TrainerOptions` (sampling,
        optimization, checkpoint, data-parallel, output): the same as passing their keyword arguments."""
        return cls(model, data, device=device, loss=loss, **(options or TrainerOptions()).keywords())

    @property
    def iterations_per_epoch(self) -> int:
        return self.sampler.iterations_per_epoch

    @property
    def world_size(self) -> int:
        """The number of processes training this model together (1 without data parallelism)."""
        return 1 if self.parallel is None else self.parallel.world_size

    def _start_fresh(self) -> None:
        """Give the Trainer a fresh run: a new :class:`~minifc.training.run_state.TrainingState`, its generator
        seeded (from ``seed``, or afresh), the sampler at its start, the gradient transforms' states and the
        update seam's strategy (:func:`~minifc.training.update.choose_updater`)."""
        default_lr = float(getattr(self.update_rule, "defaults", {}).get("learning_rate", 0.0))
        self.training_state = TrainingState.fresh(list(self.model.params), dict(self.optim_config), default_lr)
        if self.seed is not None:
            self.generator.manual_seed(self.seed)
        else:
            self.generator.seed()
        self.sampler.reset()
        if self.transforms is not None:
            self.training_state.transform_states = self.transforms.init(self.model.params, self.generator)
        self.updater = choose_updater(
            self.update_rule,
            f"update rule {self.update_rule_name!r} ({self.rule_provider})",
            self.regularizers,
            self.model if self._explicit else None,
            self.update_in_product,
            self.fused,
            self.parallel is None and isinstance(self.gradient_hooks, LocalGradients),
            self.working_copies,
        )

    # -- one step ------------------------------------------------------------------------------
    @no_grad  # one grad-mode switch for the whole step (each op's own no_grad then costs nothing)
    def step(self) -> float:
        """One training step; returns its loss. Raises :class:`DivergenceError` on a non-finite loss.

        batch -> forward + loss -> backward (each layer announces its finished gradients to the gradient
        hooks) -> gradient hooks -> regularizers -> gradient transforms -> update -> bookkeeping. The first
        step also checks what every component returns (:mod:`minifc.training.first_step`).
        """
        state = self.training_state
        check = not state.validated
        X, y = self.sampler.next_batch(state.step_count)
        if self.augment is not None:
            X = self.augment(X)
        if self.schedule is not None:
            total = self.num_epochs * self.sampler.iterations_per_epoch
            apply_schedule(state, self.schedule, total, self.lr_decay, lr_limit(self.model.params))
        params, hooks, updater = self.model.params, self.gradient_hooks, self.updater
        in_product = updater if isinstance(updater, InProduct) else None
        net = getattr(self.model, "net", None)
        with watch_layers(net) if check and isinstance(net, Module) else nullcontext():
            if self._explicit:
                loss, dscores = self.model.forward_loss(X, y)
                if in_product is not None:  # no weight may change before the loss is known to be finite
                    loss_value = finite_loss(loss, state, self.model, self.checkpoint_path)
                    in_product.arm(state.optim_configs)
                # on one process nothing listens: no per-layer announcement to make
                ready = None if type(hooks) is LocalGradients else hooks.ready
                grads = self.model.backward(dscores, on_ready=ready)
                if in_product is not None:
                    in_product.disarm(grads)
            else:
                loss, grads = self.model.loss(X, y)
        grads = hooks.finish(grads)
        loss = add_penalties(self.regularizers, params, loss, grads, check)
        if in_product is None:
            loss_value = finite_loss(loss, state, self.model, self.checkpoint_path)
        if check:
            check_grads(self.model, {name: params[name] for name in grads}, grads)
        out = grads if self.transforms is None else self.transforms.apply(grads, params, state, check)
        if out is not None:  # None: a gradient transform skipped this step's update
            updater.update(params, out, state.optim_configs, check)
        state.validated = True
        state.loss_history.append(loss_value)
        state.step_count += 1
        return loss_value

    # -- the loop ------------------------------------------------------------------------------
    def train(
        self,
        resume: bool | str | os.PathLike | None = None,
        time_limit: float | None = None,
        return_best_params: bool = True,
    ) -> Trainer:
        """Train for ``num_epochs`` (minus those already done when resuming).

        ``resume``: True resumes from ``checkpoint_path``; a path resumes from that file.
        ``time_limit`` (seconds): stop before an iteration that would exceed it.
        Returns self; the model holds the best parameters when ``return_best_params``.
        """
        if resume:
            self.load_checkpoint(self.checkpoint_path if resume is True else resume)
        if self.seed is not None and not resume and self.parallel is None:
            torch.manual_seed(self.seed)
        self.training_state.stopped_by_time_limit = False
        call_callbacks(self, "on_train_begin")
        run_epochs(self, time_limit)
        call_callbacks(self, "on_train_end")
        if return_best_params and self.best_params:
            self.restore_best()
        return self

    def close(self) -> None:
        """End a data-parallel run (like ``torch.distributed.destroy_process_group()``): every rank waits for the
        others, then leaves the group the Trainer joined from torchrun's environment (one passed in as
        ``distributed`` is left to its owner); a no-op for one process."""
        if self.parallel is not None:
            self.parallel.close()
