"""The Trainer's measurements: accuracy on any data, and the per-epoch evaluation that records it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import torch

from .data_parallel import DataParallel
from .evaluate import evaluate
from .loop import call_callbacks
from .metrics import accuracy, check_accuracy_inputs
from .run_state import TrainingState

if TYPE_CHECKING:
    from .loop import EpochLoop

__all__ = ["TrainerAccuracy"]


class TrainerAccuracy:
    """The part of :class:`~minifc.training.trainer.Trainer` that measures the model's accuracy."""

    training_state: TrainingState
    model: Any
    data: Mapping[str, torch.Tensor]
    parallel: DataParallel | None
    generator: torch.Generator
    num_train_samples: int | None
    num_val_samples: int | None

    def check_accuracy(
        self, X: torch.Tensor, y: torch.Tensor, num_samples: int | None = None, batch_size: int = 100
    ) -> float:
        """Fraction of correct predictions on X (N, ...) and y (N,), on a random subsample of
        ``num_samples`` when given, computed in batches. X and y other than the trainer's own data are
        checked first (:func:`~minifc.training.metrics.check_accuracy_inputs`)."""
        if not any(X is t for t in self.data.values()):
            check_accuracy_inputs(self.model, X, y)
        measure = accuracy if self.parallel is None else self.parallel.accuracy
        return measure(self.model, X, y, num_samples, batch_size, self.generator)

    def evaluate(self) -> tuple[float, float]:
        """Measure train (on ``num_train_samples``) and validation accuracy, record them in the
        histories and keep the parameters when validation accuracy is the best so far
        (:func:`minifc.training.evaluate.evaluate`), between the callbacks' ``on_evaluate_begin`` and
        ``on_evaluate_end``."""
        if self.parallel is not None:
            self.parallel.sync_buffers(self.model)
        call_callbacks(cast("EpochLoop", self), "on_evaluate_begin")
        try:
            return evaluate(
                self.training_state, self.model, self.data, self.check_accuracy, self.num_train_samples,
                self.num_val_samples,
            )  # fmt: skip
        finally:
            call_callbacks(cast("EpochLoop", self), "on_evaluate_end")
