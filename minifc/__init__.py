"""minifc: fully-connected networks on torch tensors with explicit forward and backward passes."""

from __future__ import annotations

from . import functional, gradcheck, nn, optim
from .hookspecs import hookimpl
from .models import Classifier, FullyConnectedNet, TwoLayerNet
from .runs import load_run
from .seeding import seed_everything
from .solver import Solver
from .summary import summary
from .trainer import Trainer

__version__ = "0.2.12"

__all__ = [
    "functional",
    "gradcheck",
    "nn",
    "optim",
    "Classifier",
    "TwoLayerNet",
    "FullyConnectedNet",
    "Solver",
    "Trainer",
    "hookimpl",
    "load_run",
    "seed_everything",
    "summary",
    "__version__",
]
