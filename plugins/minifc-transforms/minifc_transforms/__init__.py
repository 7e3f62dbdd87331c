"""minifc plugin: the gradient transforms adaptive_clip, add_noise, centralize and skip_nonfinite."""

from __future__ import annotations

from minifc.registry.hookspecs import Register, hookimpl

from .noise import add_noise
from .skip import skip_nonfinite
from .unitwise import adaptive_clip, centralize

__version__ = "0.1.0"
__all__ = ["adaptive_clip", "add_noise", "centralize", "skip_nonfinite"]


@hookimpl
def minifc_register_gradient_transforms(register: Register) -> None:
    register("adaptive_clip", adaptive_clip, description="unit-wise adaptive gradient clipping (Brock et al. 2021)")
    register("add_noise", add_noise, description="annealed Gaussian gradient noise (Neelakantan et al. 2015)")
    register("centralize", centralize, description="gradient centralization of the weights (Yong et al. 2020)")
    register("skip_nonfinite", skip_nonfinite, description="skip steps with NaN/Inf gradients, up to max_skips")
