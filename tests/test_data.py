"""minifc.data: CIFAR-10 from a cifar-10-batches-py folder or an image folder, preprocessed the classic way.

The synthetic datasets encode each image's identity in its pixels, so a test can tell which source image ended up
where: every channel of an image is one constant value.
"""

from __future__ import annotations

import ast
import os
import pickle
import sys
import warnings
from pathlib import Path

import pytest
import torch

import minifc.data as data_mod
from minifc.data import CLASSES, DataError, cache_dir, default_root, load_cifar10
from minifc.errors import MinifcError

SHARED_CIFAR10 = Path(__file__).resolve().parents[2] / "shared/data/cifar10"
KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")
REAL_DOWNLOAD = data_mod._download


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A private cache, no MINIFC_DATA, and no test ever reaches the network."""
    monkeypatch.delenv("MINIFC_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("MINIFC_CACHE", str(tmp_path / "cache"))

    def no_network(root: Path) -> None:
        raise OSError("network disabled in tests")

    monkeypatch.setattr(data_mod, "_download", no_network)
    return tmp_path / "cache"


def torchvision_or_skip():
    return pytest.importorskip("torchvision", reason="the image-folder source needs torchvision (minifc[vision])")


def block_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``import torchvision...`` fail, as in an environment without it."""
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")] + ["torchvision"]:
        monkeypatch.setitem(sys.modules, name, None)


def numpy_or_skip():
    return pytest.importorskip("numpy", reason="reading cifar-10-batches-py needs numpy")


# ------------------------------------------------------------------------------------------------------------------
# Synthetic datasets


def image_value(label: int, index: int, split: str) -> tuple[int, int, int]:
    """The (R, G, B) of synthetic image ``index`` of class ``label``: R=25*label, G=5*index, B by split."""
    return 25 * label, 5 * index, 60 if split == "train" else 180


def make_image_folder(
    root: Path, n_train: int = 20, n_test: int = 2, ext: str = ".png", classes: tuple[str, ...] = CLASSES
) -> Path:
    """``root/train/<class>/NNNN<ext>`` and ``root/test/<class>/NNNN<ext>``: constant-colour 32x32 images."""
    tv = torchvision_or_skip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 deprecates its image codecs
        for split, n in (("train", n_train), ("test", n_test)):
            for label, name in enumerate(classes):
                folder = root / split / name
                folder.mkdir(parents=True)
                for i in range(n):
                    img = torch.tensor(image_value(label, i, split), dtype=torch.uint8).view(3, 1, 1).expand(3, 32, 32)
                    if ext == ".png":
                        tv.io.write_png(img.contiguous(), str(folder / f"{i:04d}.png"))
                    else:
                        tv.io.write_jpeg(img.contiguous(), str(folder / f"{i:04d}.jpg"), quality=95)
    return root


def batch_image(g: int, label: int) -> list[int]:
    """Row of 3072 values of image number ``g`` (over all batches, then the test batch): R=g%256, G=g//256."""
    return [g % 256] * 1024 + [g // 256] * 1024 + [20 * label] * 1024


def make_batches(root: Path, per_batch: int = 8, n_test: int = 6, protocol: int = 4) -> Path:
    """A fake ``root/cifar-10-batches-py`` in the real format (dicts with b"data" uint8 (n, 3072), b"labels")."""
    np = numpy_or_skip()
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    g = 0
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        labels = [(g + k) % 10 for k in range(n)]
        rows = [batch_image(g + k, labels[k]) for k in range(n)]
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": np.array(rows, dtype=np.uint8),
            b"filenames": [f"img_{g + k}.png".encode() for k in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=protocol)
        g += n
    return folder


def raw_images(d: dict[str, torch.Tensor], keys: tuple[str, ...]) -> torch.Tensor:
    """Undo the preprocessing: ``(N, 3)`` per-channel pixel values (0..255) of the images in ``d[keys...]``, which
    must be constant per channel. The subtracted mean is recovered from the constant offset between channels."""
    x = torch.cat([d[k] for k in keys]).double().view(-1, 3, 1024)
    assert torch.allclose(x, x[:, :, :1].expand_as(x), atol=1e-6), "each channel of a synthetic image is constant"
    return x[:, :, 0]


def red_channel(d: dict[str, torch.Tensor]) -> torch.Tensor:
    """Red value (0..255) of each near-constant (JPEG) synthetic image of train, val and test, in that order."""
    red = torch.cat([d["X_train"], d["X_val"], d["X_test"]]).double().view(-1, 3, 1024)[:, 0].mean(1)
    # The subtracted mean is not returned; red is 0 in class 0 images, which pins it down.
    offset = red[: -d["X_test"].shape[0]][torch.cat([d["y_train"], d["y_val"]]) == 0].mean()
    return (red - offset) * 255


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))} | {
        ".": (0, folder.stat().st_mtime_ns)
    }


