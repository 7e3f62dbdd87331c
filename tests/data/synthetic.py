"""Synthetic CIFAR-10 datasets for the minifc.data tests, in both layouts.

Each image encodes its identity in its pixels, so a test can tell which source image ended up where: every channel
of an image is one constant value.
"""

from __future__ import annotations

import pickle
import sys
import warnings
from pathlib import Path

import pytest
import torch

from minifc.data import CLASSES

KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


def torchvision_or_skip():
    return pytest.importorskip("torchvision", reason="the image-folder source needs torchvision (minifc[vision])")


def numpy_or_skip():
    return pytest.importorskip("numpy", reason="reading cifar-10-batches-py needs numpy")


def block_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``import torchvision...`` fail, as in an environment without it."""
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")] + ["torchvision"]:
        monkeypatch.setitem(sys.modules, name, None)


def image_value(label: int, index: int, split: str) -> tuple[int, int, int]:
    """The (R, G, B) of synthetic image ``index`` of class ``label``: R=25*label, G=5*index, B by split."""
    return 25 * label, 5 * index, 60 if split == "train" else 180


def write_image(path: Path, rgb: tuple[int, int, int], size: int = 32) -> None:
    """A constant-colour ``size`` x ``size`` image, PNG or JPEG by the extension of ``path``."""
    tv = torchvision_or_skip()
    img = torch.tensor(rgb, dtype=torch.uint8).view(3, 1, 1).expand(3, size, size).contiguous()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 deprecates its image codecs
        if path.suffix == ".png":
            tv.io.write_png(img, str(path))
        else:
            tv.io.write_jpeg(img, str(path), quality=95)


def make_image_folder(
    root: Path, n_train: int = 20, n_test: int = 2, ext: str = ".png", classes: tuple[str, ...] = CLASSES
) -> Path:
    """``root/train/<class>/NNNN<ext>`` and ``root/test/<class>/NNNN<ext>``: constant-colour 32x32 images."""
    torchvision_or_skip()
    for split, n in (("train", n_train), ("test", n_test)):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                write_image(folder / f"{i:04d}{ext}", image_value(label, i, split))
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
    """Size and modification time of everything under ``folder``, and of ``folder`` itself."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))} | {
        ".": (0, folder.stat().st_mtime_ns)
    }
