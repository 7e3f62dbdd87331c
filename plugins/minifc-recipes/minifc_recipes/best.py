"""The example ``best`` (``minifc example best [--budget SECONDS]``): the strongest fully-connected CIFAR-10
recipe for a wall-clock budget on a 2-core CPU (15 minutes by default), counted from the start of the process.

A plain MLP, trained from scratch on the training split only (no convolution, attention or patch mixing):

- preprocessing, fitted once on training images: PCA whitening to the top k directions (k = 256 to
  1024 by budget, :func:`minifc_recipes.pca.fit_pca`), which also cuts the first layer's 3072-wide
  product, or ZCA whitening of all 3072 dimensions (``pca_dims=None``, :func:`minifc_recipes.fit_zca`);
- augmentation, on every training batch on the device: random crops of the zero-padded image and
  horizontal flips (:func:`minifc.data.augment.crop_flip`, or their (k, k) counterparts on projected rows,
  :class:`minifc_recipes.views.ProjectedViews`), optionally random rotations and zooms as well
  (``rotate``, ``zoom``: :class:`minifc_recipes.warps.ProjectedWarps`, on projected rows) and MixUp
  (:class:`minifc_recipes.mixup.MixUp`) or CutMix (:class:`minifc_recipes.cutmix.CutMix`);
- net: ``[linear, batchnorm1d, relu] x depth``, optionally pre-LayerNorm inverted-bottleneck residual
  blocks (``residual``, :class:`minifc_recipes.layers.ResidualMLP`) and a LayerNorm, then a linear layer
  to the 10 classes;
- loss: label-smoothed softmax cross-entropy; update rule: AdamW (or Lion) with a linear warm-up and a
  cosine decay to zero whose length is refitted to the time left every few steps
  (:mod:`minifc_recipes.budget`);
- the budget picks width, depth, input and views (:data:`minifc_recipes.recipe.TIERS`; on CUDA
  :data:`minifc_recipes.recipe.CUDA_TIERS`); on a CPU fast enough to fit the epochs a larger tier
  needs into the budget, that tier (:func:`minifc_recipes.speed.step_up`);
- optionally (``ema``), an exponential moving average of the weights, measured in their place
  (:class:`minifc.training.ema.EMA`);
- selection on the validation split (the Trainer keeps the best-validation parameters, and the number
  of test-time views is the best on validation); the test split is evaluated once, at the end, with one
  view and with the chosen views: shifts by (dy, dx) in {-s, 0, s}^2 and their mirror images
  (:class:`minifc_recipes.views.ViewAveraged`).

Every component is a minifc component with an explicit backward pass, looked up by name in the plugin
registry: ``batchnorm1d`` (minifc-norm), ``adamw``/``lion`` (minifc-optim-extra) and ``softmax_smooth``
(minifc-recipes), whose missing package is named in the error.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from minifc.errors import MinifcError, UnknownComponentError
from minifc.experiments.example_options import ExampleOptions
from minifc.training.ema import EMA

from .budget import BudgetClock, FittedSchedule, process_started_at
from .cutmix import CutMix
from .inputs import prepare_inputs
from .losses import smoothed_softmax_loss
from .mixup import MixUp
from .pca import Projection
from .recipe import BUDGET_S, Recipe, target_for
from .report import Timeline, budget_line, column_headers
from .saved import MODEL_FILE, save_model
from .speed import SpeedCheck, measure_step_seconds, step_up
from .views import ViewAveraged, ViewFn, accuracy_by_views

__all__ = ["BUDGET_S", "Recipe", "best", "ViewAveraged", "MissingPluginError"]

_PLUGINS = {
    ("layer", "batchnorm1d"): "minifc-norm",
    ("layer", "layernorm"): "minifc-norm",
    ("layer", "residual_mlp"): "minifc-recipes",
    ("update_rule", "adamw"): "minifc-optim-extra",
    ("update_rule", "lion"): "minifc-optim-extra",
    ("loss", "softmax_smooth"): "minifc-recipes",
}
# The margin on estimates of the final evaluation's seconds, and the seconds the run keeps for writing its
# results.
_FINAL_EVAL_MARGIN = 1.2
# Seconds kept for the results (model, plot, JSON) and the process's exit: 2 s plus 0.5% of the budget.
# Measured from the test's evaluation to the exit: 1.6-2.8 s as a rule, but 10.9 s once at the end of a
# 15-minute run on the 2-core machine.
_OUTPUT_S = 2.0
_OUTPUT_SHARE = 0.005


class MissingPluginError(MinifcError, RuntimeError):
    """A component the recipe needs is not registered: its plugin package is not installed."""


def require_plugins(recipe: Recipe) -> None:
    """Raise :class:`MissingPluginError` naming the ``pip install`` that provides each missing component."""
    from minifc.registry.core import default_registry

    wanted = [("layer", recipe.norm), ("update_rule", recipe.update_rule)]
    if recipe.smoothing:
        wanted.append(("loss", "softmax_smooth"))
    if recipe.residual:
        wanted += [("layer", "residual_mlp"), ("layer", "layernorm")]
    registry = default_registry()
    missing = []
    for kind, name in wanted:
        try:
            registry.component(kind, name)
        except UnknownComponentError:
            missing.append((kind, name))
    if missing:
        packages = sorted({_PLUGINS.get(m, "?") for m in missing})
        what = ", ".join(f"{kind.replace('_', ' ')} {name!r}" for kind, name in missing)
        install = " ".join(f"-e plugins/{p}" for p in packages)
        raise MissingPluginError(
            f"the best recipe needs {what}, from the plugin package(s) {', '.join(packages)}, which "
            f"{'is' if len(packages) == 1 else 'are'} not installed. Install with: pip install {install}"
        )


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _plot(
    points: list[tuple[float, float, float]], test: tuple[float, float], path: Path, title: str, val_images: int
) -> list[str]:
    from minifc.io.plots import have_matplotlib, pyplot, save_figure

    if not have_matplotlib():
        print("(matplotlib is not installed: no plots; pip install 'minifc[plots]')")
        return []
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    scale, unit = (60, "minutes") if test[0] > 180 else (1, "seconds")
    times = [p[0] / scale for p in points]
    ax.plot(times, [p[1] for p in points], "-o", markersize=3, label="train (1,000 samples)")
    ax.plot(times, [p[2] for p in points], "-o", markersize=3, label=f"validation ({val_images:,} images, one view)")
    ax.plot([test[0] / scale], [test[1]], "r*", markersize=12, label=f"test, once at the end: {test[1]:.4f}")
    ax.set_xlim(left=0)
    ax.set_xlabel(f"wall-clock {unit} since the start (data loading included)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return [str(save_figure(fig, path))]


def _probe_final_evaluation(model: ViewAveraged, data: dict[str, torch.Tensor], rows: int = 500) -> float:
    """Seconds the final evaluation should take: :func:`final_evaluation` timed on ``rows`` validation images,
    scaled to the validation and test splits, with a margin."""
    X, y = data["X_val"][:rows], data["y_val"][:rows]
    start = time.time()
    accuracy_by_views(model, X, y)
    return _FINAL_EVAL_MARGIN * (time.time() - start) * (len(data["y_val"]) + len(data["y_test"])) / max(len(y), 1)


def final_evaluation(model: ViewAveraged, data: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Validation accuracy with 1, 2 and all of the model's views; the number of views chosen on it (the
    best, fewest on a tie; ``multi_views`` likewise among 2 or more); then the test split, evaluated once."""
    model.tta = True
    val = accuracy_by_views(model, data["X_val"], data["y_val"])
    views = max(sorted(val), key=lambda v: val[v])
    multi = [v for v in sorted(val) if v > 1]
    multi_views = max(multi, key=lambda v: val[v]) if multi else 1
    test = accuracy_by_views(model, data["X_test"], data["y_test"])  # the only look at the test split
    return {
        "val_acc_by_views": val,
        "views": views,
        "multi_views": multi_views,
        "test_acc": test[views],
        "test_acc_single_view": test[1],
        "test_acc_multi_view": test[multi_views],
    }