# ------------------------------------------------------------------------------------------------------------------
# Paths and environment


def test_cache_dir_and_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_dir() == tmp_path / "cache"
    assert default_root() == tmp_path / "cache" / "cifar10"
    monkeypatch.delenv("MINIFC_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "minifc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "minifc"
    assert default_root() == tmp_path / "home" / ".cache" / "minifc" / "cifar10"


def test_root_precedence_argument_then_env_then_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    make_batches(tmp_path / "arg", per_batch=2)
    make_batches(tmp_path / "env", per_batch=3)
    make_batches(default_root(), per_batch=4)
    monkeypatch.setenv("MINIFC_DATA", str(tmp_path / "env"))

    def n(d: dict[str, torch.Tensor]) -> int:
        return d["X_train"].shape[0] + d["X_val"].shape[0]

    assert n(load_cifar10(tmp_path / "arg")) == 10
    assert n(load_cifar10()) == 15
    monkeypatch.setenv("MINIFC_DATA", "")  # empty counts as unset
    assert n(load_cifar10()) == 20


def test_module_does_not_import_torchvision_at_top_level() -> None:
    tree = ast.parse(Path(data_mod.__file__).read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "torchvision" for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] != "torchvision"


# ------------------------------------------------------------------------------------------------------------------
# cifar-10-batches-py


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
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="cannot read CIFAR-10 batch"):
        load_cifar10(tmp_path)


# ------------------------------------------------------------------------------------------------------------------
# Preprocessing and split (on the fast batches source)


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


# ------------------------------------------------------------------------------------------------------------------
# Image folder


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

    test_expected = torch.tensor([image_value(c, i, "test") for c in range(10) for i in range(2)]).double()
    torch.testing.assert_close(raw_images(d, ("X_test",)), test_expected / 255 - mean, atol=1e-6, rtol=0)
    assert d["y_test"].tolist() == [c for c in range(10) for _ in range(2)]
    # The training mean (over train and validation) is zero per channel.
    assert torch.cat([d["X_train"], d["X_val"]]).view(-1, 3, 1024).double().mean(dim=(0, 2)).abs().max() < 1e-6


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


def test_image_folder_is_deterministic_and_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=6, n_test=2)
    first = load_cifar10(data)
    cached = list((cache_dir() / "decoded").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("imagefolder-data-") and cached[0].suffix == ".pt"
    blob = torch.load(cached[0], weights_only=True)
    assert blob["x_train"].shape == (60, 3, 32, 32) and blob["x_train"].dtype == torch.uint8
    assert blob["y_test"].dtype == torch.int64

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache is valid")

    monkeypatch.setattr(data_mod, "_decode_all", no_decoding)
    second = load_cifar10(data)
    for k in KEYS:
        assert torch.equal(first[k], second[k]), k


def test_cache_is_refreshed_when_the_folder_changes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=4, n_test=1)
    load_cifar10(data)
    (data / "test" / "cat" / "0000.png").rename(data / "test" / "cat" / "0001.png")
    make_image_folder(tmp_path / "more", n_train=1, n_test=1)
    (tmp_path / "more" / "test" / "cat" / "0000.png").rename(data / "test" / "cat" / "0000.png")
    calls = []
    real = data_mod._decode_all
    monkeypatch.setattr(data_mod, "_decode_all", lambda files, split: calls.append(split) or real(files, split))
    d = load_cifar10(data)
    assert calls == ["train", "test"]
    assert d["X_test"].shape == (11, 3072)


def test_corrupt_cache_file_is_only_a_miss(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=4, n_test=1)
    first = load_cifar10(data)
    (cache_file,) = (cache_dir() / "decoded").iterdir()
    cache_file.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable cache"):
        second = load_cifar10(data)
    assert torch.equal(first["X_train"], second["X_train"])
    assert torch.load(cache_file, weights_only=True)["x_train"].shape == (40, 3, 32, 32)


def test_nothing_is_written_into_the_data_folder(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=4, n_test=1)
    before = snapshot(data)
    dirs = [data, *(p for p in data.rglob("*") if p.is_dir())]
    for p in dirs:
        p.chmod(0o555)
    try:
        load_cifar10(data)
        load_cifar10(data)
    finally:
        for p in dirs:
            p.chmod(0o755)
    assert snapshot(data) == before  # checked by listing too: chmod does not stop root
    assert [p.suffix for p in (cache_dir() / "decoded").iterdir()] == [".pt"]  # and no temporary file left


