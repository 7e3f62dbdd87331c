"""The built-in components, registered through the same hooks as any third-party plugin (the
classic examples register in :mod:`minifc.experiments.classic_examples`)."""

from __future__ import annotations

import math

from .. import functional as F
from .. import nn, optim
from ..compare.presets import BUILTIN_PRESETS as COMPARE_PRESETS
from ..optim import clipping, regularizers, schedules
from ..sweeps.presets import BUILTIN_PRESETS
from ..training.callbacks import EarlyStopping
from ..training.ema import EMA
from ..training.tensorboard import TensorBoard
from ..validate import Interval, below
from .hookspecs import Register, hookimpl


@hookimpl
def minifc_register_layers(register: Register) -> None:
    register("linear", nn.Linear, description="affine layer x @ W + b (needs in_features, out_features)")
    register("relu", nn.ReLU, description="max(x, 0)")
    register("linear_relu", nn.LinearReLU, description="Linear then ReLU, fused")
    register("dropout", nn.Dropout, description="inverted dropout; p = probability of dropping")


@hookimpl
def minifc_register_losses(register: Register) -> None:
    register("softmax", F.softmax_loss, description="softmax cross-entropy")
    register("svm", F.svm_loss, description="multiclass hinge loss, margin 1")


@hookimpl
def minifc_register_update_rules(register: Register) -> None:
    register("sgd", optim.sgd, description="w -= lr * dw")
    register("sgd_momentum", optim.sgd_momentum, description="classic momentum, v = mu v - lr dw")
    register("rmsprop", optim.rmsprop, description="RMSProp")
    register("adam", optim.adam, description="Adam with bias correction")


@hookimpl
def minifc_register_regularizers(register: Register) -> None:
    register(
        "l2",
        regularizers.l2,
        description="reg * sum(W**2) on weights",
        stage="loss",
        applies_to="weights",
        defaults=dict(regularizers.L2_DEFAULTS),
    )



@hookimpl
def minifc_register_schedules(register: Register) -> None:
    register("constant", schedules.constant_schedule, description="factor 1 throughout")
    register(
        "warmup_cosine",
        schedules.warmup_cosine,
        description="linear warm-up over warmup_fraction of the steps, then cosine decay to final_factor",
        bounds={"warmup_fraction": below(1.0)},
    )
    register(
        "step",
        schedules.step_decay,
        description="gamma ** (epoch // step_size): times gamma every step_size epochs (StepLR)",
        bounds={"step_size": (1, math.inf), "gamma": Interval(0.0, 1.0, low_open=True)},
    )
    register(
        "exponential",
        schedules.exponential_decay,
        description="gamma ** (step / steps_per_epoch): times gamma per epoch, smoothly",
        bounds={"gamma": Interval(0.0, 1.0, low_open=True)},
    )


@hookimpl
def minifc_register_callbacks(register: Register) -> None:
    register(
        "early_stopping",
        EarlyStopping,
        description="stop when validation accuracy has not improved by min_delta for patience epochs",
        bounds={"patience": (1, math.inf)},
    )
    register(
        "ema",
        EMA,
        description="evaluate an exponential moving average of the weights (decay per step)",
        bounds={"decay": below(1.0), "every": (1, math.inf)},
    )
    register(
        "tensorboard",
        TensorBoard,
        description="TensorBoard scalars and hyper-parameters (pip install 'minifc[tensorboard]')",
        check_config={"log_dir": None},
    )


@hookimpl
def minifc_register_gradient_transforms(register: Register) -> None:
    register("clip_norm", clipping.clip_norm, description="scale all gradients to global L2 norm <= max_norm")
    register("clip_value", clipping.clip_value, description="clamp every gradient element to [-value, value]")


@hookimpl
def minifc_register_sweep_presets(register: Register) -> None:
    for name, (preset, description) in BUILTIN_PRESETS.items():
        register(name, preset, description=description)


@hookimpl
def minifc_register_compare_presets(register: Register) -> None:
    for name, (preset, description) in COMPARE_PRESETS.items():
        register(name, preset, description=description)