def _fit_to_machine(
    recipe: Recipe, options: ExampleOptions, data: dict[str, torch.Tensor], seconds_left: float, device: torch.device
) -> tuple[Recipe, list[SpeedCheck]]:
    """:func:`minifc_recipes.speed.step_up` on the training split, saying what it measured."""
    y = data["y_train"]
    measure = functools.partial(measure_step_seconds, precision=getattr(options, "precision", None))
    chosen, checks = step_up(recipe, options.extra, seconds_left, len(y), int(y.max()) + 1, device, measure)
    if options.verbose:
        for c in checks:
            print(
                f"best: {c.tier} takes {1e3 * c.step_seconds:.1f} ms per step here: about {c.epochs:.0f} epochs "
                f"fit (it needs {c.needed:g})"
            )
        if chosen.tier != recipe.tier:
            print(f"best: training {chosen.tier} instead of the budget's tier {recipe.tier} (this machine is fast)")
    return chosen, checks


def summary(recipe: Recipe, trainer: Any, final: dict[str, Any], steps_per_epoch: int) -> dict[str, Any]:
    """The example's summary row: the net, the accuracies of the training run and of the final evaluation, and
    the recipe's settings."""
    return {
        "name": f"MLP {recipe.depth}x{recipe.width} {recipe.norm}"
        + (f" +{recipe.residual} residual" if recipe.residual else "") + f" {recipe.tier} {recipe.update_rule}",
        "final_train_acc": trainer.train_acc_history[-1] if trainer.train_acc_history else float("nan"),
        "final_val_acc": trainer.val_acc_history[-1] if trainer.val_acc_history else float("nan"),
        "best_val_acc": trainer.best_val_acc,
        "val_acc_tta": final["val_acc_by_views"][final["views"]],
        **final,
        "budget_s": recipe.budget_s,
        "tier": recipe.tier,
        "epochs": round(trainer.step_count / steps_per_epoch, 2),
        "steps": trainer.step_count,
        "threads": torch.get_num_threads(),
        "recipe": asdict(recipe),
    }


