"""minifc plugin: the regularizers l1, elastic_net (stage "loss"), max_norm and weight_decay (stage "update")."""

from __future__ import annotations

from minifc.registry.hookspecs import Register, hookimpl

from .regs import elastic_net, l1, max_norm, weight_decay

__version__ = "0.3.0"
__all__ = ["l1", "elastic_net", "max_norm", "weight_decay"]


@hookimpl
def minifc_register_regularizers(register: Register) -> None:
    register("l1", l1, description="reg * sum(|W|)", stage="loss", defaults=dict(l1.defaults))
    register(
        "elastic_net",
        elastic_net,
        description="reg * (l1_ratio * sum(|W|) + (1 - l1_ratio) * sum(W**2))",
        stage="loss",
        defaults=dict(elastic_net.defaults),
    )
    register(
        "max_norm",
        max_norm,
        description="after each update, cap the norm of every unit's incoming weights",
        stage="update",
        defaults=dict(max_norm.defaults),
    )
    register(
        "weight_decay",
        weight_decay,
        description="decoupled weight decay: W *= 1 - learning_rate * weight_decay after each update",
        stage="update",
        defaults=dict(weight_decay.defaults),
    )
