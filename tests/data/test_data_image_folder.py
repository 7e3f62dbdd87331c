"""minifc.data: the image-folder source (listing, order, labels, and what is and is not an image)."""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import pytest
import torch
from synthetic import (
    KEYS,
    block_torchvision,
    image_value,
    make_image_folder,
    raw_images,
    red_channel,
    write_image,
)

from minifc.data import CLASSES, DataError, load_cifar10

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")


def n_train_images(d: dict[str, torch.Tensor]) -> int:
    return d["X_train"].shape[0] + d["X_val"].shape[0]


def test_image_folder_shapes_values_labels_and_seeded_order(tmp_path: Path) -> None:
    make_image_folder(tmp_path / "data", n_train=20, n_test=2)
    d = load_cifar10(tmp_path / "data")
    assert [d[k].shape for k in KEYS] == [(160, 3072), (160,), (40, 3072), (40,), (20, 3072), (20,)]
    assert all(d[k].dtype == torch.float32 for k in KEYS[::2])
    assert all(d[k].dtype == torch.int64 for k in KEYS[1::2])

    # The documented order: listing order (class by class, by file name), permuted by randperm with seed 0.
    listing = [(c, i) for c in range(10) for i in range(20)]
    order = torch.randperm(200, generator=torch.Generator().manual_seed(0)).tolist()
    expected = torch.tensor([image_value(*listing[j], "train") for j in order], dtype=torch.float64)
    mean = expected.mean(0) / 255
    torch.testing.assert_close(raw_images(d, ("X_train", "X_val")), expected / 255 - mean, atol=1e-6, rtol=0)
    assert torch.cat([d["y_train"], d["y_val"]]).tolist() == [listing[j][0] for j in order]

    # The test images: their listing order permuted the same way, with their own generator seeded 0.
    test_listing = [(c, i) for c in range(10) for i in range(2)]
    test_order = torch.randperm(20, generator=torch.Generator().manual_seed(0)).tolist()
    test_expected = torch.tensor([image_value(*test_listing[j], "test") for j in test_order]).double()
    torch.testing.assert_close(raw_images(d, ("X_test",)), test_expected / 255 - mean, atol=1e-6, rtol=0)
    assert d["y_test"].tolist() == [test_listing[j][0] for j in test_order]
    # The training mean (over train and validation) is zero per channel.
    assert torch.cat([d["X_train"], d["X_val"]]).view(-1, 3, 1024).double().mean(dim=(0, 2)).abs().max() < 1e-6


def test_image_folder_test_split_is_shuffled_the_same_on_every_load(tmp_path: Path, clean_env: Path) -> None:
    make_image_folder(tmp_path / "data", n_train=2, n_test=10)
    torch.manual_seed(123)
    first = load_cifar10(tmp_path / "data")  # decodes and writes the cache (in the listing order)
    (cache,) = (clean_env / "decoded").glob("*.pt")
    assert torch.load(cache, weights_only=True)["y_test"].tolist() == [c for c in range(10) for _ in range(10)]
    torch.manual_seed(456)
    again = load_cifar10(tmp_path / "data")  # from the cache, another global RNG state
    assert torch.equal(first["y_test"], again["y_test"]) and torch.equal(first["X_test"], again["X_test"])
    # Not class by class: the first 20% of the test set covers several classes.
    head = first["y_test"][:20]
    assert len(set(head.tolist())) >= 5, head
    assert sorted(first["y_test"].tolist()) == [c for c in range(10) for _ in range(10)]
    # Labels still match their pixels (R = 25 * label).
    labels = torch.cat([first["y_train"], first["y_val"], first["y_test"]])
    assert (red_channel(first) / 25).round().long().tolist() == labels.tolist()


def test_image_folder_jpeg_and_class_balance(tmp_path: Path) -> None:
    make_image_folder(tmp_path / "data", n_train=30, n_test=1, ext=".jpg")
    d = load_cifar10(tmp_path / "data")
    assert d["X_val"].shape == (60, 3072)
    # Labels match the pixels (R = 25 * label), up to JPEG rounding.
    labels = torch.cat([d["y_train"], d["y_val"], d["y_test"]])
    assert (red_channel(d) / 25).round().long().tolist() == labels.tolist()
    # The seeded order spreads every class over train and validation.
    val_counts = torch.bincount(d["y_val"], minlength=10)
    assert val_counts.min() >= 1 and val_counts.max() <= 12, val_counts
    assert torch.bincount(d["y_train"], minlength=10).min() >= 18


def test_images_in_subfolders_are_listed_by_folder_then_name(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=1, n_test=1)
    cat = data / "train" / "cat"
    (cat / "b").mkdir()
    (cat / "a").mkdir()
    write_image(cat / "b" / "0.png", (75, 200, 60))
    write_image(cat / "a" / "1.png", (75, 100, 60))
    write_image(cat / "a" / "0.png", (75, 50, 60))
    (cat / "notes.txt").write_text("not an image")
    d = load_cifar10(data, validation_ratio=0.0)
    green = raw_images(d, ("X_train",))[:, 1]
    order = torch.randperm(13, generator=torch.Generator().manual_seed(0))
    listing = torch.empty(13, dtype=torch.float64)
    listing[order] = green  # undo the seeded order
    offset = listing[0]  # image 0 of class 0 has green 0
    cat_greens = ((listing[3:7] - offset) * 255).round().tolist()
    assert cat_greens == [0, 50, 100, 200]  # cat/0000.png, cat/a/0.png, cat/a/1.png, cat/b/0.png


