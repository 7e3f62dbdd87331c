"""The example ``best`` (``minifc example best``): the strongest fully-connected CIFAR-10 recipe that fits
15 minutes of a 2-core CPU.

A plain MLP, trained from scratch on the training split only (no convolution, attention or patch mixing):

- preprocessing: ZCA whitening fitted once on the training images (a fixed linear map, see
  :func:`minifc_recipes.fit_zca`); whitened rows are still 3 x 32 x 32 images;
- augmentation, on every training batch on the device: random crops of the zero-padded image and
  horizontal flips (:func:`minifc.augment.crop_flip`);
- net: ``[linear, batchnorm1d, relu] x depth`` then a linear layer to the 10 classes;
- loss: label-smoothed softmax cross-entropy; update rule: AdamW (or Lion) with a linear warm-up and a
  cosine decay to zero, whose length is fitted to the time budget after the first epoch;
- selection on the validation split (the Trainer keeps the best-validation parameters); the test split
  is evaluated once, at the end, averaging the scores of 18 views of each image: its shifts by every
  (dy, dx) in {-2, 0, 2}^2 (the centre and the extreme windows of the training crops) and their mirror
  images (:class:`ViewAveraged`).

Every component is a minifc component with an explicit backward pass, looked up by name in the plugin
registry: ``batchnorm1d`` (minifc-norm), ``adamw``/``lion`` (minifc-optim-extra) and ``softmax_smooth``
(minifc-recipes), whose missing package is named in the error.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from minifc.augment import crop_flip, hflip, shift
from minifc.errors import MinifcError, UnknownComponentError
from minifc.example_options import ExampleOptions
from minifc.models import Classifier
from minifc.nn import Module

from .losses import smoothed_softmax_loss
from .preprocess import fit_zca
from .schedules import warmup_cosine_steps

__all__ = ["Recipe", "best", "ViewAveraged", "MissingPluginError"]

BUDGET_S = 15 * 60
"""Default wall-clock budget of the whole example (from the start of the process), in seconds."""
_FIRST_RESERVE_S = 10.0  # kept for the final evaluation until the first epoch has been timed
# The final evaluation, in epochs: one forward pass of one view of one image costs about 0.3 of a training
# sample's step (measured: 18 views of 10,000 images in 16 s, an epoch of 40,000 in 11.5 s); 0.35 leaves a margin.
_EVAL_COST_PER_VIEW = 0.35

_PLUGINS = {
    ("layer", "batchnorm1d"): "minifc-norm",
    ("update_rule", "adamw"): "minifc-optim-extra",
    ("update_rule", "lion"): "minifc-optim-extra",
    ("loss", "softmax_smooth"): "minifc-recipes",
}


class MissingPluginError(MinifcError, RuntimeError):
    """A component the recipe needs is not registered: its plugin package is not installed."""


@dataclass
class Recipe:
    """The settings of :func:`best`; ``options.extra["recipe"]`` (a dict) overrides any of them."""

    width: int = 1024
    depth: int = 2
    norm: str = "batchnorm1d"
    zca_eps: float | None = 1.0
    zca_samples: int = 20000
    padding: int = 2
    flip: bool = True
    smoothing: float = 0.1
    update_rule: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    batch_size: int = 256
    warmup_epochs: float = 1.0
    max_epochs: int = 200
    budget_s: float = BUDGET_S
    tta_flip: bool = True
    tta_shift: int = 2

    @classmethod
    def from_options(cls, extra: dict[str, Any]) -> Recipe:
        overrides = dict(extra.get("recipe") or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"best: unknown recipe setting(s) {unknown}; known: {sorted(known)}")
        return cls(**overrides)

    def layers(self) -> list[Any]:
        """The layer specs for :func:`minifc.builder.build_net` (the output layer is added there)."""
        specs: list[Any] = []
        for _ in range(self.depth):
            specs += [{"name": "linear", "out_features": self.width}, self.norm, "relu"]
        return specs


def require_plugins(recipe: Recipe) -> None:
    """Raise :class:`MissingPluginError` naming the ``pip install`` that provides each missing component."""
    from minifc.registry import default_registry

    wanted = [("layer", recipe.norm), ("update_rule", recipe.update_rule)]
    if recipe.smoothing:
        wanted.append(("loss", "softmax_smooth"))
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


class ViewAveraged(Classifier):
    """A Classifier whose scores (``loss(X)`` without labels) average the scores of several views of
    each image when ``tta`` is on: the image shifted by every (dy, dx) in {-shift, 0, shift}^2 (zero
    filled, :func:`minifc.augment.shift`; only the image itself when ``shift`` is 0) and, with ``flip``,
    the mirror image of each. Training (``loss(X, y)``) is unchanged. X (N, 3072) -> scores (N, C)."""

    def __init__(
        self, net: Module, loss: Any = "softmax", tta: bool = False, shift: int = 0, flip: bool = True
    ) -> None:
        super().__init__(net, loss)
        if not isinstance(shift, int) or isinstance(shift, bool) or shift < 0:
            raise ValueError(f"ViewAveraged: shift must be an integer >= 0, got {shift!r}")
        self.tta, self.shift, self.flip = tta, shift, flip

    @property
    def num_views(self) -> int:
        return (9 if self.shift else 1) * (2 if self.flip else 1)

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None, **kwargs: Any) -> Any:
        if y is not None or not self.tta:
            return super().loss(X, y, **kwargs)
        steps = (-self.shift, 0, self.shift) if self.shift else (0,)
        total: torch.Tensor | None = None
        for dy in steps:
            for dx in steps:
                view = shift(X, dy, dx) if dy or dx else X
                for v in (view, hflip(view)) if self.flip else (view,):
                    scores = super().loss(v)
                    total = scores.clone() if total is None else total.add_(scores)
        assert total is not None
        return total.div_(self.num_views)


@torch.no_grad()
def accuracy(model: Any, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of the N rows of X (N, D) whose arg-max score is y (N,), in batches."""
    correct = 0
    for start in range(0, X.shape[0], batch_size):
        scores = model.loss(X[start : start + batch_size])
        correct += int((scores.argmax(1) == y[start : start + batch_size]).sum())
    return correct / max(X.shape[0], 1)


