"""The TensorBoard logger, a callback (``Trainer(callbacks=["tensorboard:log_dir=runs/tb"])``,
``minifc train --tensorboard DIR``): scalars per step or per epoch and the run's hyper-parameters.

Scalars (global step: the number of steps done): ``train/loss`` (per step, or the epoch's mean),
``train/learning_rate``, ``train/grad_norm`` when the trainer records a gradient norm
(``grad_norm_history``), and at the end of every epoch ``accuracy/train`` and ``accuracy/val``. When
training ends, the hyper-parameters (the CLI's configuration, else the Trainer's settings) with the
final metrics (``hparam/best_val_acc``, ``hparam/final_train_acc``, ``hparam/final_val_acc``,
``hparam/final_loss``) for TensorBoard's HParams tab. A resumed run drops the events a killed run wrote
after its checkpoint (``purge_step``). In a data-parallel run only rank 0 writes.

It needs the ``tensorboard`` package (``pip install 'minifc[tensorboard]'``), imported when the
callback is created, never by ``import minifc``.
"""

from __future__ import annotations

import importlib.util
import json
import math
from typing import Any

from ..errors import MissingExtraError
from .callbacks import Callback, Trainer

__all__ = ["TensorBoard", "require_tensorboard"]

EVERY = ("epoch", "step")


def require_tensorboard() -> None:
    """MissingExtraError (one line: what to pip install) unless the tensorboard package is installed."""
    if importlib.util.find_spec("tensorboard") is None:
        raise MissingExtraError("the tensorboard callback needs the tensorboard package: "
                                "pip install 'minifc[tensorboard]'")  # fmt: skip


def _grad_norms(trainer: Trainer) -> list[float] | None:
    """The trainer's gradient-norm history (one per step) when it records one."""
    found = getattr(trainer, "grad_norm_history", None)
    if found is None:
        found = getattr(getattr(trainer, "training_state", None), "grad_norm_history", None)
    return found if isinstance(found, list) else None


def _learning_rate(trainer: Trainer) -> float | None:
    configs: dict[str, dict[str, Any]] = getattr(trainer, "optim_configs", None) or {}
    lr = next(iter(configs.values()), {}).get("learning_rate")
    return float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None


def _plain(value: Any) -> int | float | str | bool:
    """A hyper-parameter as TensorBoard takes it: numbers, strings and booleans as they are, others as JSON."""
    if isinstance(value, (int, float, str, bool)):
        return value
    return json.dumps(value)


def hyper_parameters(trainer: Trainer) -> dict[str, int | float | str | bool]:
    """The run's configuration (``trainer.run_config``, the CLI's) or else the Trainer's settings."""
    config = getattr(trainer, "run_config", None)
    if not isinstance(config, dict):
        config = {
            key: getattr(trainer, attr)
            for key, attr in (("update_rule", "update_rule_name"), ("batch_size", "batch_size"),
                              ("epochs", "num_epochs"), ("lr_decay", "lr_decay"), ("seed", "seed"))
            if hasattr(trainer, attr)
        }  # fmt: skip
        config |= {f"optim_{k}": v for k, v in (getattr(trainer, "optim_config", None) or {}).items()}
    return {str(k): _plain(v) for k, v in config.items()}


class TensorBoard(Callback):
    """Write TensorBoard event files into ``log_dir`` (None: torch's default ``runs/<time>_<host>``);
    ``every``: ``"epoch"`` (a point per epoch) or ``"step"`` (loss, learning rate and gradient norm
    after every step)."""

    def __init__(self, log_dir: str | None = None, every: str = "epoch") -> None:
        if every not in EVERY:
            raise ValueError(f"every must be one of {', '.join(map(repr, EVERY))}, got {every!r}")
        require_tensorboard()
        self.log_dir, self.every = log_dir, every
        self.writer: Any = None

    def on_train_begin(self, trainer: Trainer) -> None:
        parallel = getattr(trainer, "parallel", None)
        if parallel is not None and not parallel.is_main:
            return
        from torch.utils.tensorboard import SummaryWriter  # optional: imported only when the callback runs

        # a resumed run: TensorBoard drops what a killed run logged after the checkpoint (steps > step_count)
        self.writer = SummaryWriter(self.log_dir, purge_step=trainer.step_count + 1 if trainer.step_count else None)

    def on_step_end(self, trainer: Trainer) -> None:
        writer = self.writer
        if writer is None or self.every != "step":
            return
        step = trainer.step_count
        writer.add_scalar("train/loss", trainer.loss_history[-1], step)
        lr = _learning_rate(trainer)
        if lr is not None:
            writer.add_scalar("train/learning_rate", lr, step)
        norms = _grad_norms(trainer)
        if norms:
            writer.add_scalar("train/grad_norm", norms[-1], step)

    def on_epoch_end(self, trainer: Trainer) -> None:
        writer = self.writer
        if writer is None:
            return
        step = trainer.step_count
        if self.every == "epoch":
            n = trainer.iterations_per_epoch
            recent = trainer.loss_history[-n:]
            writer.add_scalar("train/loss", sum(recent) / max(1, len(recent)), step)
            lrs = getattr(trainer, "lr_history", None)
            if lrs:
                writer.add_scalar("train/learning_rate", lrs[-1], step)
            norms = (_grad_norms(trainer) or [])[-n:]
            if norms:
                writer.add_scalar("train/grad_norm", sum(norms) / len(norms), step)
        writer.add_scalar("accuracy/train", trainer.train_acc_history[-1], step)
        writer.add_scalar("accuracy/val", trainer.val_acc_history[-1], step)
        writer.flush()

    def on_train_end(self, trainer: Trainer) -> None:
        writer = self.writer
        if writer is None:
            return
        metrics = {
            "hparam/best_val_acc": float(getattr(trainer, "best_val_acc", math.nan)),
            "hparam/final_train_acc": trainer.train_acc_history[-1] if trainer.train_acc_history else math.nan,
            "hparam/final_val_acc": trainer.val_acc_history[-1] if trainer.val_acc_history else math.nan,
            "hparam/final_loss": trainer.loss_history[-1] if trainer.loss_history else math.nan,
        }
        writer.add_hparams(hyper_parameters(trainer), metrics, run_name=".", global_step=trainer.step_count)
        writer.close()
        self.writer = None