# ------------------------------------------------------------------------------------------------------------------
# Links and special files


def test_symlink_loop_counts_each_folder_once(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=2, n_test=1)
    os.symlink(".", data / "train" / "cat" / "loop")
    with pytest.warns(UserWarning, match=r"skipping .*cat/loop, which is the folder .*cat again"):
        d = load_cifar10(data)
    assert n_train_images(d) == 20
    assert torch.bincount(torch.cat([d["y_train"], d["y_val"]]), minlength=10).tolist() == [2] * 10


def test_second_link_to_a_subfolder_counts_it_once(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=1, n_test=1)
    cat = data / "train" / "cat"
    (cat / "a").mkdir()
    write_image(cat / "a" / "0.png", (75, 50, 60))
    os.symlink("a", cat / "b")
    with pytest.warns(UserWarning, match="counted once"):
        d = load_cifar10(data)
    assert n_train_images(d) == 11


def test_a_class_folder_linked_to_another_class_is_refused(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=1, n_test=1)
    cat = data / "train" / "cat"
    for f in cat.iterdir():
        f.unlink()
    cat.rmdir()
    os.symlink("dog", cat)
    with pytest.raises(DataError, match=r"train/dog is the folder .*train/cat of another class"):
        load_cifar10(data)


def test_a_link_inside_a_class_to_another_class_is_refused(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=1, n_test=1)
    os.symlink("../dog", data / "train" / "cat" / "dogs")
    with pytest.raises(DataError, match=r"train/dog is the folder .*train/cat/dogs of another class"):
        load_cifar10(data)


def test_symlink_to_an_image_file_counts(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=2, n_test=1)
    write_image(tmp_path / "elsewhere.png", (75, 250, 60))
    os.symlink(tmp_path / "elsewhere.png", data / "train" / "cat" / "0002.png")
    os.symlink(tmp_path / "outside", data / "train" / "cat" / "dangling-not-an-image")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = load_cifar10(data)
    assert n_train_images(d) == 21
    assert torch.cat([d["y_train"], d["y_val"]]).tolist().count(CLASSES.index("cat")) == 3


def test_broken_symlink_named_like_an_image_is_refused(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=1, n_test=1)
    bad = data / "test" / "dog" / "0001.png"
    os.symlink(tmp_path / "gone.png", bad)
    with pytest.raises(DataError, match="broken symbolic link") as info:
        load_cifar10(data)
    assert str(bad) in str(info.value)


@needs_fifo
def test_named_pipe_named_like_an_image_is_refused_not_read(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=1, n_test=1)
    fifo = data / "train" / "cat" / "x.jpg"
    os.mkfifo(fifo)
    # Reading the pipe would block for ever; should the loader open it, a writer opens and closes it after a
    # few seconds, so that the read ends and this test fails instead of hanging.
    done = threading.Event()

    def unblock() -> None:
        while not done.wait(0.1):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # succeeds only while a reader waits
            except OSError:
                continue
            return

    watchdog = threading.Timer(3.0, unblock)
    watchdog.daemon = True
    watchdog.start()
    try:
        with pytest.raises(DataError, match="is a named pipe") as info:
            load_cifar10(data)
    finally:
        done.set()
        watchdog.cancel()
    assert str(fifo) in str(info.value) and "not an image file" in str(info.value)


# ------------------------------------------------------------------------------------------------------------------
# Malformed folders and images


def test_malformed_image_folder_layouts(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=1, n_test=1)
    (data / "test").rename(tmp_path / "test_aside")
    with pytest.raises(DataError, match="has train/ but no test/") as info:
        load_cifar10(data)
    assert "load_cifar10(root=...)" in str(info.value)  # and how to provide the data
    (tmp_path / "test_aside").rename(data / "test")

    (data / "train" / "truck").rename(tmp_path / "truck_aside")
    with pytest.raises(DataError, match=r"10 in all.*found 9"):
        load_cifar10(data)
    (data / "train" / "truck").mkdir()
    with pytest.raises(DataError, match="truck holds no images"):
        load_cifar10(data)
    (data / "train" / "truck").rmdir()
    (tmp_path / "truck_aside").rename(data / "train" / "lorry")
    with pytest.raises(DataError, match="different class folders"):
        load_cifar10(data)


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"\xff\xd8\xff\xe0 this is not really a jpeg", "cannot decode image"), (b"", "is empty")],
)
def test_corrupt_image_names_the_file(tmp_path: Path, content: bytes, match: str) -> None:
    data = make_image_folder(tmp_path / "data", n_train=2, n_test=1, ext=".jpg")
    bad = data / "train" / "dog" / "0001.jpg"
    bad.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        load_cifar10(data)
    assert str(bad) in str(info.value)


def test_wrong_image_size(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=2, n_test=1)
    (data / "test" / "cat" / "0000.png").unlink()
    write_image(data / "test" / "cat" / "0000.png", (0, 0, 0), size=16)
    with pytest.raises(DataError, match=r"cat/0000.png is \(3, 16, 16\).*32x32"):
        load_cifar10(data)


def test_missing_torchvision_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for split in ("train", "test"):
        for name in CLASSES:
            (data / split / name).mkdir(parents=True)
            (data / split / name / "0000.jpg").write_bytes(b"\xff\xd8")
    block_torchvision(monkeypatch)
    with pytest.raises(DataError, match=r"needs torchvision.*pip install 'minifc\[vision\]'"):
        load_cifar10(data)
