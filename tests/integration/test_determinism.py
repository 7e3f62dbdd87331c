"""The same seed gives the same training, bit for bit, on CPU: in one process and across processes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from minifc.nn import Dropout, LinearReLU, Sequential
from minifc.training.trainer import Trainer

# Written to a file and run with sys.executable, and exec'd here for the in-process run.
SCRIPT = """
import sys

import torch

from minifc.models import FullyConnectedNet
from minifc.training.trainer import Trainer


def run(seed, sampling="shuffle", rule="sgd_momentum"):
    g = torch.Generator().manual_seed(5)
    X = torch.randn(50, 7, generator=g)
    y = torch.randint(4, (50,), generator=g)
    data = {"X_train": X[:40], "y_train": y[:40], "X_val": X[40:], "y_val": y[40:]}
    torch.manual_seed(seed)
    model = FullyConnectedNet([12, 9], input_dim=7, num_classes=4, dropout=0.3, weight_scale=0.1)
    trainer = Trainer(
        model, data, update_rule=rule, optim_config={"learning_rate": 0.05}, batch_size=8, num_epochs=3,
        device="cpu", seed=seed, sampling=sampling, num_train_samples=16, regularizers=["l2:reg=1e-3"],
        verbose=False,
    ).train()
    return {
        "loss_history": trainer.loss_history,
        "train_acc_history": trainer.train_acc_history,
        "val_acc_history": trainer.val_acc_history,
        "params": {k: v.clone() for k, v in trainer.model.params.items()},
    }


if __name__ == "__main__":
    torch.save(run(int(sys.argv[1])), sys.argv[2])
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("script") / "determinism_script.py"
    path.write_text(SCRIPT)
    namespace = {"__name__": "determinism_script", "path": path}
    exec(compile(SCRIPT, str(path), "exec"), namespace)
    return namespace


def same(a: dict, b: dict) -> bool:
    histories = all(a[k] == b[k] for k in ("loss_history", "train_acc_history", "val_acc_history"))
    return histories and all(torch.equal(a["params"][k], b["params"][k]) for k in a["params"])


@pytest.mark.parametrize("sampling", ["shuffle", "replacement"])
@pytest.mark.parametrize("rule", ["sgd_momentum", "adam"])
def test_same_seed_same_run_in_one_process(script, sampling, rule):
    first = script["run"](3, sampling, rule)
    torch.manual_seed(999)  # whatever the global RNG holds before, the seed decides
    torch.randn(10)
    second = script["run"](3, sampling, rule)
    assert same(first, second)


def test_another_seed_gives_another_run(script):
    assert not same(script["run"](3), script["run"](4))


@pytest.mark.subprocess
def test_same_seed_same_run_across_processes(script, tmp_path):
    out = tmp_path / "run.pt"
    proc = subprocess.run(
        [sys.executable, str(script["path"]), "3", str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    other = torch.load(out, weights_only=True)
    assert same(script["run"](3), other)


def test_trainer_seed_fixes_dropout_masks_of_a_bare_module():
    """Dropout without its own seed draws from torch's global RNG, which Trainer(seed=...) seeds."""

    def run(disturb: int) -> list[float]:
        torch.manual_seed(0)
        net = Sequential(LinearReLU(6, 10), Dropout(0.5), LinearReLU(10, 3))
        g = torch.Generator().manual_seed(0)
        X, y = torch.randn(20, 6, generator=g), torch.randint(3, (20,), generator=g)
        data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
        torch.randn(disturb)  # leave the global RNG in a different state each time
        return Trainer(net, data, batch_size=5, num_epochs=2, device="cpu", seed=11, verbose=False).train().loss_history

    assert run(1) == run(17)
