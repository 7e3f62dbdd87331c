"""The classic experiments on CIFAR-10, one function each, run by ``minifc example NAME``.

Each takes the data dict of :func:`minifc.data.load_cifar10` and an :class:`ExampleOptions`, prints
the classic Solver lines, writes PNG plots into ``options.out`` and returns a summary: ``rows``, one
per trained model (``name``, ``final_train_acc``, ``final_val_acc``, ``best_val_acc``, ``seconds``,
...), ``plots`` (the paths written) and optionally ``target`` (``(row key, threshold)``, the classic
result to reach with the default settings). They are registered as built-ins through the
``minifc_register_examples`` hook (:mod:`minifc.experiments.classic_examples`), beside the examples plugins register;
:func:`run_example` looks a name up in the registry.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import optim
from ..device import resolve_device
from ..io.plots import have_matplotlib, plot_bars, plot_histories
from ..models import FullyConnectedNet, TwoLayerNet
from ..registry.core import Registry, default_registry
from ..solver import Solver
from .example_options import ExampleOptions

__all__ = ["Example", "ExampleOptions", "run_example"]

Example = Callable[[dict[str, torch.Tensor], ExampleOptions], dict[str, Any]]


def _subset(data: dict[str, torch.Tensor], num_train: int | None) -> dict[str, torch.Tensor]:
    """The first ``num_train`` training samples (the classic examples' small training sets)."""
    small = {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")}
    if num_train is not None:
        small["X_train"], small["y_train"] = data["X_train"][:num_train], data["y_train"][:num_train]
    return small


def _history(solver: Solver) -> dict[str, list[float]]:
    return {
        "loss_history": solver.loss_history,
        "train_acc_history": solver.train_acc_history,
        "val_acc_history": solver.val_acc_history,
    }


def _row(name: str, solver: Solver, start: float) -> dict[str, Any]:
    return {
        "name": name,
        "final_train_acc": solver.train_acc_history[-1],
        "final_val_acc": solver.val_acc_history[-1],
        "best_val_acc": solver.best_val_acc,
        "final_loss": solver.loss_history[-1],
        "seconds": round(time.time() - start, 1),
    }


def _plot(runs: dict[str, dict[str, list[float]]], path: Path, **kw: Any) -> list[str]:
    if not have_matplotlib():
        print("(matplotlib is not installed: no plots; pip install 'minifc[plots]')")
        return []
    return [str(plot_histories(runs, path, **kw))]


def _device(options: ExampleOptions) -> torch.device:
    return resolve_device(options.device)


def _train(
    name: str,
    make_model: Callable[[], Any],
    data: dict[str, torch.Tensor],
    options: ExampleOptions,
    **solver_kwargs: Any,
) -> tuple[Solver, dict[str, Any]]:
    """Seed, build the model, train it with a classic Solver; returns the solver and its summary row."""
    if options.seed is not None:
        torch.manual_seed(options.seed)
    model = make_model()
    start = time.time()
    solver = Solver(
        model, data, device=_device(options), verbose=options.verbose, precision=options.precision, **solver_kwargs
    )
    solver.train()
    return solver, _row(name, solver, start)


def two_layer(data: dict[str, torch.Tensor], options: ExampleOptions) -> dict[str, Any]:
    """TwoLayerNet (hidden 200) + Solver, sgd lr 0.1 decayed 0.9 per epoch, 20 epochs, batch 100:
    above 50% validation accuracy."""
    epochs, num_train = options.pick(20, None)
    device = _device(options)
    solver, row = _train(
        "TwoLayerNet(200)",
        lambda: TwoLayerNet(hidden_dim=200, weight_scale=1e-2, dtype=torch.float32, device=device),
        _subset(data, num_train),
        options,
        update_rule=optim.sgd,
        optim_config={"learning_rate": 0.1},
        lr_decay=0.9,
        num_epochs=epochs,
        batch_size=100,
        print_every=100,
    )
    plots = _plot({"two-layer": _history(solver)}, options.out / "two_layer.png", title="TwoLayerNet on CIFAR-10")
    return {"rows": [row], "plots": plots, "target": ("best_val_acc", 0.5)}


def overfit(data: dict[str, torch.Tensor], options: ExampleOptions) -> dict[str, Any]:
    """50 training samples, 3-layer [100, 100] and 5-layer [100] * 4 nets, batch 25, 20 epochs,
    sgd: both reach 100% training accuracy."""
    epochs, num_train = options.pick(20, 50)
    device = _device(options)
    settings = {"3-layer [100, 100]": ([100, 100], 1e-1, 1e-1), "5-layer [100]*4": ([100] * 4, 1e-1, 1e-1)}
    rows, runs = [], {}
    for name, (hidden, weight_scale, lr) in settings.items():
        print(f"--- {name}: weight_scale {weight_scale}, learning_rate {lr}")
        solver, row = _train(
            name,
            functools.partial(FullyConnectedNet, hidden, weight_scale=weight_scale, dtype=torch.float32, device=device),
            _subset(data, num_train),
            options,
            update_rule=optim.sgd,
            optim_config={"learning_rate": lr},
            num_epochs=epochs,
            batch_size=25,
            print_every=10,
        )
        rows.append(row)
        runs[name] = _history(solver)
    plots = _plot(
        runs,
        options.out / "overfit_loss.png",
        panels=("loss_history", "train_acc_history"),
        title=f"Overfitting {num_train} samples",
    )
    return {"rows": rows, "plots": plots, "target": ("final_train_acc", 1.0)}


_RULES = {
    "sgd": (optim.sgd, 5e-2),
    "sgd_momentum": (optim.sgd_momentum, 5e-2),
    "rmsprop": (optim.rmsprop, 1e-4),
    "adam": (optim.adam, 1e-3),
}


def _compare_rules(
    data: dict[str, torch.Tensor], options: ExampleOptions, rules: list[str], stem: str
) -> dict[str, Any]:
    epochs, num_train = options.pick(5, 4000)
    device = _device(options)
    rows, runs = [], {}
    for name in rules:
        rule, lr = _RULES[name]
        print(f"--- running with {name} (learning_rate {lr})")
        solver, row = _train(
            name,
            lambda: FullyConnectedNet([100] * 5, weight_scale=5e-2, dtype=torch.float32, device=device),
            _subset(data, num_train),
            options,
            update_rule=rule,
            optim_config={"learning_rate": lr},
            num_epochs=epochs,
            batch_size=100,
            print_every=100,
        )
        rows.append(row)
        runs[name] = _history(solver)
    plots = _plot(runs, options.out / f"{stem}.png", title=f"Six-layer net [100]*5, {num_train} samples")
    return {"rows": rows, "plots": plots}


def sgd_momentum(data: dict[str, torch.Tensor], options: ExampleOptions) -> dict[str, Any]:
    """Six-layer net [100]*5, 4,000 samples, 5 epochs, batch 100, lr 5e-2, weight scale 5e-2:
    sgd vs sgd_momentum (momentum converges faster)."""
    return _compare_rules(data, options, ["sgd", "sgd_momentum"], "sgd_momentum")


def update_rules(data: dict[str, torch.Tensor], options: ExampleOptions) -> dict[str, Any]:
    """The same net and data with sgd, sgd_momentum, rmsprop (lr 1e-4) and adam (lr 1e-3)."""
    return _compare_rules(data, options, ["sgd", "sgd_momentum", "rmsprop", "adam"], "update_rules")


def dropout(data: dict[str, torch.Tensor], options: ExampleOptions) -> dict[str, Any]:
    """20,000 samples, one hidden layer of width 256 / 512 / 512 with dropout 0.5, adam lr 5e-3,
    batch 512, 100 epochs: the dropout net has the lower train and the higher val accuracy."""
    epochs, num_train = options.pick(100, 20000)
    device = _device(options)
    settings = [("256, no dropout", 256, 0.0), ("512, no dropout", 512, 0.0), ("512, dropout 0.5", 512, 0.5)]
    small = _subset(data, num_train)
    rows, runs, bars = [], {}, {}
    for name, width, p in settings:
        print(f"--- width {width}, dropout {p}")
        solver, row = _train(
            name,
            functools.partial(FullyConnectedNet, [width], dropout=p, dtype=torch.float32, device=device),
            small,
            options,
            update_rule=optim.adam,
            optim_config={"learning_rate": 5e-3},
            num_epochs=epochs,
            batch_size=min(512, small["X_train"].shape[0]),
            print_every=100000,
            print_acc_every=10,
        )
        rows.append(row)
        runs[name] = _history(solver)
        bars[name] = {"train": solver.train_acc_history[-1], "val": solver.val_acc_history[-1]}
    plots = _plot(
        runs,
        options.out / "dropout_curves.png",
        panels=("train_acc_history", "val_acc_history"),
        title=f"Dropout, {num_train} samples",
    )
    if plots:
        plots.append(str(plot_bars(bars, options.out / "dropout_final.png", title="final accuracy")))
    return {"rows": rows, "plots": plots}


def run_example(
    name: str, data: dict[str, torch.Tensor], options: ExampleOptions, registry: Registry | None = None
) -> dict[str, Any]:
    """Run the example registered as ``name`` (built-in or from a plugin) and return its summary.

    Raises :class:`minifc.errors.UnknownComponentError` (the closest name, the known ones) for a
    name nothing registered. ``registry`` defaults to the process-wide one.
    """
    fn = (registry or default_registry()).get("example", name)
    options.out = Path(options.out)
    options.out.mkdir(parents=True, exist_ok=True)
    return fn(data, options)
