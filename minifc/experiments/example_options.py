"""The options every example takes: what ``minifc example NAME`` passes to the example's function.

An example is a function ``fn(data, options) -> summary`` registered through the
``minifc_register_examples`` hook (see :mod:`minifc.registry.hookspecs`); ``data`` is the dict of
:func:`minifc.data.load_cifar10` and ``options`` an :class:`ExampleOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ExampleOptions"]


@dataclass
class ExampleOptions:
    """What every example takes.

    - ``out``: folder for the plots (the command writes ``summary.json`` there too);
    - ``epochs`` / ``num_train``: None means the example's own settings (``minifc example NAME
      --epochs E --num-train N``);
    - ``device``: ``"auto"`` (cuda, then mps, then cpu) or any torch device;
    - ``seed``: seeds initialization and minibatches (None: unseeded);
    - ``verbose``: print the training lines;
    - ``budget``: wall-clock seconds the whole run may take, counted from the start of the process
      (``minifc example NAME --budget SECONDS``); None means the example's own. Only an example
      registered with ``budget=True`` reads it: ``minifc example`` refuses ``--budget`` for the others;
    - ``precision``: the Trainer's precision (``"32"``, ``"bf16-mixed"``, ``"auto"``, ...;
      ``minifc example NAME --precision P``); None means the example's own (its model's dtype);
    - ``extra``: example-specific settings (an example documents the keys it reads); ``minifc example
      NAME --set key=value`` puts ``value`` there, and ``--set a.b=value`` puts it in ``extra["a"]["b"]``.
    """

    out: Path
    epochs: int | None = None
    num_train: int | None = None
    device: str = "auto"
    seed: int | None = 0
    verbose: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    budget: float | None = None
    precision: str | None = None

    def pick(self, classic_epochs: int, classic_num_train: int | None) -> tuple[int, int | None]:
        """``(epochs, num_train)``: the given ones, else the example's own settings."""
        return (
            self.epochs if self.epochs is not None else classic_epochs,
            self.num_train if self.num_train is not None else classic_num_train,
        )
