"""minifc plugin (a template): the layer ``leaky_relu``, the update rule ``adamax``, the schedule
``polynomial``, the gradient transform ``clip_spikes`` and the example ``leaky-relu``, registered through
minifc's hooks (see ``minifc/registry/hookspecs.py``).

Installed, minifc finds this module through the ``minifc.plugins`` entry point in ``setup.cfg``;
``minifc plugins`` lists it, ``minifc check myplugin`` verifies its components numerically, and the
names work everywhere minifc takes a name: ``build_net(["linear:256", "leaky_relu"], ...)``,
``Trainer(..., update_rule="adamax", schedule="polynomial:power=2")``, ``minifc train --update-rule adamax
--schedule polynomial``, ``minifc train --grad-transform clip_spikes``,
``minifc example leaky-relu``.
"""

from __future__ import annotations

from minifc import hookimpl

from .example import leaky_relu_example
from .layers import LeakyReLU
from .rules import adamax
from .schedules import polynomial
from .transforms import clip_spikes

__version__ = "0.3.0"
__all__ = ["LeakyReLU", "adamax", "polynomial", "leaky_relu_example", "clip_spikes"]


@hookimpl
def minifc_register_layers(register):
    register("leaky_relu", LeakyReLU, description="max(x, 0) + negative_slope * min(x, 0)")


@hookimpl
def minifc_register_update_rules(register):
    register("adamax", adamax, description="Adamax: Adam with the infinity norm")


@hookimpl
def minifc_register_schedules(register):
    register(
        "polynomial",
        polynomial,
        description="end_factor + (1 - end_factor) * (1 - step / total_steps) ** power",
        bounds={"power": (0.0, 10.0), "end_factor": (0.0, 1.0)},  # closed ranges; default: >= 0
    )


@hookimpl
def minifc_register_examples(register):
    register("leaky-relu", leaky_relu_example, description="relu against leaky_relu, adamax (template plugin)")


@hookimpl
def minifc_register_gradient_transforms(register):
    register("clip_spikes", clip_spikes, description="clip the gradient norm to factor x its running average")
