"""minifc.data.keep_loaded: one read per root folder inside the block, copies handed out, nothing kept after it."""

from __future__ import annotations

import shutil

import pytest
import torch
from fake_cifar import write_tiny_cifar

from minifc.data import DataNotFoundError, keep_loaded, load_cifar10


def test_inside_the_block_a_folder_is_read_once_and_later_loads_match_the_first(tmp_path):
    root = write_tiny_cifar(tmp_path / "data")
    with keep_loaded():
        first = load_cifar10(root)
        shutil.rmtree(root)  # the files are gone: a second read from disk would fail
        again = load_cifar10(root, dtype=torch.float64)
    assert set(again) == set(first)
    for key, tensor in first.items():
        assert torch.allclose(again[key].to(tensor.dtype), tensor, atol=1e-6), key
    assert again["X_train"].dtype == torch.float64
    with pytest.raises(DataNotFoundError):  # the block is over: nothing kept, the folder is read again
        load_cifar10(root)


def test_loads_get_copies_that_a_run_may_change_in_place(tmp_path):
    root = write_tiny_cifar(tmp_path / "data")
    with keep_loaded():
        first = load_cifar10(root)
        first["y_train"].zero_()
        first["X_train"].zero_()
        again = load_cifar10(root)
    assert again["y_train"].any() and again["X_train"].abs().sum() > 0


def test_nested_blocks_share_the_outer_one_and_other_folders_are_read_on_their_own(tmp_path):
    a = write_tiny_cifar(tmp_path / "a", seed=1)
    b = write_tiny_cifar(tmp_path / "b", seed=2)
    with keep_loaded():
        load_cifar10(a)
        with keep_loaded():
            got_b = load_cifar10(b)
        shutil.rmtree(a)
        shutil.rmtree(b)
        assert torch.equal(load_cifar10(b)["y_train"], got_b["y_train"])
        assert not torch.equal(load_cifar10(a)["y_train"], got_b["y_train"])
