"""minifc.data on the real CIFAR-10 (the offline image-folder copy, or $MINIFC_DATA)."""

from __future__ import annotations

import os

import pytest
import torch
from cifar import cifar_root
from synthetic import KEYS

from minifc.data import cache_dir, load_cifar10

# The user's settings, read before the autouse fixture hides them from each test. The user's cache is used, since
# decoding the real folder takes about 25 s and a decode may be there already.
USER_DATA = os.environ.get("MINIFC_DATA")
USER_CACHE = os.environ.get("MINIFC_CACHE")


@pytest.mark.cifar
def test_real_cifar10(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    if USER_DATA:
        monkeypatch.setenv("MINIFC_DATA", USER_DATA)
    root = cifar_root()
    monkeypatch.setenv("MINIFC_CACHE", USER_CACHE or str(tmp_path_factory.mktemp("real_cache")))
    d = load_cifar10(root)
    assert [tuple(d[k].shape) for k in KEYS] == [
        (40000, 3072),
        (40000,),
        (10000, 3072),
        (10000,),
        (10000, 3072),
        (10000,),
    ]
    val_counts = torch.bincount(d["y_val"], minlength=10)
    assert ((val_counts - 1000).abs() <= 100).all(), val_counts
    assert torch.bincount(d["y_test"], minlength=10).tolist() == [1000] * 10
    channel_sums = sum(d[k].view(-1, 3, 1024).sum(dim=(0, 2), dtype=torch.float64) for k in ("X_train", "X_val"))
    assert (channel_sums / (50000 * 1024)).abs().max() < 1e-5
    if (root / "train").is_dir():
        assert list((cache_dir() / "decoded").glob(f"imagefolder-{root.resolve().name}-*.pt"))