class _Budget:
    """Trainer callback that keeps training inside the time budget and records the accuracy curve.

    After every epoch it estimates the seconds per epoch (the mean of the last three, evaluation
    included) and sets ``num_epochs`` (hence the length of the cosine schedule) to the epochs that
    still fit before ``deadline`` minus the final evaluation (``reserve`` epochs); it also records
    (seconds since ``started_at``, train accuracy, validation accuracy). After every step it stops
    training once the time for the final evaluation is reached (the Trainer then restores the
    best-validation parameters of the finished epochs).
    """

    def __init__(self, started_at: float, deadline: float, reserve: float, max_epochs: int, adapt: bool) -> None:
        self.started_at, self.deadline, self.reserve = started_at, deadline, reserve
        self.max_epochs, self.adapt = max_epochs, adapt
        self.points: list[tuple[float, float, float]] = []
        self.stop_at = deadline - _FIRST_RESERVE_S
        self._epoch_start = time.time()
        self._durations: list[float] = []

    def on_train_begin(self, trainer: Any) -> None:
        self._epoch_start = time.time()

    def on_step_end(self, trainer: Any) -> None:
        if time.time() > self.stop_at:
            if trainer.verbose:
                print("budget: stopping now, to leave time for the final evaluation")
            trainer.stop_training = True

    def on_epoch_end(self, trainer: Any) -> None:
        now = time.time()
        self._durations.append(now - self._epoch_start)
        self._epoch_start = now
        self.points.append((now - self.started_at, trainer.train_acc_history[-1], trainer.val_acc_history[-1]))
        recent = self._durations[-3:]
        per_epoch = sum(recent) / len(recent)
        self.stop_at = self.deadline - self.reserve * per_epoch
        if not self.adapt:
            return
        fits = trainer.epoch + max(0, math.floor((self.stop_at - now) / per_epoch))
        total = min(self.max_epochs, fits)  # == trainer.epoch: no epoch fits any more, training ends here
        if total != trainer.num_epochs and trainer.verbose:
            print(f"budget: {per_epoch:.1f} s per epoch, {self.stop_at - now:.0f} s left -> {total} epochs in all")
        trainer.num_epochs = total


