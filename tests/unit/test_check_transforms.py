"""``minifc check`` of gradient transforms: a good one passes; one returning None, NaN, a wrong shape or dtype
fails naming what; clip_norm is compared with ``torch.nn.utils.clip_grad_norm_`` and the comparison can fail."""

from __future__ import annotations

import pytest

from minifc.optim import clipping
from minifc.testing import CheckFailed, check_component


class _Returns:
    def __init__(self, how: str) -> None:
        self.how = how

    def init(self, params):
        return {}

    def update(self, grads, state, params):
        change = {
            "none": lambda g: None,
            "nan": lambda g: {n: t * float("nan") for n, t in g.items()},
            "shape": lambda g: {n: t[None] for n, t in g.items()},
            "dtype": lambda g: {n: t.half() for n, t in g.items()},
        }
        return change[self.how](grads), state


@pytest.mark.parametrize(("how", "words"), [("none", "NoneType"), ("nan", "NaN/Inf"), ("shape", "shape"),
                                            ("dtype", "dtype torch.float16")])  # fmt: skip
def test_a_broken_transform_fails_naming_what(how, words) -> None:
    with pytest.raises(CheckFailed) as e:
        check_component("gradient_transform", lambda: _Returns(how), name=f"broken_{how}")
    assert words in str(e.value)


def test_clip_norm_and_clip_value_pass() -> None:
    rows = check_component("gradient_transform", "clip_norm") + check_component("gradient_transform", "clip_value")
    assert {r.check for r in rows} >= {"clip_grad_norm_ below the threshold: unchanged", "clip_grad_norm_ above: "
                                       "scaled to max_norm"}  # fmt: skip
    assert all(r.passed for r in rows)


def test_the_comparison_with_torch_can_fail(monkeypatch) -> None:
    monkeypatch.setattr(clipping.ClipNorm, "update", lambda self, g, s, p: ({n: 0.5 * t for n, t in g.items()}, s))
    with pytest.raises(CheckFailed, match="clip_grad_norm_"):
        check_component("gradient_transform", "clip_norm")
