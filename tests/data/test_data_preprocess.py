"""minifc.data: scaling, mean subtraction, the validation split, dtype and device (on the fast batches source)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from synthetic import KEYS, make_batches

from minifc.data import load_cifar10


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.2, 0.5, 0.7])
def test_validation_ratio_takes_the_last_images(tmp_path: Path, ratio: float) -> None:
    make_batches(tmp_path, per_batch=20)
    d = load_cifar10(tmp_path, validation_ratio=ratio)
    n_val = int(100 * ratio)
    assert d["X_val"].shape == (n_val, 3072) and d["y_val"].shape == (n_val,)
    assert d["X_train"].shape == (100 - n_val, 3072)
    assert d["y_val"].tolist() == [g % 10 for g in range(100 - n_val, 100)]
    # The mean is over all 100 training images whatever the split.
    x = torch.cat([d["X_train"], d["X_val"]]).view(100, 3, 1024).double()
    assert x.mean(dim=(0, 2)).abs().max() < 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype(tmp_path: Path, dtype: torch.dtype) -> None:
    make_batches(tmp_path)
    d = load_cifar10(tmp_path, dtype=dtype)
    assert all(d[k].dtype == dtype for k in KEYS[::2])
    assert all(d[k].dtype == torch.int64 for k in KEYS[1::2])
    ref = load_cifar10(tmp_path, dtype=torch.float64)
    tol = 1e-2 if dtype == torch.bfloat16 else 1e-6
    torch.testing.assert_close(d["X_train"].double(), ref["X_train"], atol=tol, rtol=0)


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)],
)
def test_device(tmp_path: Path, device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    make_batches(tmp_path)
    d = load_cifar10(tmp_path, device=device)
    assert all(d[k].device.type == device for k in KEYS)
    torch.testing.assert_close(d["X_val"].cpu(), load_cifar10(tmp_path)["X_val"])


def test_bad_arguments(tmp_path: Path) -> None:
    make_batches(tmp_path)
    with pytest.raises(ValueError, match="validation_ratio"):
        load_cifar10(tmp_path, validation_ratio=1.0)
    with pytest.raises(ValueError, match="validation_ratio"):
        load_cifar10(tmp_path, validation_ratio=-0.1)
    with pytest.raises(ValueError, match="floating point"):
        load_cifar10(tmp_path, dtype=torch.int64)