def test_cache_inside_the_data_folder_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=2, n_test=1)
    monkeypatch.setenv("MINIFC_CACHE", str(data / "cache"))
    with pytest.warns(UserWarning, match="inside the data folder"):
        load_cifar10(data)
    assert not (data / "cache").exists()


# ------------------------------------------------------------------------------------------------------------------
# Errors


def test_missing_root_lists_where_it_looked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        load_cifar10(missing)
    assert isinstance(info.value, MinifcError) and isinstance(info.value, FileNotFoundError)
    msg = str(info.value)
    assert f"{missing}: does not exist" in msg and "root= argument" in msg
    assert "MINIFC_DATA" in msg and "cifar-10-batches-py" in msg and "train/ and test/" in msg and "download" in msg

    monkeypatch.setenv("MINIFC_DATA", str(missing))
    with pytest.raises(DataError, match="from the environment variable MINIFC_DATA"):
        load_cifar10()


def test_empty_folder_lists_every_layout_tried(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path)
    msg = str(info.value)
    assert f"{tmp_path / 'cifar-10-batches-py'}: not found" in msg
    assert f"{tmp_path / 'train'} and {tmp_path / 'test'}: not found" in msg
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(DataError, match="cifar-10-batches-py: holds neither data_batch_1 nor test_batch"):
        load_cifar10(tmp_path)


def test_unwritable_cache_is_only_a_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=2, n_test=1)
    (tmp_path / "cache_is_a_file").write_text("")
    monkeypatch.setenv("MINIFC_CACHE", str(tmp_path / "cache_is_a_file"))
    with pytest.warns(UserWarning, match="could not write the decoded-image cache"):
        d = load_cifar10(data)
    assert d["X_test"].shape == (10, 3072)


def test_default_root_tries_download_and_reports_its_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError) as info:
        load_cifar10()
    msg = str(info.value)
    assert str(default_root()) in msg and "default root" in msg
    assert "downloading with torchvision" in msg and "network disabled in tests" in msg
    assert "MINIFC_DATA" in msg


def test_download_into_the_default_root(monkeypatch: pytest.MonkeyPatch) -> None:
    numpy_or_skip()
    calls = []
    monkeypatch.setattr(data_mod, "_download", lambda root: calls.append(root) or make_batches(root))
    assert load_cifar10()["X_test"].shape == (6, 3072)
    assert calls == [default_root()]
    load_cifar10()
    assert len(calls) == 1  # found there the second time


def test_no_download_for_an_explicit_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(data_mod, "_download", lambda root: pytest.fail("download attempted"))
    with pytest.raises(DataError):
        load_cifar10(tmp_path / "nowhere")
    monkeypatch.setenv("MINIFC_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError):
        load_cifar10()


def test_real_download_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real _download, without torchvision, fails with the install hint, which the error passes on.
    monkeypatch.setattr(data_mod, "_download", REAL_DOWNLOAD)
    block_torchvision(monkeypatch)
    with pytest.raises(DataError, match=r"downloading CIFAR-10 needs torchvision.*pip install 'minifc\[vision\]'"):
        load_cifar10()


def test_malformed_image_folder_layouts(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=1, n_test=1)
    (data / "test").rename(tmp_path / "test_aside")
    with pytest.raises(DataError, match="has train/ but no test/"):
        load_cifar10(data)
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
    tv = torchvision_or_skip()
    data = make_image_folder(tmp_path / "data", n_train=2, n_test=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tv.io.write_png(torch.zeros(3, 16, 16, dtype=torch.uint8), str(data / "test" / "cat" / "0000.png"))
    with pytest.raises(DataError, match=r"cat/0000.png is \(3, 16, 16\).*32x32"):
        load_cifar10(data)


def test_missing_torchvision_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for split in ("train", "test"):
        for name in CLASSES:
            (tmp_path / split / name).mkdir(parents=True)
            (tmp_path / split / name / "0000.jpg").write_bytes(b"\xff\xd8")
    block_torchvision(monkeypatch)
    with pytest.raises(DataError, match=r"needs torchvision.*pip install 'minifc\[vision\]'"):
        load_cifar10(tmp_path)


# ------------------------------------------------------------------------------------------------------------------
# The real data


@pytest.mark.skipif(not SHARED_CIFAR10.is_dir(), reason=f"no offline copy of CIFAR-10 at {SHARED_CIFAR10}")
def test_real_shared_cifar10(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    torchvision_or_skip()
    monkeypatch.setenv("MINIFC_CACHE", str(tmp_path_factory.mktemp("real_cache")))
    d = load_cifar10(SHARED_CIFAR10)
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
    assert list((cache_dir() / "decoded").glob("imagefolder-cifar10-*.pt"))