def _process_started_at() -> float:
    """When this process started (Linux /proc), else now: the budget counts Python start-up and data loading."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line[:5] == "btime"
        )
        started = boot + start_ticks / ticks
        return started if 0 <= time.time() - started < 24 * 3600 else time.time()
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _whiten(data: dict[str, torch.Tensor], recipe: Recipe, verbose: bool) -> dict[str, torch.Tensor]:
    if not recipe.zca_eps:
        return data
    t0 = time.time()
    zca = fit_zca(data["X_train"], eps_ratio=recipe.zca_eps, max_samples=recipe.zca_samples)
    out = dict(data)
    for key in ("X_train", "X_val", "X_test"):
        out[key] = zca.apply(data[key])
    if verbose:
        print(
            f"ZCA whitening (eps {zca.eps:.3g}) fitted on {min(recipe.zca_samples, len(data['X_train']))} "
            f"training images and applied in {time.time() - t0:.1f} s"
        )
    return out


def _plot(points: list[tuple[float, float, float]], test: tuple[float, float], path: Path, title: str) -> list[str]:
    from minifc.plots import have_matplotlib, pyplot

    if not have_matplotlib():
        print("(matplotlib is not installed: no plots; pip install 'minifc[plots]')")
        return []
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    minutes = [p[0] / 60 for p in points]
    ax.plot(minutes, [p[1] for p in points], "-o", markersize=3, label="train (1,000 samples)")
    ax.plot(minutes, [p[2] for p in points], "-o", markersize=3, label="validation (one view per image)")
    ax.plot([test[0] / 60], [test[1]], "r*", markersize=12, label=f"test, once at the end: {test[1]:.4f}")
    ax.axhline(0.65, color="gray", linestyle="--", linewidth=0.8, label="target 0.65")
    ax.set_xlim(left=0)
    ax.set_xlabel("wall-clock minutes since the start (data loading included)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [str(path)]


def best(data: dict[str, torch.Tensor], options: ExampleOptions) -> dict[str, Any]:
    """Train the recipe (see the module docstring) on ``data`` (the dict of :func:`minifc.data.load_cifar10`).

    ``options`` is a :class:`minifc.example_options.ExampleOptions`: ``epochs`` fixes the number of epochs
    (default: as many as fit the budget), ``num_train`` uses the first N training images, ``extra``
    may hold ``recipe`` (a dict of :class:`Recipe` overrides) and ``started_at`` (a ``time.time()``
    the budget counts from; default: the start of this process). Returns the example summary with one
    row (accuracies, ``test_acc``, ``seconds``, ``epochs``, machine load), the plot paths and the target.
    """
    from minifc.builder import build_net
    from minifc.trainer import Trainer, resolve_device

    recipe = Recipe.from_options(options.extra)
    require_plugins(recipe)
    started_at = float(options.extra.get("started_at") or _process_started_at())
    deadline = started_at + recipe.budget_s
    device = resolve_device(options.device)
    cpu_start = time.process_time()
    load_before = _load_average()

    data = {k: v.to(device) for k, v in data.items()}
    if options.num_train is not None:
        data["X_train"], data["y_train"] = data["X_train"][: options.num_train], data["y_train"][: options.num_train]
    data = _whiten(data, recipe, options.verbose)

    if options.seed is not None:
        torch.manual_seed(options.seed)
    net = build_net(recipe.layers(), data["X_train"].shape[1], int(data["y_train"].max()) + 1, device=device)
    loss: Callable[..., Any] | str = "softmax"
    if recipe.smoothing:
        loss = smoothed_softmax_loss(recipe.smoothing)
    model = ViewAveraged(net, loss, shift=recipe.tta_shift, flip=recipe.tta_flip)
    n_train = data["X_train"].shape[0]
    batch_size = min(recipe.batch_size, n_train)
    steps_per_epoch = max(n_train // batch_size, 1)
    fixed = options.epochs is not None
    epochs = options.epochs if fixed else recipe.max_epochs
    # the final evaluation: validation with 1, 2 (mirror) and the recipe's views, then the test split
    n_eval = (3 + model.num_views) * data["X_val"].shape[0] + model.num_views * data["X_test"].shape[0]
    reserve = _EVAL_COST_PER_VIEW * n_eval / n_train  # in epochs
    budget = _Budget(started_at, deadline, max(reserve, 0.5), recipe.max_epochs, adapt=not fixed)
    augment = crop_flip(recipe.padding, recipe.flip) if (recipe.padding or recipe.flip) else None
    trainer = Trainer(
        model,
        {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")},
        update_rule=recipe.update_rule,
        optim_config={"learning_rate": recipe.learning_rate, "weight_decay": recipe.weight_decay},
        schedule=warmup_cosine_steps(max(1, round(recipe.warmup_epochs * steps_per_epoch))),
        batch_size=batch_size,
        num_epochs=epochs,
        device=device,
        seed=options.seed,
        callbacks=[budget],
        augment=augment,
        num_train_samples=1000,
        verbose=options.verbose,
    )
    train_start = time.time()
    if options.verbose:
        print(
            f"best: {recipe.depth} x [linear {recipe.width}, {recipe.norm}, relu], {recipe.update_rule}, "
            f"batch {batch_size}, budget {recipe.budget_s:.0f} s ({deadline - train_start:.0f} s left)"
        )
    trainer.train()
    train_seconds = time.time() - train_start

    # validation accuracy of the selected parameters with one view per image, with its mirror, and with
    # the recipe's views: what the test-time averaging adds, measured on the split used for choices
    val_by_views = {}
    for shift_views, flip in ((0, False), (0, True), (recipe.tta_shift, recipe.tta_flip)):
        model.tta, model.shift, model.flip = True, shift_views, flip
        if model.num_views not in val_by_views:  # a recipe of 1 or 2 views is measured once
            val_by_views[model.num_views] = accuracy(model, data["X_val"], data["y_val"])
    val_acc = val_by_views[model.num_views]
    test_acc = accuracy(model, data["X_test"], data["y_test"])  # the only look at the test split
    seconds = time.time() - started_at
    cpu_seconds = time.process_time() - cpu_start
    if options.verbose:
        print(
            "best: validation accuracy by views averaged per image: "
            + ", ".join(f"{views}: {acc:.4f}" for views, acc in val_by_views.items())
        )
        print(
            f"best: test accuracy {test_acc:.4f} (validation {val_acc:.4f}; scores averaged over "
            f"{model.num_views} views per image) after "
            f"{trainer.epoch} epochs; {seconds:.0f} s in all, {train_seconds:.0f} s training, "
            f"{cpu_seconds:.0f} CPU s, load average {_load_average()}"
        )
    title = f"MLP {recipe.depth} x {recipe.width} on CIFAR-10, {trainer.epoch} epochs"
    plots = _plot(budget.points, (seconds, test_acc), Path(options.out) / "best_accuracy_vs_time.png", title)
    row = {
        "name": f"MLP {recipe.depth}x{recipe.width} {recipe.norm} zca {recipe.update_rule}",
        "final_train_acc": trainer.train_acc_history[-1] if trainer.train_acc_history else float("nan"),
        "final_val_acc": trainer.val_acc_history[-1] if trainer.val_acc_history else float("nan"),
        "best_val_acc": trainer.best_val_acc,
        "val_acc_tta": val_acc,
        "val_acc_by_views": val_by_views,
        "test_acc": test_acc,
        "seconds": round(seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "epochs": trainer.epoch,
        "load_average": [load_before, _load_average()],
        "threads": torch.get_num_threads(),
        "recipe": asdict(recipe),
    }
    return {"rows": [row], "plots": plots, "target": ("test_acc", 0.65)}
