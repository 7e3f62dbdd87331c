"""A small run for the reliability tests: 40 samples of 5 features in 3 classes, a one-hidden-layer net,
a quiet two-epoch CPU Trainer at batch 10, and the pieces the tests share (file digests, the
checkpoint's older copy, a callback acting after a chosen step)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from minifc.models import FullyConnectedNet
from minifc.training.trainer import Trainer

N, D, C = 40, 5, 3
IPE = 4  # iterations per epoch with N=40 and batch_size=10


def make_data(n: int = N, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, D, generator=g)
    y = torch.randint(C, (n,), generator=g)
    return {"X_train": X, "y_train": y, "X_val": X[:10].clone(), "y_val": y[:10].clone()}


def make_model(**kwargs) -> FullyConnectedNet:
    torch.manual_seed(0)
    return FullyConnectedNet([8], input_dim=D, num_classes=C, **kwargs)


def make_trainer(model=None, data=None, **kwargs) -> Trainer:
    opts = {"batch_size": 10, "num_epochs": 2, "device": "cpu", "verbose": False, "seed": 0, **kwargs}
    return Trainer(model if model is not None else make_model(), data if data is not None else make_data(), **opts)


def with_data(**changes) -> dict[str, torch.Tensor]:
    data = make_data()
    data.update(changes)
    return data


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class OnStep:
    """Callback running ``action(trainer)`` once, after the step that brings step_count to ``step``."""

    def __init__(self, step: int, action) -> None:
        self.step, self.action = step, action

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.step_count == self.step:
            self.action(trainer)


def prev_path(path: Path) -> Path:
    """The checkpoint's older copy, kept beside it (``c.pt`` -> ``c.prev.pt``)."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def user_sgd(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """An update rule as a user writes it: a plain function, no declared defaults."""
    config = config if config is not None else {}
    w -= config.get("learning_rate", 1e-2) * dw
    return w, config
