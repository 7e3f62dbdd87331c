"""What a run has done so far, in one typed object: the Trainer's :class:`TrainingState`.

The loop, the evaluation and the checkpoint code receive it (not the Trainer) and read and write its
fields; a checkpoint saves it whole (:meth:`TrainingState.saved`) and a resume replaces it whole
(:meth:`TrainingState.restored`). The Trainer's public attributes of the same names (``trainer.epoch``,
``trainer.loss_history``, ``trainer.best_params``, ...) read and write it through :class:`StateField`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

import torch

if TYPE_CHECKING:
    from .grad_transforms import TransformChain

__all__ = ["SAVED_FIELDS", "HasTrainingState", "Resumable", "StateField", "TrainingState"]

T = TypeVar("T")

#: the fields a checkpoint holds under the same keys (minifc 0.2.12's, plus ``base_lr``)
SAVED_FIELDS = (
    "epoch",
    "step_count",
    "best_val_acc",
    "loss_history",
    "train_acc_history",
    "val_acc_history",
    "lr_history",
    "elapsed",
)


@dataclass
class TrainingState:
    """The progress of one run.

    ``epoch``, ``step_count``: epochs and steps done. Histories: one loss per step; one train / validation
    accuracy and one learning rate per epoch. ``best_val_acc`` with the parameters and buffers measured then
    (clones). ``elapsed``: seconds of training, resumed runs included. ``optim_configs``: each parameter's
    update-rule config (hyper-parameters and optimizer state), ``base_lr``: each parameter's base learning
    rate (the step's rate is :func:`~minifc.training.schedule.rate_at` of it). ``stop_training``: set by a
    callback to end training; ``stopped_by_time_limit``: the last ``train()`` stopped at its time limit.
    ``validated``: a first step has checked every component. ``owns_checkpoint``: the file at
    ``checkpoint_path`` holds this run's state (else another run's, or nothing). ``grad_norm_history``: the
    gradient norm a transform reported per step (:mod:`~minifc.training.grad_transforms`), ``transform_states``
    the gradient transforms' states, in chain order.
    """

    optim_configs: dict[str, dict[str, Any]]
    base_lr: dict[str, float]
    epoch: int = 0
    step_count: int = 0
    best_val_acc: float = 0.0
    best_params: dict[str, torch.Tensor] = field(default_factory=dict)
    best_buffers: dict[str, torch.Tensor] = field(default_factory=dict)
    loss_history: list[float] = field(default_factory=list)
    train_acc_history: list[float] = field(default_factory=list)
    val_acc_history: list[float] = field(default_factory=list)
    lr_history: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    stop_training: bool = False
    stopped_by_time_limit: bool = False
    validated: bool = False
    owns_checkpoint: bool = False
    grad_norm_history: list[float] = field(default_factory=list)
    transform_states: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def fresh(cls, params: list[str], optim_config: dict[str, Any], default_lr: float) -> TrainingState:
        """A run that has not started: every parameter named in ``params`` gets its own copy of
        ``optim_config`` and its base rate (``optim_config``'s learning_rate, else ``default_lr``)."""
        configs = {name: dict(optim_config) for name in params}
        return cls(configs, {name: c.get("learning_rate", default_lr) for name, c in configs.items()})

    def saved(self) -> dict[str, Any]:
        """The fields a checkpoint holds, under their keys (tensors as they are: the caller copies them)."""
        plain = {key: _copy(getattr(self, key)) for key in SAVED_FIELDS}
        return {
            **plain,
            "optim_configs": self.optim_configs,
            "base_lr": dict(self.base_lr),
            "best_params": self.best_params,
            "best_buffers": self.best_buffers,
            "grad_norm_history": list(self.grad_norm_history),
            "transform_states": self.transform_states,
        }

    @classmethod
    def restored(cls, checked: dict[str, Any], base_lr: dict[str, float], owns_checkpoint: bool) -> TrainingState:
        """The state a checked checkpoint holds (:func:`~minifc.training.state_checks.parse_state`), with the
        base rates to continue with; not yet validated by a first step."""
        return cls(
            optim_configs=checked["optim_configs"],
            base_lr=base_lr,
            best_params=checked["best_params"],
            best_buffers=checked["best_buffers"],
            owns_checkpoint=owns_checkpoint,
            grad_norm_history=checked["grad_norm_history"],
            transform_states=checked["transform_states"],
            **{key: checked[key] for key in SAVED_FIELDS},
        )


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


class HasTrainingState(Protocol):
    """An object whose run progress is a :class:`TrainingState` (the Trainer)."""

    training_state: TrainingState


class Resumable(HasTrainingState, Protocol):
    """The Trainer as its checkpoint code sees it: the state, the model and the settings a checkpoint records
    or is checked against (:mod:`minifc.training.state`)."""

    @property
    def model(self) -> Any: ...

    @property
    def data(self) -> Mapping[str, torch.Tensor]: ...

    @property
    def generator(self) -> torch.Generator: ...

    @property
    def update_rule(self) -> Callable[..., Any]: ...

    @property
    def update_rule_name(self) -> str: ...

    @property
    def optim_config(self) -> Mapping[str, Any]: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def lr_decay(self) -> float: ...

    @property
    def schedule(self) -> Callable[[int, int], float] | None: ...

    @property
    def world_size(self) -> int: ...

    @property
    def checkpoint_path(self) -> Path | None: ...

    @property
    def run_config(self) -> dict[str, Any] | None: ...

    @property
    def transforms(self) -> TransformChain | None: ...


class StateField(Generic[T]):
    """A class attribute that reads and writes the field of the same name of ``obj.training_state``: the
    Trainer's ``epoch``, ``loss_history``, ... stay attributes while the state lives in one object."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> StateField[T]: ...

    @overload
    def __get__(self, obj: HasTrainingState, objtype: type | None = None) -> T: ...

    def __get__(self, obj: HasTrainingState | None, objtype: type | None = None) -> T | StateField[T]:
        if obj is None:
            return self
        value: T = getattr(obj.training_state, self.name)
        return value

    def __set__(self, obj: HasTrainingState, value: T) -> None:
        setattr(obj.training_state, self.name, value)
