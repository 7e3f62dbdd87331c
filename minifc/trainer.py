"""The generic Trainer: minibatch training of any model with the classic contract.

A model has ``params`` (name -> tensor; assigning an item replaces the tensor) and
``loss(X, y=None)`` returning scores, or ``(loss, grads)`` with grads keyed like params. A bare
:class:`minifc.nn.Module` is wrapped in :class:`minifc.models.Classifier` with the ``loss`` named.
The parts the Trainer wires together live in :mod:`minifc.training`; :meth:`Trainer.step` reads top
to bottom through the step's seams.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from .callbacks import Callback, EpochLog, ProgressBar
from .checkpoint import atomic_save, check_finite, non_finite, safe_load
from .device import resolve_device
from .errors import CheckpointError, DivergenceError
from .models import Classifier
from .nn import Module
from .optim import check_config
from .registry import default_registry
from .training.first_step import check_grads, watch_layers
from .training.gradients import LocalGradients
from .training.inputs import check_against_model, check_optim_config, prepare_data
from .training.metrics import accuracy
from .training.regularize import add_penalties, resolve_regularizers
from .training.sampler import make_sampler
from .training.state import SCALAR_STATE, TENSOR_STATE, collect_state, parse_state
from .training.update import Foreach, Fused, PerParameter
from .validate import check_int, check_number

__all__ = ["Trainer", "resolve_device"]


class Trainer:
    """Minibatch training with any update rule, regularizers, callbacks and resumable checkpoints.

    Args:
        model: classic-contract model (``params``, ``loss``) or a :class:`minifc.nn.Module`.
        data: dict with ``X_train`` (N, ...), ``y_train`` (N,), ``X_val``, ``y_val``.
        update_rule: a registered name (``"adam"``) or a function ``rule(w, dw, config)``.
        optim_config: hyper-parameters given to every parameter's config (e.g. learning_rate).
        regularizers: a list of names or specs, e.g. ``["l1", {"name": "max_norm", "max_norm": 3.0}]``.
        lr_decay: learning rate multiplier applied after every epoch.
        schedule: ``schedule(step, total_steps) -> factor`` (>= 0) on the base learning rate per step,
            e.g. ``minifc.schedules.warmup_cosine(0.05)``.
        batch_size, num_epochs: minibatch size and number of epochs.
        device: ``"auto"`` (cuda, mps, cpu), or any torch device; model and data move there once.
        seed: seeds minibatch order, subsampling and, when training starts, torch's global RNG
            (dropout masks). Seed the model's initialisation with :func:`minifc.seed_everything`.
        callbacks: objects with ``on_*`` methods (see :mod:`minifc.callbacks`), called in order after
            the Trainer's own progress bar and epoch log.
        sampling: ``"shuffle"`` (a permutation per epoch), ``"subset"`` (each step the first
            ``batch_size`` of a fresh permutation, the EECS 498 Solver's way) or ``"replacement"``
            (CS231n's); see :mod:`minifc.training.sampler` (the batch lives in a reused buffer).
        num_train_samples, num_val_samples: accuracy is measured on this many samples (None: all).
        augment: ``augment(X_batch) -> X_batch`` applied to every training minibatch on the device.
        checkpoint_path: file rewritten (atomically) after every epoch; the previous one is kept
            beside it as ``<name>.prev<suffix>``.
        loss: loss name or function, used when ``model`` is a bare Module.
        progress: tqdm bar per epoch; None shows it only when stderr is a terminal.
        verbose: print a line per epoch (False: nothing at all).
        fuse_updates: let Linear layers apply sgd / sgd_momentum updates inside their weight-gradient
            product (:class:`minifc.training.update.Fused`); the same math, rounded differently.
        gradient_hooks: the step's gradient-hook seam (:mod:`minifc.training.gradients`); data-parallel
            training passes its reducer here.
    """

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
        schedule: Callable[[int, int], float] | None = None,
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
    ) -> None:
        self.model = Classifier(model, loss) if isinstance(model, Module) else model
        for attr in ("params", "loss"):
            if not hasattr(self.model, attr):
                raise TypeError(
                    f"Trainer: model must have `params` and `loss(X, y=None)`; {type(model).__name__} has no {attr}"
                )
        self.device = resolve_device(device)
        self.update_rule, self.update_rule_name, self.rule_provider = _resolve_rule(update_rule)
        self.optim_config = check_optim_config(optim_config)
        check_config(self.update_rule, dict(self.optim_config), f"update rule {self.update_rule_name!r}")
        self.regularizers = resolve_regularizers(regularizers)
        self.lr_decay = check_number(lr_decay, "lr_decay", minimum=0.0)
        self.num_epochs = check_int(num_epochs, "num_epochs", minimum=0)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.seed = None if seed is None else check_int(seed, "seed", minimum=0)
        self.schedule = _check_schedule(schedule)
        self.num_train_samples = None if num_train_samples is None else check_int(num_train_samples,
                                                                                   "num_train_samples", 1)
        self.num_val_samples = None if num_val_samples is None else check_int(num_val_samples, "num_val_samples", 1)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.augment = augment
        self.verbose = verbose
        self.fuse_updates = bool(fuse_updates)
        self.gradient_hooks = gradient_hooks if gradient_hooks is not None else LocalGradients()
        show_bar = progress if progress is not None else sys.stderr.isatty()
        self.callbacks: list[Any] = [
            *([ProgressBar()] if show_bar and verbose else []),
            *([EpochLog()] if verbose else []),
            *(callbacks or []),
        ]

        self._move_model()
        self.data = prepare_data(data, self._model_dtype(), self.device)
        check_against_model(self.model, self.data)
        self.generator = torch.Generator()
        self.sampler = make_sampler(sampling, self.data["X_train"], self.data["y_train"], self.batch_size,
                                    self.generator)
        self.sampling = sampling
        self._explicit = isinstance(self.model, Classifier) and type(self.model).loss is Classifier.loss
        self._reset()

    # -- setup ---------------------------------------------------------------------------------
    def _move_model(self) -> None:
        net = getattr(self.model, "net", None)
        if isinstance(net, Module):
            net.to(device=self.device)
            return
        params = self.model.params
        for name in list(params):
            if params[name].device != self.device:
                params[name] = params[name].to(self.device)

    def _model_dtype(self) -> torch.dtype:
        return next(iter(self.model.params.values())).dtype

    def _reset(self) -> None:
        self.epoch = 0
        self.step_count = 0
        self.best_val_acc = 0.0
        self.best_params: dict[str, torch.Tensor] = {}
        self.best_buffers: dict[str, torch.Tensor] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.lr_history: list[float] = []
        self.optim_configs = {name: dict(self.optim_config) for name in self.model.params}
        default_lr = float(getattr(self.update_rule, "defaults", {}).get("learning_rate", 0.0))
        self.base_lr = {name: c.get("learning_rate", default_lr) for name, c in self.optim_configs.items()}
        self.stop_training = False
        self.stopped_by_time_limit = False
        self.elapsed = 0.0
        self._validated = False
        if self.seed is not None:
            self.generator.manual_seed(self.seed)
        else:
            self.generator.seed()
        self.sampler.reset()
        self._owns_checkpoint = False  # checkpoint_path holds this run's state (else another run's, or nothing)
        self.updater = self._choose_updater()

    def _choose_updater(self) -> PerParameter:
        """The update seam's strategy: fused into the weight-gradient product where that is the same
        update (a rule with a sink form, one process, no regularizers, reg 0, unshared parameters),
        else the rule's foreach form, else the rule per parameter."""
        rule, who = self.update_rule, f"update rule {self.update_rule_name!r} ({self.rule_provider})"
        objects = getattr(self.model, "param_objects", {})
        if (
            self.fuse_updates
            and getattr(rule, "sink", None) is not None
            and self._explicit
            and not self.regularizers
            and not self.model.reg
            and isinstance(self.gradient_hooks, LocalGradients)
            and len({id(p) for p in objects.values()}) == len(objects)
        ):
            return Fused(rule, who, objects)
        if getattr(rule, "foreach", None) is not None and not any(r.stage == "update" for r in self.regularizers):
            return Foreach(rule, who, self.regularizers)
        return PerParameter(rule, who, self.regularizers)

    @property
    def iterations_per_epoch(self) -> int:
        return self.sampler.iterations_per_epoch

    # -- one step ------------------------------------------------------------------------------
    def step(self) -> float:
        """One training step; returns its loss. Raises :class:`DivergenceError` on a non-finite loss.

        batch -> forward + loss -> backward (each layer announces its finished gradients to the
        gradient hooks) -> gradient hooks -> regularizers -> update -> bookkeeping. The first step
        also checks what every component returns (:mod:`minifc.training.first_step`).
        """
        check = not self._validated
        X, y = self.sampler.next_batch(self.step_count)
        if self.augment is not None:
            X = self.augment(X)
        self._apply_schedule()
        params, hooks, updater = self.model.params, self.gradient_hooks, self.updater
        fused = isinstance(updater, Fused)
        net = getattr(self.model, "net", None)
        with watch_layers(net) if check and isinstance(net, Module) else nullcontext():
            if self._explicit:
                loss, dscores = self.model.forward_loss(X, y)
                if fused:  # no weight may change before the loss is known to be finite
                    loss_value = self._finite(loss)
                    updater.arm(self.optim_configs)
                grads = self.model.backward(dscores, on_ready=hooks.ready)
                if fused:
                    updater.disarm(grads)
            else:
                loss, grads = self.model.loss(X, y)
        grads = hooks.finish(grads)
        loss = add_penalties(self.regularizers, params, loss, grads, check)
        if not fused:
            loss_value = self._finite(loss)
        if check:
            check_grads(self.model, {name: params[name] for name in grads}, grads)
        updater.update(params, grads, self.optim_configs, check)
        self._validated = True
        self.loss_history.append(loss_value)
        self.step_count += 1
        return loss_value

    def _finite(self, loss: Any) -> float:
        value = float(loss)
        if not math.isfinite(value):
            self._diverged(value)
        return value

    def _apply_schedule(self) -> None:
        if self.schedule is None:
            return
        total = self.num_epochs * self.iterations_per_epoch
        factor = self.schedule(self.step_count, total)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor < 0:
            raise ValueError(
                f"schedule {getattr(self.schedule, '__name__', self.schedule)!r} returned {factor!r} at step "
                f"{self.step_count}: a learning-rate factor must be a finite number >= 0"
            )
        factor *= self.lr_decay**self.epoch
        for name, config in self.optim_configs.items():
            config["learning_rate"] = self.base_lr[name] * factor

    def _diverged(self, loss_value: float | None = None, bad_params: list[str] | None = None) -> None:
        """Restore the best parameters so far (when an epoch has finished) and raise DivergenceError."""
        lr = next(iter(self.optim_configs.values())).get("learning_rate")
        if bad_params:
            what = f"parameter(s) {', '.join(bad_params)} became NaN/Inf by iteration {self.step_count}"
        else:
            what = f"the loss became {loss_value} at iteration {self.step_count + 1}"
        if self.best_params:
            self.restore_best()
        kept = "the best parameters so far were restored in the model" if self.best_params else "no epoch had finished"
        if self.checkpoint_path is not None and self.checkpoint_path.is_file():
            kept += f"; the last checkpoint {self.checkpoint_path} was not touched"
        if self.step_count == 0 and not bad_params:
            hint = "No update had happened yet: check the data, the weight scale and the loss."
        else:
            hint = f"Try a smaller learning rate (it was {lr})."
        raise DivergenceError(f"training diverged: {what} (epoch {self.epoch + 1}); {kept}. {hint}")

    def restore_best(self) -> None:
        """Put the best parameters (and buffers) measured so far back into the model."""
        self.model.params = {k: v.clone() for k, v in self.best_params.items()}
        net = getattr(self.model, "net", None)
        if self.best_buffers and isinstance(net, Module):
            net.load_state_dict(self.best_buffers, strict=False)

    # -- accuracy ------------------------------------------------------------------------------
    def check_accuracy(
        self, X: torch.Tensor, y: torch.Tensor, num_samples: int | None = None, batch_size: int = 100
    ) -> float:
        """Fraction of correct predictions on X (N, ...) and y (N,), on a random subsample of
        ``num_samples`` when given, computed in batches."""
        return accuracy(self.model, X, y, num_samples, batch_size, self.generator)

    def evaluate(self) -> tuple[float, float]:
        """Measure train (on ``num_train_samples``) and validation accuracy, record them in the
        histories and keep the parameters when validation accuracy is the best so far."""
        d = self.data
        train_acc = self.check_accuracy(d["X_train"], d["y_train"], self.num_train_samples)
        val_acc = self.check_accuracy(d["X_val"], d["y_val"], self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = max(val_acc, self.best_val_acc)
            self.best_params = {k: v.clone() for k, v in self.model.params.items()}
            net = getattr(self.model, "net", None)
            if isinstance(net, Module):
                self.best_buffers = {k: v.clone() for k, v in net.named_buffers()}
        return train_acc, val_acc

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
        if self.seed is not None and not resume:
            torch.manual_seed(self.seed)
        self.stopped_by_time_limit = False
        self._call("on_train_begin")
        start = time.time() - self.elapsed
        prev = time.time()
        ipe = self.iterations_per_epoch
        step_hooks = _step_hooks(self.callbacks)
        try:
            while self.epoch < self.num_epochs and not self.stop_training:
                self._call("on_epoch_begin")
                for it in range(ipe):
                    if time_limit is not None:
                        now = time.time()
                        if self.step_count > 0 and now - start + (now - prev) > time_limit:
                            self.stopped_by_time_limit = self.stop_training = True
                            break
                        prev = now
                    self.step()
                    for hook in step_hooks:
                        hook(self)
                    if self.stop_training:
                        break
                if self.stop_training and it < ipe - 1:
                    break
                self.elapsed = time.time() - start
                self._end_epoch()
        finally:
            self.elapsed = time.time() - start
        self._call("on_train_end")
        if return_best_params and self.best_params:
            self.restore_best()
        return self

    def _call(self, hook: str) -> None:
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if method is not None:
                method(self)

    def _end_epoch(self) -> None:
        bad = non_finite(dict(self.model.params))
        if bad:  # the loss was still finite, but the last updates overflowed
            self._diverged(bad_params=bad)
        self.epoch += 1
        self.lr_history.append(float(next(iter(self.optim_configs.values())).get("learning_rate", float("nan"))))
        for config in self.optim_configs.values():
            if "learning_rate" in config:
                config["learning_rate"] *= self.lr_decay
        self.evaluate()
        if self.checkpoint_path is not None:
            self.save_checkpoint(self.checkpoint_path)
        self._call("on_epoch_end")

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to resume, as tensors and plain values only."""
        return collect_state(self)

    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        """Write :meth:`state` atomically to ``path``, keeping the file it replaces as ``.prev``.

        ``path`` exists at every moment (old or new, never half-written). Refuses (CheckpointError)
        to write a state holding NaN or Inf, so a diverged run never overwrites a good checkpoint.
        The first save of a run that did not resume replaces ``checkpoint_path`` without keeping it
        (and removes a stale ``.prev``): files of an earlier run are never this run's older checkpoint.
        """
        path = Path(path)
        state = self.state()
        check_finite({k: state[k] for k in TENSOR_STATE}, f"checkpoint {path}")
        prev = _prev_path(path)
        fresh = self.checkpoint_path is not None and path == self.checkpoint_path and not self._owns_checkpoint
        if fresh:  # the files there belong to an earlier run: never offer them as this run's older checkpoint
            prev.unlink(missing_ok=True)
        saved = atomic_save(state, path, keep_previous=None if fresh else prev)
        if self.checkpoint_path is not None and path == self.checkpoint_path:
            self._owns_checkpoint = True
        return saved

    def load_checkpoint(self, path: str | os.PathLike | None) -> None:
        """Restore everything :meth:`state` saved; training continues where it stopped.

        The whole file is checked before anything changes: a missing, corrupt, unsafe or mismatched
        checkpoint raises :class:`CheckpointError` (naming the file) and leaves the Trainer as it was.
        """
        if path is None:
            raise CheckpointError("resume=True needs checkpoint_path (or pass the checkpoint file as resume=...)")
        path = Path(path)
        prev = _prev_path(path)
        hint = f"; the older checkpoint {prev} is kept: resume from it (resume='{prev}', or rename it to {path.name})"
        hint = hint if prev.is_file() else ""
        try:
            restored = parse_state(self, safe_load(path))
        except CheckpointError as e:
            where = "" if str(path) in str(e) else f"{path}: "
            raise CheckpointError(f"{where}{e}{hint}") from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
            why = f"{type(e).__name__}: {e}"
            raise CheckpointError(f"{path} is not a valid minifc Trainer checkpoint ({why}){hint}") from None
        self._warn_on_differences(path, restored)
        self.model.params = restored["params"]
        net = getattr(self.model, "net", None)
        if restored["buffers"] and isinstance(net, Module):
            net.load_state_dict(restored["buffers"], strict=False)
        self.optim_configs = restored["optim_configs"]
        self.best_params = restored["best_params"]
        self.best_buffers = restored["best_buffers"]
        for key in SCALAR_STATE:
            setattr(self, key, restored[key])
        rng = restored["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.generator.set_state(rng["generator"])
        self.sampler.reset()
        self._validated = False
        self._owns_checkpoint = True

    def _warn_on_differences(self, path: Path, restored: dict[str, Any]) -> None:
        """Resuming continues the saved run; say so where this Trainer was configured differently."""
        notes = []
        if restored["batch_size"] not in (None, self.batch_size):
            notes.append(f"batch_size {self.batch_size} (the run used {restored['batch_size']})")
        saved = next(iter(restored["optim_configs"].values()), {})
        changed = sorted(k for k, v in self.optim_config.items() if k != "learning_rate" and saved.get(k, v) != v)
        if changed:
            notes.append(f"optim_config {changed} replaced by the checkpoint's values")
        if restored["num_threads"] not in (None, torch.get_num_threads()):
            notes.append(
                f"{torch.get_num_threads()} torch threads (the run used {restored['num_threads']}: results are "
                "not bit-identical)"
            )
        if notes:
            warnings.warn(f"resuming {path} with " + "; ".join(notes), stacklevel=3)


def _resolve_rule(rule: str | Callable[..., Any]) -> tuple[Callable[..., Any], str, str]:
    if isinstance(rule, str):
        component = default_registry().component("update_rule", rule)
        return component.obj, rule, component.provider
    if not callable(rule):
        raise TypeError(f"update_rule must be a name or a function, got {type(rule).__name__}")
    return rule, getattr(rule, "__name__", repr(rule)), "user function"


def _check_schedule(schedule: Any) -> Any:
    """A schedule is called as ``schedule(step, total_steps)`` and must return a number."""
    if schedule is None:
        return None
    if not callable(schedule):
        raise TypeError(f"schedule must be a function schedule(step, total_steps) -> factor, got {schedule!r}")
    try:
        factor = schedule(0, 100)
    except TypeError as e:
        raise TypeError(
            f"schedule {getattr(schedule, '__name__', schedule)!r} cannot be called as schedule(step, total_steps) "
            f"({e}); a schedule factory such as warmup_cosine must be called first: warmup_cosine(0.05)"
        ) from None
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        raise TypeError(
            f"schedule {getattr(schedule, '__name__', schedule)!r} returned {type(factor).__name__} for step 0; "
            "it must return a number (did you pass a schedule factory without calling it?)"
        )
    return schedule


def _prev_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _step_hooks(callbacks: list[Any]) -> list[Callable[[Trainer], Any]]:
    """The callbacks' ``on_step_end`` methods, looked up once per ``train()`` because the step loop is
    the Trainer's overhead; :class:`~minifc.callbacks.Callback`'s inherited no-op is left out."""
    hooks = []
    for cb in callbacks:
        hook = getattr(cb, "on_step_end", None)
        if hook is not None and getattr(type(cb), "on_step_end", None) is not Callback.on_step_end:
            hooks.append(hook)
    return hooks