def build_model(
    recipe: Recipe,
    data: dict[str, torch.Tensor],
    views: ViewFn | None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None,
    device: torch.device,
    projection: Projection | None = None,
) -> tuple[ViewAveraged, Callable[[torch.Tensor], torch.Tensor] | None]:
    """The recipe's net on ``data``'s (preprocessed) rows with its loss, wrapped to average ``views`` at test
    time, and the training batches' augmentation (MixUp or CutMix, when the recipe has it, around
    ``augment``; CutMix's boxes as maps of rows projected by ``projection``, when given)."""
    from minifc.builder import build_net

    net = build_net(recipe.layers(), data["X_train"].shape[1], int(data["y_train"].max()) + 1, device=device)
    loss: Callable[..., Any] | str = smoothed_softmax_loss(recipe.smoothing) if recipe.smoothing else "softmax"
    if recipe.mixup and recipe.cutmix:
        raise ValueError(
            f"best: the recipe settings mixup ({recipe.mixup!r}) and cutmix ({recipe.cutmix!r}) both mix the "
            "batches; set one of them to 0"
        )
    if recipe.mixup or recipe.cutmix:
        from minifc.registry.core import get_loss

        base = loss if callable(loss) else get_loss(loss)
        mixer = (
            MixUp(recipe.mixup, base, before=augment)
            if recipe.mixup
            else CutMix(base, recipe.cutmix, projection=projection, before=augment)
        )
        loss, augment = mixer.loss, mixer.augment
    return ViewAveraged(net, loss, shift=recipe.tta_shift, flip=recipe.tta_flip, views=views), augment


