"""minifc.device.resolve_device: 'auto', and devices refused with a clear message when this machine
lacks them (mps, a CUDA index beyond the devices) or when nothing can run on them (meta)."""

from __future__ import annotations

import pytest
import torch

from minifc.device import mps_available, resolve_device


def test_auto_and_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_device(None) == resolve_device("auto")


def test_the_trainer_module_still_exports_it() -> None:
    from minifc.training.trainer import resolve_device as old

    assert old is resolve_device


@pytest.mark.parametrize(
    ("name", "needle"),
    [("meta", "holds tensor shapes but no values"), ("gpu", "not a torch device"), ("cuda:99", "CUDA")],
)
def test_refused_devices(name, needle) -> None:
    if name == "cuda:99" and torch.cuda.device_count() > 99:
        pytest.skip("a machine with 100 GPUs")
    with pytest.raises(ValueError, match=needle) as info:
        resolve_device(name)
    assert str(info.value).startswith("device: ") and repr(name) in str(info.value)


def test_mps_is_refused_where_it_is_not_available() -> None:
    if mps_available():
        assert resolve_device("mps") == torch.device("mps")
    else:
        with pytest.raises(ValueError, match="mps backend"):
            resolve_device("mps")


def test_the_trainer_refuses_meta_before_moving_anything() -> None:
    from minifc import FullyConnectedNet, Trainer

    X, y = torch.randn(8, 5), torch.arange(8) % 3
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    model = FullyConnectedNet([4], input_dim=5, num_classes=3)
    with pytest.raises(ValueError, match="'meta'"):
        Trainer(model, data, device="meta")
    assert next(iter(model.params.values())).device.type == "cpu"
