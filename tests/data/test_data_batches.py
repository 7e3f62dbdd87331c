"""minifc.data: the cifar-10-batches-py source."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from synthetic import KEYS, batch_image, block_torchvision, make_batches, numpy_or_skip, raw_images

from minifc.data import DataError, load_cifar10


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_batches_source_order_values_and_labels(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, protocol: int) -> None:
    make_batches(tmp_path, per_batch=8, n_test=6, protocol=protocol)
    block_torchvision(monkeypatch)  # this source needs no torchvision
    d = load_cifar10(tmp_path)
    assert list(d) == list(KEYS)
    assert [d[k].shape for k in KEYS] == [(32, 3072), (32,), (8, 3072), (8,), (6, 3072), (6,)]
    assert all(d[k].dtype == torch.float32 for k in KEYS[::2])
    assert all(d[k].dtype == torch.int64 for k in KEYS[1::2])

    # Batches in stored order, no shuffle: image g is row g of train+val, then the test batch.
    raw = torch.tensor([batch_image(g, g % 10)[::1024] for g in range(46)], dtype=torch.float64)
    mean = raw[:40].mean(0) / 255
    x = raw_images(d, ("X_train", "X_val", "X_test"))
    torch.testing.assert_close(x, raw / 255 - mean, atol=1e-6, rtol=0)
    y = torch.cat([d["y_train"], d["y_val"], d["y_test"]])
    assert y.tolist() == [g % 10 for g in range(46)]


def test_batches_root_may_be_the_batches_folder_itself(tmp_path: Path) -> None:
    folder = make_batches(tmp_path)
    assert torch.equal(load_cifar10(folder)["X_test"], load_cifar10(tmp_path)["X_test"])


def test_batches_refuse_pickled_code(tmp_path: Path) -> None:
    folder = make_batches(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(DataError, match="data_batch_2.*refusing to load"):
        load_cifar10(tmp_path)
    assert not marker.exists()


def test_batches_missing_or_malformed(tmp_path: Path) -> None:
    np = numpy_or_skip()
    folder = make_batches(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3 is missing"):
        load_cifar10(tmp_path)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, f)
    with pytest.raises(DataError, match=r"data_batch_3.*\(n, 3072\)"):
        load_cifar10(tmp_path)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 10]}, f)
    with pytest.raises(DataError, match=r"data_batch_3: labels must be in \[0, 10\), got \[0, 10\]"):
        load_cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="cannot read CIFAR-10 batch .*data_batch_3"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize(
    ("data", "labels", "pattern"),
    [
        (lambda np: np.full((4, 3072), 0.5), [0] * 4, r"pixel values must be integers, got fractions"),
        (lambda np: np.full((4, 3072), -3, np.int64), [0] * 4, r"pixel values must be in \[0, 255\].*\[-3"),
        (lambda np: np.full((4, 3072), 300, np.int16), [0] * 4, r"pixel values must be in \[0, 255\].*300\]"),
        (lambda np: np.full((4, 3072), np.nan), [0] * 4, "pixel values include NaN or Inf"),
        (lambda np: np.zeros((4, 3072), bool), [0] * 4, "pixel values must be integers, got bool"),
        (lambda np: np.zeros((4, 3072), np.uint8), [0.5, 1, 2, 3], "labels must be integers, got fractions"),
        (lambda np: np.zeros((4, 3072), np.uint8), [0, 1, 2, float("nan")], "labels include NaN"),
        (lambda np: np.zeros((4, 3072), np.uint8), [0, 1, 2, -1], r"labels must be in \[0, 10\), got \[-1, 2\]"),
    ],
    ids=["float-pixels", "negative-pixels", "pixels-over-255", "nan-pixels", "bool-pixels", "float-labels",
         "nan-labels", "negative-labels"],
)
def test_batches_with_values_a_cast_would_change_are_refused(tmp_path: Path, data, labels, pattern) -> None:
    np = numpy_or_skip()
    folder = make_batches(tmp_path)
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({b"data": data(np), b"labels": labels}, f)
    with pytest.raises(DataError, match=rf"malformed CIFAR-10 batch .*data_batch_2: {pattern}"):
        load_cifar10(tmp_path)


def test_batches_of_whole_numbers_in_another_dtype_load(tmp_path: Path) -> None:
    np = numpy_or_skip()
    folder = make_batches(tmp_path)
    with open(folder / "data_batch_2", "rb") as f:
        batch = pickle.load(f)
    expected = load_cifar10(tmp_path)["X_train"]
    with open(folder / "data_batch_2", "wb") as f:
        labels = np.asarray(batch[b"labels"], np.float32)
        pickle.dump({b"data": batch[b"data"].astype(np.float64), b"labels": labels}, f)
    assert torch.equal(load_cifar10(tmp_path)["X_train"], expected)
