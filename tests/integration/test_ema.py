"""minifc.training.ema.EMA: the average it keeps, the weights evaluation sees, and what train() returns."""

from __future__ import annotations

import pytest
import torch
from small_runs import IPE, C, D, make_data, make_model, make_trainer

from minifc.builder import build_net
from minifc.models import Classifier
from minifc.registry.core import default_registry
from minifc.training.ema import EMA


class Recorder:
    """After every step, the weights (float64 copies) the average should follow."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_step_end(self, trainer) -> None:
        self.steps.append({k: v.detach().clone() for k, v in trainer.model.params.items()})


class SeenAtEvaluation:
    """The weights the model holds while the Trainer evaluates."""

    def __init__(self) -> None:
        self.during: list[dict[str, torch.Tensor]] = []

    def on_evaluate_begin(self, trainer) -> None:
        self.during.append({k: v.clone() for k, v in trainer.model.params.items()})


@pytest.mark.parametrize("every", [1, 3])
def test_the_average_follows_the_formula(every):
    model = make_model()
    model.params = {k: v.double() for k, v in model.params.items()}
    start = {k: v.clone() for k, v in model.params.items()}
    recorder, ema = Recorder(), EMA(0.9, every=every)
    make_trainer(model, update_rule="sgd_momentum", callbacks=[recorder, ema], num_epochs=3).train()
    expected, n = start, 0
    for step, weights in enumerate(recorder.steps, start=1):
        if step % every:
            continue
        d = min(0.9, (1 + n * every) / (10 + n * every)) ** every
        expected = {k: d * expected[k] + (1 - d) * weights[k] for k in expected}
        n += 1
    assert ema.updates == n == 3 * IPE // every
    for k, avg in ema.average.items():
        assert avg.dtype == torch.float64
        torch.testing.assert_close(avg, expected[k.removeprefix("param:")], rtol=1e-12, atol=1e-12)


def test_evaluation_sees_the_average_and_training_goes_on_from_the_raw_weights():
    seen, ema = SeenAtEvaluation(), EMA(0.5, warmup=False)
    recorder = Recorder()
    trainer = make_trainer(callbacks=[recorder, ema, seen], num_epochs=2)
    trainer.train(return_best_params=False)
    assert len(seen.during) == 2
    # the EMA callback runs before `seen`, so `seen` finds the averages in the model ...
    last_average = {k.removeprefix("param:"): v for k, v in ema.average.items()}
    for k, v in seen.during[-1].items():
        torch.testing.assert_close(v, last_average[k], rtol=0, atol=0)
        assert not torch.equal(v, recorder.steps[-1][k])
    # ... and the raw weights are back, bit for bit, once the evaluation ends
    for k, v in trainer.model.params.items():
        assert torch.equal(v, recorder.steps[-1][k])


def test_the_best_parameters_returned_are_averaged():
    ema = EMA(0.8)
    trainer = make_trainer(callbacks=[ema], num_epochs=1)
    trainer.train()
    assert len(trainer.val_acc_history) == 1  # one evaluation: its snapshot is the best
    for k, v in trainer.model.params.items():
        torch.testing.assert_close(v, ema.average[f"param:{k}"], rtol=0, atol=0)


def test_decay_zero_measures_the_raw_weights():
    plain = make_trainer(num_epochs=2)
    plain.train()
    averaged = make_trainer(callbacks=[EMA(0.0, warmup=False)], num_epochs=2)
    averaged.train()
    assert averaged.val_acc_history == plain.val_acc_history
    for k, v in averaged.model.params.items():
        torch.testing.assert_close(v, plain.model.params[k], rtol=0, atol=0)


def test_batchnorm_running_statistics_are_averaged_and_restored():
    if "batchnorm1d" not in default_registry().names("layer"):
        pytest.skip("needs the batchnorm1d layer (the minifc-norm plugin package)")
    torch.manual_seed(0)
    net = build_net([{"name": "linear", "out_features": 8}, "batchnorm1d", "relu"], D, C)
    model = Classifier(net, "softmax")
    ema = EMA(0.5, warmup=False)
    trainer = make_trainer(model, make_data(), callbacks=[ema], num_epochs=2)
    trainer.train(return_best_params=False)
    buffers = dict(net.named_buffers())
    averaged = [k for k in ema.average if k.startswith("buffer:")]
    assert averaged
    for k in averaged:
        name = k.removeprefix("buffer:")
        assert not torch.equal(ema.average[k], buffers[name])  # the raw statistics are back


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"decay": 1.0}, "below 1"), ({"decay": -0.1}, "EMA decay"), ({"every": 0}, "EMA every")],
)
def test_bad_settings_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EMA(**kwargs)


def test_copy_to_before_training_says_why():
    with pytest.raises(RuntimeError, match="no average yet"):
        EMA().copy_to(make_model())
