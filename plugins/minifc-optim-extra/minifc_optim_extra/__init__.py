"""minifc plugin: the update rules nesterov, adamw, lion and adagrad (see :mod:`.rules`)."""

from __future__ import annotations

from minifc.registry.hookspecs import Register, hookimpl

from .rules import adagrad, adamw, lion, nesterov

__version__ = "0.3.0"
__all__ = ["nesterov", "adamw", "lion", "adagrad"]


@hookimpl
def minifc_register_update_rules(register: Register) -> None:
    register("nesterov", nesterov, description="Nesterov momentum (classic form)")
    register("adamw", adamw, description="Adam with decoupled weight decay (weight_decay)")
    register("lion", lion, description="Lion: sign of an interpolated momentum")
    register("adagrad", adagrad, description="AdaGrad: lr / sqrt(sum of squared gradients)")
