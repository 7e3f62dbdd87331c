"""The functional (classic course) API refuses what the Module API refuses: a Linear weight or bias of
the wrong shape, a loss of no samples or of NaN/Inf scores, an update rule given a negative learning
rate, a key it does not know or a config that is not a dict. Each error names the function."""

from __future__ import annotations

import pytest
import torch

from minifc.errors import ShapeError
from minifc.functional import Linear, Linear_ReLU, softmax_loss, svm_loss
from minifc.optim import adam, decoupled_weight_decay, rmsprop, sgd, sgd_momentum

LOSSES = [svm_loss, softmax_loss]


@pytest.mark.parametrize("layer", [Linear, Linear_ReLU])
@pytest.mark.parametrize(
    ("w", "b"),
    [(torch.randn(4), torch.zeros(5)), (torch.randn(4, 5), torch.zeros(3)), (torch.randn(4, 5), torch.zeros(1, 5))],
    ids=["1-d weight", "short bias", "2-d bias"],
)
def test_linear_refuses_a_weight_or_bias_of_the_wrong_shape(layer, w, b):
    with pytest.raises(ShapeError, match=r"Linear: expected w of shape \(D, M\) and b of shape \(M,\)"):
        layer.forward(torch.randn(2, 4), w, b)


@pytest.mark.parametrize("loss_fn", LOSSES, ids=["svm", "softmax"])
def test_losses_refuse_no_samples(loss_fn):
    with pytest.raises(ShapeError, match=rf"{loss_fn.__name__}: scores must have shape \(N, C\) with N, C >= 1"):
        loss_fn(torch.randn(0, 4), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize("loss_fn", LOSSES, ids=["svm", "softmax"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_losses_refuse_non_finite_scores(loss_fn, bad):
    x = torch.randn(5, 4)
    x[3, 2] = bad  # not at the row's label
    pattern = rf"{loss_fn.__name__}: scores contain NaN or Inf in 1 row\(s\), first at row 3"
    with pytest.raises(ValueError, match=pattern):
        loss_fn(x, torch.tensor([0, 1, 2, 0, 3]))


def test_softmax_loss_accepts_minus_inf_away_from_the_label():
    x = torch.zeros(2, 3)
    x[0, 2] = -float("inf")  # a masked class: a finite loss
    loss, dx = softmax_loss(x, torch.tensor([0, 1]))
    assert torch.isfinite(loss) and torch.isfinite(dx).all()


@pytest.mark.parametrize("rule", [sgd, sgd_momentum, rmsprop, adam, decoupled_weight_decay(adam)])
def test_rules_refuse_a_negative_learning_rate_or_an_unknown_key(rule):
    w, dw = torch.zeros(3), torch.ones(3)
    with pytest.raises(ValueError, match=rf"{rule.__name__}: learning_rate must be a finite number >= 0, got -1"):
        rule(w.clone(), dw, {"learning_rate": -1})
    with pytest.raises(ValueError, match=rf"{rule.__name__}: unknown optim_config key\(s\) \['learnig_rate'\]"):
        rule(w.clone(), dw, {"learnig_rate": 0.1})
    with pytest.raises(TypeError, match=rf"{rule.__name__}: config must be a dict"):
        rule(w.clone(), dw, [("learning_rate", 0.1)])
    # a config reused step after step is checked again when changed
    next_w, config = rule(w.clone(), dw, {"learning_rate": 0.1})
    config["learning_rate"] = float("nan")
    with pytest.raises(ValueError, match=rf"{rule.__name__}: learning_rate must be a finite number"):
        rule(next_w, dw, config)
    assert torch.equal(next_w, rule(w.clone(), dw, {"learning_rate": 0.1})[0])


def test_weight_decay_composition_keeps_its_key():
    adamw = decoupled_weight_decay(adam)
    _, config = adamw(torch.zeros(3), torch.ones(3), {"weight_decay": 0.5})
    assert config["weight_decay"] == 0.5 and config["t"] == 1
