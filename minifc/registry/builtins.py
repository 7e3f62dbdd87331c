"""The built-in components, registered through the same hooks as any third-party plugin (the
classic examples register in :mod:`minifc.experiments.classic_examples`)."""

from __future__ import annotations

from .. import functional as F
from .. import nn, optim
from ..compare.presets import BUILTIN_PRESETS as COMPARE_PRESETS
from ..optim import regularizers
from ..sweeps.presets import BUILTIN_PRESETS
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
def minifc_register_sweep_presets(register: Register) -> None:
    for name, (preset, description) in BUILTIN_PRESETS.items():
        register(name, preset, description=description)


@hookimpl
def minifc_register_compare_presets(register: Register) -> None:
    for name, (preset, description) in COMPARE_PRESETS.items():
        register(name, preset, description=description)
