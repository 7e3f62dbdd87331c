"""minifc: fully-connected networks on torch tensors with explicit forward and backward passes."""

from __future__ import annotations

import sys

__version__ = "0.4.1"  # first: minifc.cli reads it while this package is still importing

from . import compat, functional, gradcheck, interop, nn, optim
from .interop import load_model
from .io.runs import load_run
from .models import Classifier, FullyConnectedNet, TwoLayerNet
from .nn.summary import summary
from .registry.hookspecs import hookimpl
from .seeding import seed_everything
from .solver import Solver
from .training.trainer import Trainer

__all__ = [
    "functional",
    "gradcheck",
    "interop",
    "nn",
    "optim",
    "Classifier",
    "TwoLayerNet",
    "FullyConnectedNet",
    "Solver",
    "Trainer",
    "hookimpl",
    "load_model",
    "load_run",
    "seed_everything",
    "summary",
    "__version__",
]

compat.install(sys.modules[__name__])


def __getattr__(name: str) -> object:
    # the old top-level modules (``minifc.trainer``, ...) as attributes, as before 0.3
    return compat.old_attribute(name)