def best(data: dict[str, torch.Tensor], options: ExampleOptions) -> dict[str, Any]:
    """Train the recipe (see the module docstring) on ``data`` (the dict of :func:`minifc.data.load_cifar10`).

    ``options`` is a :class:`minifc.experiments.example_options.ExampleOptions`: ``budget`` (seconds, default 15
    minutes) picks the recipe's tier and bounds the run, ``epochs`` fixes the number of epochs (default:
    as many as fit the budget), ``num_train`` uses the first N training images, ``extra`` may hold
    ``recipe`` (a dict of :class:`Recipe` overrides) and ``started_at`` (a ``time.time()`` the budget
    counts from; default: the start of this process). Returns the example summary with one row
    (``test_acc_single_view``, ``test_acc_multi_view``, ``test_acc`` with the views chosen on
    validation, ``val_acc_by_views``, ``seconds`` from the budget's start to the end, ``over_budget_s``,
    ``phases``, ``epochs``, machine load), the plot, the target and the table's ``columns`` (headers that
    say how many images and views each accuracy measured).
    """
    from minifc.training.trainer import Trainer, resolve_device

    device = resolve_device(options.device)
    recipe = Recipe.from_options(options.extra, options.budget, device.type)
    require_plugins(recipe)
    started_at = float(options.extra.get("started_at") or process_started_at())
    deadline = started_at + recipe.budget_s
    cpu_start = time.process_time()
    load_before = _load_average()

    data = {k: v.to(device) for k, v in data.items()}
    if options.num_train is not None:
        data["X_train"], data["y_train"] = data["X_train"][: options.num_train], data["y_train"][: options.num_train]
    speed_checks: list[SpeedCheck] = []
    if device.type == "cpu" and options.epochs is None:
        recipe, speed_checks = _fit_to_machine(recipe, options, data, deadline - time.time(), device)
    data, views, augment, preprocessing = prepare_inputs(data, recipe, options.verbose)

    if options.seed is not None:
        torch.manual_seed(options.seed)
    projection = preprocessing if isinstance(preprocessing, Projection) else None
    model, augment = build_model(recipe, data, views, augment, device, projection)
    n_train = data["X_train"].shape[0]
    batch_size = min(recipe.batch_size, n_train)
    steps_per_epoch = max(n_train // batch_size, 1)
    fixed = options.epochs is not None
    epochs = options.epochs if fixed else recipe.max_epochs
    schedule = FittedSchedule(max(1, round(recipe.warmup_epochs * steps_per_epoch)))
    num_train_samples = 1000
    n_val, n_test = data["X_val"].shape[0], data["X_test"].shape[0]
    val_each_epoch = n_val if recipe.val_samples is None else min(recipe.val_samples, n_val)
    each_epoch = min(num_train_samples, n_train) + val_each_epoch  # images an epoch-end evaluation scores
    final_eval = _FINAL_EVAL_MARGIN * model.num_views * (n_val + n_test) / each_epoch
    clock = BudgetClock(
        started_at,
        deadline,
        final_eval,
        None if fixed else schedule,
        recipe.max_epochs * steps_per_epoch,
        margin_s=_OUTPUT_S + _OUTPUT_SHARE * recipe.budget_s,
        # until the first epoch-end evaluation is timed: a forward pass costs about a third of a training step's
        first_eval_steps=each_epoch / (3 * batch_size),
        probe=lambda: _probe_final_evaluation(model, data),
        probe_every=10,
    )
    trainer = Trainer(
        model,
        {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")},
        update_rule=recipe.update_rule,
        optim_config={"learning_rate": recipe.learning_rate, "weight_decay": recipe.weight_decay},
        schedule=schedule,
        batch_size=batch_size,
        num_epochs=epochs,
        device=device,
        seed=options.seed,
        callbacks=[clock, *([EMA(recipe.ema, every=recipe.ema_every)] if recipe.ema else [])],
        augment=augment,
        num_train_samples=num_train_samples,
        num_val_samples=recipe.val_samples,
        verbose=options.verbose,
        precision=getattr(options, "precision", None),
    )
    train_start = time.time()
    if options.verbose:
        print(
            f"best ({recipe.tier or 'custom'}): {recipe.describe_net()} on "
            f"{data['X_train'].shape[1]} inputs, {recipe.update_rule}, batch {batch_size}, budget "
            f"{recipe.budget_s:.0f} s ({deadline - train_start:.0f} s left)"
        )
    trainer.train()
    train_end = time.time()
    final = final_evaluation(model, data)
    eval_end = time.time()
    saved = save_model(Path(options.out) / MODEL_FILE, recipe, model, preprocessing)
    title = f"MLP {recipe.depth} x {recipe.width} on CIFAR-10, {trainer.step_count / steps_per_epoch:.1f} epochs"
    plot_path = Path(options.out) / "best_accuracy_vs_time.png"
    plots = _plot(clock.points, (eval_end - started_at, final["test_acc"]), plot_path, title, val_each_epoch)
    timeline = Timeline(started_at, train_start, train_end, eval_end, time.time())
    cpu_seconds = time.process_time() - cpu_start
    if options.verbose:
        print(
            "best: validation accuracy by views averaged per image: "
            + ", ".join(f"{v}: {acc:.4f}" for v, acc in final["val_acc_by_views"].items())
        )
        print(
            f"best: test accuracy {final['test_acc_single_view']:.4f} with one view, "
            f"{final['test_acc_multi_view']:.4f} with {final['multi_views']} views (chosen on validation) after "
            f"{trainer.step_count / steps_per_epoch:.1f} epochs"
        )
        load = _load_average()
        print(f"best: {budget_line(timeline, recipe.budget_s)}; {cpu_seconds:.0f} CPU s, load average {load}")
    row = {
        **summary(recipe, trainer, final, steps_per_epoch),
        "speed_checks": [asdict(c) for c in speed_checks],
        "seconds": round(timeline.seconds, 1),
        "over_budget_s": round(max(0.0, timeline.seconds - recipe.budget_s), 1),
        "phases": timeline.phases(),
        "train_seconds": round(train_end - train_start, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "curve": [[round(t, 1), a, v] for t, a, v in clock.points],
        "load_average": [load_before, _load_average()],
        "model": str(saved),
    }
    columns = column_headers(
        min(num_train_samples, n_train), val_each_epoch, n_val, n_test, final["views"], recipe.budget_s
    )
    target = target_for(recipe.budget_s)
    return {"rows": [row], "plots": plots, "columns": columns, **({"target": ("test_acc", target)} if target else {})}
