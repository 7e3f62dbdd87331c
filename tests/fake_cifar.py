"""A tiny CIFAR-10 in the real ``cifar-10-batches-py`` format, for command-line tests that must not
depend on the real data set (and must run in a fraction of a second)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch


def write_tiny_cifar(root: Path, per_batch: int = 40, n_test: int = 20, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py`` with 5 x ``per_batch`` training and ``n_test`` test images whose
    classes differ in brightness (so a small net learns something). Returns ``root``."""
    np = pytest.importorskip("numpy", reason="reading cifar-10-batches-py needs numpy")
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        labels = torch.randint(10, (n,), generator=g)
        noise = torch.randint(0, 60, (n, 3072), generator=g)
        pixels = (labels[:, None] * 20 + noise).clamp(0, 255).to(torch.uint8)
        batch = {b"labels": labels.tolist(), b"data": np.asarray(pixels.numpy(), dtype=np.uint8)}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=4)
    return root


@pytest.fixture(scope="session")
def tiny_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide tiny CIFAR-10 folder (160 training, 40 validation, 20 test images)."""
    return write_tiny_cifar(tmp_path_factory.mktemp("tiny-cifar"))
