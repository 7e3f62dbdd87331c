"""The generic Trainer: minibatch training of any model with the classic contract.

A model has ``params`` (name -> tensor; assigning an item replaces the tensor) and
``loss(X, y=None)`` returning scores, or ``(loss, grads)`` with grads keyed like params. A bare
:class:`minifc.nn.Module` is wrapped in :class:`minifc.models.Classifier` with the ``loss`` named.

Update rules and regularizers are looked up by name in the plugin registry (a function works too).
Optimizer state lives in one ``config`` dict per parameter, on the parameter's device.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import optim
from .callbacks import Callback
from .checkpoint import atomic_save, check_finite, non_finite, safe_load
from .device import resolve_device  # re-exported: `from minifc.trainer import resolve_device` keeps working
from .errors import CheckpointError, DivergenceError, LabelError, MinifcError, ShapeError
from .models import Classifier
from .nn import Module
from .registry import default_registry

__all__ = ["Trainer", "resolve_device"]

CHECKPOINT_FORMAT = "minifc-trainer-1"


@dataclass
class _Regularizer:
    name: str
    fn: Callable[..., Any]
    stage: str
    applies_to: str
    config: dict[str, Any]
    provider: str

    def applies(self, tensor: torch.Tensor) -> bool:
        return self.applies_to == "all" or tensor.dim() >= 2


class Trainer:
    """Minibatch training with any update rule, regularizers, callbacks and resumable checkpoints.

    Args:
        model: classic-contract model (``params``, ``loss``) or a :class:`minifc.nn.Module`.
        data: dict with ``X_train`` (N, ...), ``y_train`` (N,), ``X_val``, ``y_val``.
        update_rule: a registered name (``"adam"``) or a function ``rule(w, dw, config)``.
        optim_config: hyper-parameters given to every parameter's config (e.g. learning_rate).
        regularizers: names or specs, e.g. ``["l1", {"name": "max_norm", "max_norm": 3.0}]``.
        lr_decay: learning rate multiplier applied after every epoch.
        schedule: ``schedule(step, total_steps) -> factor`` on the base learning rate per step.
        batch_size, num_epochs: minibatch size and number of epochs.
        device: ``"auto"`` (cuda, mps, cpu), or any torch device; model and data move there once.
        seed: seeds minibatch order, subsampling and torch's global RNG (dropout masks).
        callbacks: objects with ``on_*`` methods (see :mod:`minifc.callbacks`), called in order.
        sampling: ``"shuffle"`` (a permutation per epoch) or ``"replacement"`` (classic Solver). Either
            way the minibatch rows are copied into one buffer reused from step to step: each step's
            batch overwrites the previous one, so code that keeps a batch past its step must clone it.
        num_train_samples, num_val_samples: accuracy is measured on this many samples (None: all).
        augment: ``augment(X_batch) -> X_batch`` applied to every training minibatch on the device
            (random crops, flips; its randomness should come from torch's RNG so seeds cover it).
        checkpoint_path: file rewritten (atomically) after every epoch; the previous one is kept
            beside it as ``<name>.prev<suffix>``.
        loss: loss name or function, used when ``model`` is a bare Module.
        progress: tqdm bar per epoch; None shows it only when stderr is a terminal.
        verbose: print a line per epoch (False: nothing at all).
        fuse_updates: let Linear layers apply sgd / sgd_momentum updates inside their weight-gradient
            product (see :meth:`_sinks`); the same math, rounded differently. False: always the rule itself.
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
    ) -> None:
        self.model = Classifier(model, loss) if isinstance(model, Module) else model
        for attr in ("params", "loss"):
            if not hasattr(self.model, attr):
                raise TypeError(
                    f"Trainer: model must have `params` and `loss(X, y=None)`; {type(model).__name__} has no {attr}"
                )
        self.device = resolve_device(device)
        self.update_rule, self.update_rule_name = self._resolve_update_rule(update_rule)
        self._rule_provider = _provider("update_rule", update_rule) if isinstance(update_rule, str) else "user function"
        self.optim_config = _check_optim_config(optim_config)
        optim.check_config(self.update_rule, dict(self.optim_config), f"update rule {self.update_rule_name!r}")
        self.regularizers = [self._resolve_regularizer(spec) for spec in (regularizers or [])]
        self.lr_decay = _check_number(lr_decay, "lr_decay", minimum=0.0)
        self.num_epochs = _check_int(num_epochs, "num_epochs", minimum=0)
        if sampling not in ("shuffle", "replacement"):
            raise ValueError(f"sampling must be 'shuffle' or 'replacement', got {sampling!r}")
        self.sampling = sampling
        self.seed = seed
        self.schedule = schedule
        self.callbacks = list(callbacks or [])
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.progress = progress
        self.augment = augment
        self.verbose = verbose
        self.fuse_updates = bool(fuse_updates)

        self._move_model()
        self.data = self._prepare_data(data)
        self._check_against_model()
        n = self.data["X_train"].shape[0]
        self.batch_size = _check_int(batch_size, "batch_size", minimum=1)
        if self.batch_size > n:
            raise ValueError(f"batch_size ({self.batch_size}) is larger than the training set ({n} samples)")
        self._reset()

    # -- setup ---------------------------------------------------------------------------------
    def _resolve_update_rule(self, rule: str | Callable[..., Any]) -> tuple[Callable[..., Any], str]:
        if isinstance(rule, str):
            component = default_registry().component("update_rule", rule)
            return component.obj, rule
        if not callable(rule):
            raise TypeError(f"update_rule must be a name or a function, got {type(rule).__name__}")
        return rule, getattr(rule, "__name__", repr(rule))

    def _resolve_regularizer(self, spec: Any) -> _Regularizer:
        if callable(spec):
            return _Regularizer(getattr(spec, "__name__", "regularizer"), spec, "loss", "weights", {}, "user function")
        from .registry import parse_spec

        name, config = parse_spec(spec)
        component = default_registry().component("regularizer", name)
        meta = component.metadata
        defaults = meta.get("defaults", getattr(component.obj, "defaults", None))
        if defaults is not None:
            unknown = sorted(set(config) - set(defaults))
            if unknown:
                raise ValueError(
                    f"regularizer {name!r} ({component.provider}): unknown option(s) {unknown}; "
                    f"it takes {sorted(defaults)}"
                )
            config = {**defaults, **config}
        stage = meta.get("stage", "loss")
        if stage not in ("loss", "update"):
            raise ValueError(f"regularizer {name!r} ({component.provider}) has unknown stage {stage!r}")
        return _Regularizer(name, component.obj, stage, meta.get("applies_to", "weights"), config, component.provider)

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

    def _prepare_data(self, data: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Validate the data and move it (cast to the model's dtype) to the device, once."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a dict with X_train, y_train, X_val, y_val; got {type(data).__name__}")
        missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
        if missing:
            raise KeyError(f"data is missing {', '.join(missing)} (it needs X_train, y_train, X_val, y_val)")
        dtype = self._model_dtype()
        out = {}
        for split in ("train", "val"):
            X, y = data[f"X_{split}"], data[f"y_{split}"]
            for key, t in ((f"X_{split}", X), (f"y_{split}", y)):
                if not isinstance(t, torch.Tensor):
                    raise TypeError(f"data[{key!r}] must be a torch.Tensor, got {type(t).__name__}")
            if X.shape[0] == 0:
                raise ValueError(f"data['X_{split}'] is empty: training needs at least one sample")
            if y.dim() != 1 or y.shape[0] != X.shape[0]:
                raise LabelError(
                    f"data['y_{split}'] has shape {tuple(y.shape)}; expected ({X.shape[0]},), one label per row "
                    f"of X_{split}"
                )
            if y.dtype.is_floating_point or y.dtype == torch.bool:
                raise LabelError(f"data['y_{split}'] must hold integer class labels, got {y.dtype}")
            if bool((y < 0).any()):
                raise LabelError(f"data['y_{split}'] has negative labels (min {int(y.min())})")
            X = X.to(dtype)  # after the cast: float64 values beyond float32's range become Inf
            finite = torch.isfinite(X)
            if not bool(finite.all()):
                rows = (~finite).reshape(X.shape[0], -1).any(dim=1).nonzero().flatten()
                raise ValueError(
                    f"data['X_{split}'] contains NaN or Inf (as {dtype}) in {rows.numel()} sample(s), "
                    f"first at row {int(rows[0])}"
                )
            out[f"X_{split}"] = X.to(device=self.device)
            out[f"y_{split}"] = y.to(device=self.device, dtype=torch.int64)
        return out

    def _check_against_model(self) -> None:
        """One forward of a sample of each split: the features must fit the model and the labels
        its number of classes (the width of its scores)."""
        for split in ("train", "val"):
            X, y = self.data[f"X_{split}"], self.data[f"y_{split}"]
            try:
                scores = self.model.loss(X[:1])
            except (MinifcError, RuntimeError) as e:
                raise ShapeError(f"data['X_{split}'] (shape {tuple(X.shape)}) does not fit the model: {e}") from e
            if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
                got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
                raise ShapeError(f"the model's loss(X) must return scores of shape (N, C), got {got}")
            num_classes = scores.shape[1]
            top = int(y.max())
            if top >= num_classes:
                raise LabelError(
                    f"data['y_{split}'] has labels up to {top} but the model scores {num_classes} classes: "
                    f"labels must be in [0, {num_classes})"
                )

    def _reset(self) -> None:
        self.epoch = 0
        self.step_count = 0
        self.best_val_acc = 0.0
        self.best_params: dict[str, torch.Tensor] = {}
        self._best_buffers: dict[str, torch.Tensor] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.lr_history: list[float] = []
        self.optim_configs = {name: dict(self.optim_config) for name in self.model.params}
        default_lr = _default_lr(self.update_rule)
        self.base_lr = {name: c.get("learning_rate", default_lr) for name, c in self.optim_configs.items()}
        self.stop_training = False
        self.elapsed = 0.0
        self._validated = False
        self._checked_loss_value: tuple[torch.Tensor, float] | None = None
        self._fusable: bool | None = None  # decided at the first step
        self.generator = torch.Generator()
        if self.seed is not None:
            self.generator.manual_seed(int(self.seed))
        else:
            self.generator.seed()
        self._epoch_batches: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._batch_buffer: torch.Tensor | None = None
        self._owns_checkpoint = False  # checkpoint_path holds this run's state (else another run's, or nothing)

    @property
    def iterations_per_epoch(self) -> int:
        return max(self.data["X_train"].shape[0] // self.batch_size, 1)

    # -- one step ------------------------------------------------------------------------------
    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's minibatch (X rows copied out of X_train, their labels)."""
        X = self.data["X_train"]
        batches = self._epoch_batches
        if self.sampling == "replacement":
            idx = torch.randint(X.shape[0], (self.batch_size,), generator=self.generator).to(self.device)
            y_batch = self.data["y_train"].index_select(0, idx)
        else:
            pos = self.step_count % (len(batches) if batches else self.iterations_per_epoch)
            if pos == 0 or not batches:
                # the epoch's permutation cut into its batches once, so that a step costs one torch op
                count = self.iterations_per_epoch * self.batch_size
                order = torch.randperm(X.shape[0], generator=self.generator)[:count].to(self.device)
                labels = self.data["y_train"].index_select(0, order)
                pairs = zip(order.split(self.batch_size), labels.split(self.batch_size), strict=True)
                batches = self._epoch_batches = list(pairs)
            idx, y_batch = batches[pos]
        # The rows are copied into one buffer kept from step to step: a fresh 1 MB+ tensor per step costs
        # about a third more on CPU. Layers may still cache the previous batch, but every forward replaces
        # those caches before a backward reads them. index_select copies whole rows (faster than X[idx]).
        buf = self._batch_buffer
        if buf is None or buf.shape[0] != idx.shape[0]:
            buf = self._batch_buffer = X.new_empty((idx.shape[0], *X.shape[1:]))
        return torch.index_select(X, 0, idx, out=buf), y_batch

    def _step(self) -> float:
        """One minibatch: loss and gradients, regularizers, update of every parameter.

        Returns the loss as a float; raises :class:`DivergenceError` on a non-finite loss.
        """
        X_batch, y_batch = self._next_batch()
        if self.augment is not None:
            X_batch = self.augment(X_batch)
        self._apply_schedule()
        sinks, finishers = self._sinks()
        kwargs = {"sinks": sinks, "before_backward": self._stop_if_not_finite} if sinks else {}
        if self._validated:
            loss, grads = self.model.loss(X_batch, y_batch, **kwargs)
        else:
            loss, grads = self._checked_loss(X_batch, y_batch, **kwargs)
        params = self.model.params
        for name, finish in finishers.items():
            if name not in grads and finish is not None:  # its layer took the sink; e.g. momentum's w += v
                finish()
        for reg in self.regularizers:
            if reg.stage != "loss":
                continue
            for name, w in params.items():
                if reg.applies(w):
                    out = reg.fn(w, reg.config)
                    if not self._validated:
                        _validate_penalty(reg, name, w, out)
                    penalty, dpenalty = out
                    loss = loss + penalty
                    grads[name] = grads[name] + dpenalty
        checked, self._checked_loss_value = self._checked_loss_value, None
        loss_value = checked[1] if checked is not None and checked[0] is loss else float(loss)
        if not math.isfinite(loss_value):
            self._diverged(loss_value)
        if sinks:  # the parameters whose layer took their sink are updated already
            params = {name: params[name] for name in grads}
        if not self._validated:
            self._validate_grads(params, grads)
        remaining = {} if self._update_all(params, grads) else params  # the foreach form updates all or none
        for name, w in remaining.items():
            config = self.optim_configs[name]
            out = self.update_rule(w, grads[name], config)
            if not self._validated:
                self._validate_update(name, w, out)
            next_w, next_config = out
            for reg in self.regularizers:
                if reg.stage == "update" and reg.applies(next_w):
                    out = reg.fn(next_w, {**reg.config, "learning_rate": next_config.get("learning_rate", 0.0)})
                    if not self._validated:
                        _check_like(f"regularizer {reg.name!r} ({reg.provider})", "next_w", name, out, next_w)
                    next_w = out
            self.model.params[name] = next_w
            self.optim_configs[name] = next_config
        self._validated = True
        self.loss_history.append(loss_value)
        self.step_count += 1
        return loss_value

    def _sinks(self) -> tuple[dict[str, tuple], dict[str, Any]]:
        """Sinks for this step's weights (see :attr:`minifc.nn.Parameter.sink`) and their finishers.

        Used when ``fuse_updates`` is on, the update rule has a ``sink`` form (sgd, sgd_momentum), no
        regularizer is set, and the model is a :class:`~minifc.models.Classifier` with ``reg == 0`` and
        no parameter shared between layers; otherwise ({}, {}) and the step runs the plain path.
        """
        if self._fusable is None:
            model = self.model
            objects = list(getattr(model, "_param_objects", {}).values())
            self._fusable = (
                self.fuse_updates
                and getattr(self.update_rule, "sink", None) is not None
                and not self.regularizers
                and isinstance(model, Classifier)
                and "sinks" in inspect.signature(model.loss).parameters  # a subclass may override loss()
                and not model.reg
                and len({id(p) for p in objects}) == len(objects)
            )
        if not self._fusable:
            return {}, {}
        sinks, finishers = {}, {}
        sink, configs = self.update_rule.sink, self.optim_configs
        for name, p in self.model._param_objects.items():
            if p.data.dim() == 2:
                target, beta, alpha, finishers[name] = sink(p.data, configs[name])
                sinks[name] = (target, beta, alpha)
        return sinks, finishers

    def _stop_if_not_finite(self, loss: torch.Tensor) -> None:
        """Before a fused backward pass changes any weight: stop on a non-finite loss."""
        value = float(loss)
        if not math.isfinite(value):
            self._diverged(value)
        self._checked_loss_value = (loss, value)  # _step reads it back if the model returns this very loss

    def _update_all(self, params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor]) -> bool:
        """Update every parameter with one ``update_rule.foreach`` call (see :mod:`minifc.optim`; same results
        as the per-parameter loop) when the rule has that form, after the first (validated) step, without
        update-stage regularizers. Returns False when the per-parameter loop must run instead."""
        foreach = getattr(self.update_rule, "foreach", None)
        if foreach is None or not self._validated or any(r.stage == "update" for r in self.regularizers):
            return False
        names = list(params)
        return foreach([params[n] for n in names], [grads[n] for n in names], [self.optim_configs[n] for n in names])

    def _apply_schedule(self) -> None:
        if self.schedule is None:
            return
        total = self.num_epochs * self.iterations_per_epoch
        factor = float(self.schedule(self.step_count, total)) * self.lr_decay**self.epoch
        for name, config in self.optim_configs.items():
            config["learning_rate"] = self.base_lr[name] * factor

    def _validate_grads(self, params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor]) -> None:
        for name, w in params.items():
            g = grads.get(name)
            if g is None:
                raise MinifcError(f"the model's loss returned no gradient for parameter {name!r}")
            if g.shape != w.shape:
                raise ShapeError(
                    f"gradient of {name!r} has shape {tuple(g.shape)} but the parameter has {tuple(w.shape)}: "
                    f"a layer's backward{_layer_owner(self.model, name)} returned the wrong shape"
                )
            if g.dtype != w.dtype or g.device != w.device:
                raise MinifcError(
                    f"gradient of {name!r} is {g.dtype} on {g.device} but the parameter is {w.dtype} on {w.device}: "
                    f"a layer's backward{_layer_owner(self.model, name)} returned it"
                )
            if not bool(torch.isfinite(g).all()):
                raise DivergenceError(
                    f"gradient of {name!r} is not finite at the first step: the backward of its "
                    f"layer{_layer_owner(self.model, name)} or the loss returned NaN/Inf"
                )

    def _validate_update(self, name: str, w: torch.Tensor, out: Any) -> None:
        """The first step checks what the update rule returns: (next_w like w and finite, config dict)."""
        who = f"update rule {self.update_rule_name!r} ({self._rule_provider})"
        if not isinstance(out, tuple) or len(out) != 2 or not isinstance(out[1], dict):
            got = f"a {type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, tuple) else "")
            raise MinifcError(f"{who} must return (next_w, config) with config a dict, but returned {got} for {name!r}")
        _check_like(who, "next_w", name, out[0], w)

    def _checked_loss(self, X: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> Any:
        """``model.loss(X, y)`` with every layer's backward checked: dx must be like the layer's input.

        Used for the first step only, so that a layer whose backward returns a wrong shape, dtype or
        device is named at once instead of breaking the layer below it with a torch error.
        """
        net = getattr(self.model, "net", None)
        if not isinstance(net, Module):
            return self.model.loss(X, y, **kwargs)
        watched = [m for m in net.modules() if "forward" not in vars(m) and "backward" not in vars(m)]
        for m in watched:
            _watch(m)
        try:
            return self.model.loss(X, y, **kwargs)
        finally:
            for m in watched:
                vars(m).pop("forward", None)
                vars(m).pop("backward", None)

    def _diverged(self, loss_value: float | None = None, bad_params: list[str] | None = None) -> None:
        """Restore the best parameters so far (when an epoch has finished) and raise DivergenceError."""
        lr = next(iter(self.optim_configs.values())).get("learning_rate")
        if bad_params:
            what = f"parameter(s) {', '.join(bad_params)} became NaN/Inf by iteration {self.step_count}"
        else:
            what = f"the loss became {loss_value} at iteration {self.step_count + 1}"
        if self.best_params:
            self._restore_best()
        kept = "the best parameters so far were restored in the model" if self.best_params else "no epoch had finished"
        if self.checkpoint_path is not None and self.checkpoint_path.is_file():
            kept += f"; the last checkpoint {self.checkpoint_path} was not touched"
        if self.step_count == 0 and not bad_params:
            hint = "No update had happened yet: check the data, the weight scale and the loss."
        else:
            hint = f"Try a smaller learning rate (it was {lr})."
        raise DivergenceError(f"training diverged: {what} (epoch {self.epoch + 1}); {kept}. {hint}")

    def _restore_best(self) -> None:
        self.model.params = {k: v.clone() for k, v in self.best_params.items()}
        net = getattr(self.model, "net", None)
        if self._best_buffers and isinstance(net, Module):
            net.load_state_dict(self._best_buffers, strict=False)

    # -- accuracy ------------------------------------------------------------------------------
    def check_accuracy(
        self, X: torch.Tensor, y: torch.Tensor, num_samples: int | None = None, batch_size: int = 100
    ) -> float:
        """Fraction of correct predictions on X (N, ...) and y (N,), on a random subsample of
        ``num_samples`` when given, computed in batches."""
        n = X.shape[0]
        if num_samples is not None and n > num_samples:
            idx = torch.randperm(n, generator=self.generator)[:num_samples].to(X.device)
            X, y = X[idx], y[idx]
            n = num_samples
        correct = torch.zeros((), dtype=torch.int64, device=X.device)
        with torch.no_grad():
            for start in range(0, n, batch_size):
                scores = self.model.loss(X[start : start + batch_size])
                correct += (scores.argmax(dim=1) == y[start : start + batch_size]).sum()
        return correct.item() / max(n, 1)

    def _measure(self) -> tuple[float, float]:
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
                self._best_buffers = {k: v.clone() for k, v in net.named_buffers()}
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
            torch.manual_seed(int(self.seed))
        for cb in self.callbacks:
            _call(cb, "on_train_begin", self)
        start = time.time() - self.elapsed
        prev = time.time()
        ipe = self.iterations_per_epoch
        step_hooks = _step_hooks(self.callbacks)
        try:
            while self.epoch < self.num_epochs and not self.stop_training:
                bar = self._progress_bar(ipe)
                for it in range(ipe):
                    if time_limit is not None:
                        now = time.time()
                        if self.step_count > 0 and now - start + (now - prev) > time_limit:
                            self._log_time_limit(now - start)
                            self.stop_training = True
                            break
                        prev = now
                    loss = self._step()
                    self._after_step(loss, bar, it)
                    for hook in step_hooks:
                        hook(self)
                    if self.stop_training:
                        break
                if bar is not None:
                    bar.close()
                if self.stop_training and it < ipe - 1:
                    break
                self.elapsed = time.time() - start
                self._end_epoch()
        finally:
            self.elapsed = time.time() - start
        for cb in self.callbacks:
            _call(cb, "on_train_end", self)
        if return_best_params and self.best_params:
            self._restore_best()
        return self

    def _end_epoch(self) -> None:
        bad = non_finite(dict(self.model.params))
        if bad:  # the loss was still finite, but the last updates overflowed
            self._diverged(bad_params=bad)
        self.epoch += 1
        self.lr_history.append(float(next(iter(self.optim_configs.values())).get("learning_rate", float("nan"))))
        for config in self.optim_configs.values():
            if "learning_rate" in config:
                config["learning_rate"] *= self.lr_decay
        train_acc, val_acc = self._measure()
        self._log_epoch(train_acc, val_acc)
        if self.checkpoint_path is not None:
            self.save_checkpoint(self.checkpoint_path)
        for cb in self.callbacks:
            _call(cb, "on_epoch_end", self)

    def _progress_bar(self, total: int) -> Any:
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        if not (show and self.verbose):
            return None
        self._bar_time = -math.inf
        return tqdm(
            total=total,
            desc=f"epoch {self.epoch + 1}/{self.num_epochs}",
            leave=False,
            unit="it",
            dynamic_ncols=True,
            mininterval=0.25,
        )

    def _after_step(self, loss: float, bar: Any, it: int) -> None:
        if bar is None:
            return
        # at most ~10 bar updates a second (and the last step): a tqdm call after every step of a
        # millisecond-sized model costs a measurable part of the epoch
        now = time.monotonic()
        if now - self._bar_time < 0.1 and it + 1 < bar.total:
            return
        self._bar_time = now
        acc = self.val_acc_history[-1] if self.val_acc_history else float("nan")
        bar.set_postfix(loss=f"{loss:.3f}", val_acc=f"{acc:.3f}", refresh=False)
        bar.update(it + 1 - bar.n)

    def _log_epoch(self, train_acc: float, val_acc: float) -> None:
        if self.verbose:
            recent = self.loss_history[-self.iterations_per_epoch :]
            mean_loss = sum(recent) / max(len(recent), 1)
            tqdm.write(
                f"epoch {self.epoch}/{self.num_epochs}  loss {mean_loss:.4f}  train acc {train_acc:.4f}  "
                f"val acc {val_acc:.4f}  ({self.elapsed:.1f} s)"
            )

    def _log_time_limit(self, elapsed: float) -> None:
        if self.verbose:
            tqdm.write(f"stopping at {elapsed:.1f} s: the next iteration would exceed the time limit")

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to resume, as tensors and plain values only."""
        net = getattr(self.model, "net", None)
        params = {k: v.detach().cpu() for k, v in self.model.params.items()}
        buffers = {k: v.detach().cpu() for k, v in net.named_buffers()} if isinstance(net, Module) else {}
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "step_count": self.step_count,
            "params": params,
            "buffers": buffers,
            "optim_configs": {k: _to_cpu(c) for k, c in self.optim_configs.items()},
            "best_val_acc": self.best_val_acc,
            "best_params": {k: v.detach().cpu() for k, v in self.best_params.items()},
            "best_buffers": {k: v.detach().cpu() for k, v in self._best_buffers.items()},
            "loss_history": list(self.loss_history),
            "train_acc_history": list(self.train_acc_history),
            "val_acc_history": list(self.val_acc_history),
            "lr_history": list(self.lr_history),
            "elapsed": self.elapsed,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "generator": self.generator.get_state(),
            },
            "update_rule": self.update_rule_name,
            "batch_size": self.batch_size,
        }

    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        """Write :meth:`state` atomically to ``path``, keeping the file it replaces as ``.prev``.

        ``path`` exists at every moment (old or new, never half-written). Refuses (CheckpointError)
        to write a state holding NaN or Inf, so a diverged run never overwrites a good checkpoint.
        The first save of a run that did not resume replaces ``checkpoint_path`` without keeping it
        (and removes a stale ``.prev``): files of an earlier run are never this run's older checkpoint.
        """
        path = Path(path)
        state = self.state()
        check_finite({k: state[k] for k in _TENSOR_STATE}, f"checkpoint {path}")
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
            restored = self._parse_state(safe_load(path))
        except CheckpointError as e:
            where = "" if str(path) in str(e) else f"{path}: "
            raise CheckpointError(f"{where}{e}{hint}") from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
            why = f"{type(e).__name__}: {e}"
            raise CheckpointError(f"{path} is not a valid minifc Trainer checkpoint ({why}){hint}") from None
        self.model.params = restored["params"]
        net = getattr(self.model, "net", None)
        if restored["buffers"] and isinstance(net, Module):
            net.load_state_dict(restored["buffers"], strict=False)
        self.optim_configs = restored["optim_configs"]
        self.best_params = restored["best_params"]
        self._best_buffers = restored["best_buffers"]
        for key in _SCALAR_STATE:
            setattr(self, key, restored[key])
        rng = restored["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.generator.set_state(rng["generator"])
        self._epoch_batches = None
        self._validated = False
        self._owns_checkpoint = True

    def _parse_state(self, state: Any) -> dict[str, Any]:
        """Check a loaded checkpoint against this Trainer; return its values on the model's device."""
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"not a minifc Trainer checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})")
        missing = sorted(_STATE_KEYS - set(state))
        if missing:
            raise CheckpointError(f"incomplete checkpoint: it lacks {', '.join(missing)}")
        if state["update_rule"] != self.update_rule_name:
            raise CheckpointError(
                f"it was written with update rule {state['update_rule']!r} but this Trainer uses "
                f"{self.update_rule_name!r}: the optimizer state would not fit"
            )
        own = dict(self.model.params)
        dtype = self._model_dtype()
        params = _check_param_dict(state["params"], own, "params", allow_empty=False)
        best = _check_param_dict(state["best_params"], own, "best_params", allow_empty=True)
        bad = non_finite({"params": params, "best_params": best})
        if bad:
            raise CheckpointError(f"it holds NaN or Inf in {', '.join(bad)}")
        net = getattr(self.model, "net", None)
        own_buffers = dict(net.named_buffers()) if isinstance(net, Module) else {}
        buffers = _check_param_dict(state["buffers"], own_buffers, "buffers", allow_empty=True)
        best_buffers = _check_param_dict(state["best_buffers"], own_buffers, "best_buffers", allow_empty=True)
        configs = state["optim_configs"]
        if not isinstance(configs, dict) or set(configs) != set(own) or not all(map(_is_dict, configs.values())):
            raise CheckpointError(f"optim_configs must hold one dict per parameter ({sorted(own)})")
        out: dict[str, Any] = {
            "params": {k: v.to(self.device, dtype) for k, v in params.items()},
            "best_params": {k: v.to(self.device, dtype) for k, v in best.items()},
            "buffers": buffers,
            "best_buffers": {k: v.to(self.device) for k, v in best_buffers.items()},
            "optim_configs": {k: _to_device(c, self.device) for k, c in configs.items()},
        }
        for key in ("epoch", "step_count"):
            value = state[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise CheckpointError(f"{key} must be an integer >= 0, got {value!r}")
            out[key] = value
        for key in ("best_val_acc", "elapsed"):
            if isinstance(state[key], bool) or not isinstance(state[key], (int, float)):
                raise CheckpointError(f"{key} must be a number, got {state[key]!r}")
            out[key] = float(state[key])
        for key in ("loss_history", "train_acc_history", "val_acc_history", "lr_history"):
            values = state[key]
            if not isinstance(values, list) or not all(isinstance(v, (int, float)) for v in values):
                raise CheckpointError(f"{key} must be a list of numbers")
            out[key] = list(values)
        rng = state["rng"]
        ok = (
            isinstance(rng, dict)
            and all(_is_state_tensor(rng.get(k)) for k in ("torch", "generator"))
            and isinstance(rng.get("cuda"), list)
        )
        if not ok:
            raise CheckpointError("rng must hold the torch, cuda and generator states (uint8 tensors)")
        out["rng"] = rng
        return out


def _check_param_dict(
    found: Any, own: Mapping[str, torch.Tensor], what: str, allow_empty: bool
) -> dict[str, torch.Tensor]:
    """``found`` must map the names in ``own`` to tensors of the same shapes (or be empty)."""
    if not isinstance(found, dict) or not all(isinstance(v, torch.Tensor) for v in found.values()):
        raise CheckpointError(f"{what} must be a dict of tensors")
    if allow_empty and not found:
        return found
    if set(found) != set(own):
        raise CheckpointError(f"{what} holds {sorted(found)} but the model has {sorted(own)}")
    for name, t in found.items():
        if t.shape != own[name].shape:
            raise CheckpointError(
                f"{what}[{name!r}] has shape {tuple(t.shape)} but the model's has {tuple(own[name].shape)} "
                f"(a checkpoint of another model?)"
            )
    return found


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _is_state_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype == torch.uint8


_TENSOR_STATE = ("params", "buffers", "optim_configs", "best_params", "best_buffers")
# plain values restored as attributes of the same name
_SCALAR_STATE = (
    "epoch",
    "step_count",
    "best_val_acc",
    "loss_history",
    "train_acc_history",
    "val_acc_history",
    "lr_history",
    "elapsed",
)
_STATE_KEYS = {*_TENSOR_STATE, *_SCALAR_STATE, "format", "rng", "update_rule"}


def _prev_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _to_cpu(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in config.items()}


def _to_device(config: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in config.items()}


def _default_lr(rule: Callable[..., Any]) -> float:
    return float(getattr(rule, "defaults", {}).get("learning_rate", 0.0))


def _provider(kind: str, name: str) -> str:
    try:
        return default_registry().component(kind, name).provider
    except (MinifcError, KeyError):
        return "unknown provider"


def _layer_provider(module: Module) -> str:
    """The plugin that registered ``module``'s class, else where the class is defined."""
    cls = type(module)
    for c in default_registry().all_components():
        if c.kind == "layer" and c.obj is cls:
            return f"plugin {c.provider}"
    return f"class {cls.__module__}.{cls.__qualname__}"


def _describe(module: Module) -> str:
    describe = getattr(module, "describe", None)
    return describe() if callable(describe) else f"{type(module).__name__}({module.extra_repr()})"


def _watch(module: Module) -> None:
    """Shadow ``module.forward``/``backward`` (on the instance) to check that dx is like the input."""
    forward, backward = module.forward, module.backward
    inputs: list[tuple[Any, ...]] = []

    def checked_forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        inputs.append((x.shape, x.dtype, x.device) if isinstance(x, torch.Tensor) else None)
        return forward(x, *args, **kwargs)

    def checked_backward(dout: Any, *args: Any, **kwargs: Any) -> Any:
        dx = backward(dout, *args, **kwargs)
        seen = inputs.pop() if inputs else None
        if dx is None or seen is None:
            return dx
        who = f"layer {_describe(module)} ({_layer_provider(module)})"
        if not isinstance(dx, torch.Tensor):
            raise MinifcError(f"{who}: backward returned a {type(dx).__name__}, not a tensor")
        for what, got, want in zip(("shape", "dtype", "device"), (dx.shape, dx.dtype, dx.device), seen, strict=True):
            if got != want:
                error = ShapeError if what == "shape" else MinifcError
                shown = (tuple(got), tuple(want)) if what == "shape" else (got, want)
                raise error(f"{who}: backward returned dx of {what} {shown[0]} but its input had {what} {shown[1]}")
        return dx

    object.__setattr__(module, "forward", checked_forward)
    object.__setattr__(module, "backward", checked_backward)


def _check_like(who: str, what: str, name: str, got: Any, like: torch.Tensor) -> None:
    """Raise naming ``who`` unless ``got`` is a finite tensor with ``like``'s shape, dtype and device."""
    if not isinstance(got, torch.Tensor):
        raise MinifcError(f"{who} returned a {type(got).__name__} as {what} for {name!r}, not a tensor")
    if got.shape != like.shape:
        shapes = f"{tuple(got.shape)} for {name!r}; expected {tuple(like.shape)}"
        raise ShapeError(f"{who} returned {what} of shape {shapes}")
    for prop in ("dtype", "device"):
        if getattr(got, prop) != getattr(like, prop):
            raise MinifcError(
                f"{who} returned {what} of {prop} {getattr(got, prop)} for {name!r}; expected {getattr(like, prop)}"
            )
    if not bool(torch.isfinite(got).all()):
        raise MinifcError(f"{who} returned {what} with NaN/Inf for {name!r} (at the first step, from finite inputs)")


def _validate_penalty(reg: _Regularizer, name: str, w: torch.Tensor, out: Any) -> None:
    """The first step checks what a loss-stage regularizer returns: (finite scalar, dpenalty like w)."""
    who = f"regularizer {reg.name!r} ({reg.provider})"
    if not isinstance(out, tuple) or len(out) != 2:
        raise MinifcError(f"{who} must return (penalty, dpenalty), but returned a {type(out).__name__} for {name!r}")
    penalty, dpenalty = out
    value = penalty if not isinstance(penalty, torch.Tensor) or penalty.numel() != 1 else float(penalty)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise MinifcError(f"{who} returned a penalty that is not a scalar for {name!r}: {type(penalty).__name__}")
    if not math.isfinite(value):
        raise MinifcError(f"{who} returned a non-finite penalty ({value}) for {name!r} (whose values are finite)")
    _check_like(who, "dpenalty", name, dpenalty, w)


def _layer_owner(model: Any, name: str) -> str:
    """' (Linear(6, 5) [layer 1])'-style hint naming the module that owns parameter ``name``."""
    net = getattr(model, "net", None)
    objects = getattr(model, "_param_objects", {})
    if not isinstance(net, Module) or name not in objects:
        return ""
    target = objects[name]
    for module in net.modules():
        if any(p is target for p in module._parameters.values()):
            return f" ({_describe(module)}, {_layer_provider(module)})"
    return ""


def _step_hooks(callbacks: list[Any]) -> list[Callable[[Trainer], Any]]:
    """The callbacks' ``on_step_end`` methods, looked up once per ``train()`` because the step loop is
    the Trainer's overhead; :class:`~minifc.callbacks.Callback`'s inherited no-op is left out."""
    hooks = []
    for cb in callbacks:
        hook = getattr(cb, "on_step_end", None)
        if hook is not None and getattr(type(cb), "on_step_end", None) is not Callback.on_step_end:
            hooks.append(hook)
    return hooks


def _call(callback: Any, hook: str, trainer: Trainer) -> None:
    method = getattr(callback, hook, None)
    if method is not None:
        method(trainer)


def _check_optim_config(optim_config: Any) -> dict[str, Any]:
    if optim_config is None:
        return {}
    if not isinstance(optim_config, Mapping):
        raise TypeError(
            f"optim_config must be a dict of hyper-parameters such as {{'learning_rate': 1e-3}}, "
            f"got {type(optim_config).__name__}"
        )
    config = dict(optim_config)
    bad = [k for k in config if not isinstance(k, str) or not k.isidentifier()]
    if bad:
        raise ValueError(f"optim_config keys must be names such as 'learning_rate', got {bad!r}")
    if "learning_rate" in config:
        _check_number(config["learning_rate"], "optim_config['learning_rate']", minimum=0.0)
    return config


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_number(value: Any, name: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value!r}")
    return float(value)
