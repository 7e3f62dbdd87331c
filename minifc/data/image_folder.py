"""An image folder: ``<root>/train/<class>/**`` and ``<root>/test/<class>/**`` image files.

Classes are the class folders sorted by name (labels 0..9: CIFAR-10's label order is alphabetical); the images of a
class are its image files at any depth, sorted by folder and then by name, as ``torchvision.datasets.ImageFolder``
lists them. Only regular files (or symbolic links to them) with an image extension are images; every real folder is
visited once, so a symbolic link loop or a second link to a folder does not count its images again, and a class
folder that reaches another class's folder (``train/cat`` a link to ``train/dog``) is refused. Anything else
with an image extension (a named pipe, a socket, a device, a broken link) is refused with an error naming it.

The decoded images are cached (:mod:`minifc.data.decoded_cache`); the first load of a folder prints one line to
stderr saying what it decodes and where the cache goes, and shows a progress bar on a terminal.
"""

from __future__ import annotations

import os
import stat
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

import torch

from ..io.safe_files import file_kind
from .decoded_cache import cache_path, fingerprint, is_inside, load_cache, save_cache
from .errors import DataError, first_line
from .image_decode import decode_images
from .layout import CLASSES, IMAGE_EXTENSIONS

ORDER_SEED = 0
"""Seed of the CPU generators whose ``randperm`` orders the training images (before the validation split) and,
separately, the test images."""

_DECODE_RATE = 2400  # images per second, about, for the time estimate in the decoding message


class ImageFile(NamedTuple):
    """One image of an image folder, with what its cache fingerprint uses."""

    path: str
    size: int
    mtime_ns: int


def read_image_folder(base: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The image folder ``base`` -> ``x_train (N, 3, 32, 32) uint8, y_train (N,) int64, x_test, y_test``.

    Each split is in its seeded order: its listing order permuted by :func:`seeded_order` (``randperm`` with a CPU
    generator seeded with :data:`ORDER_SEED`, untouched by the global RNG). Decoded images come from the cache when
    it matches the folder; the cache holds the listing order, so the order is applied on every load.

    Raises:
        DataError: a malformed folder (class folders, an empty class, something that is not an image file) or an
            image that cannot be read or decoded; the message names the folder or file.
    """
    train_classes, train_files, train_labels = list_split(base / "train")
    test_classes, test_files, test_labels = list_split(base / "test")
    if train_classes != test_classes:
        raise DataError(
            f"malformed CIFAR-10 image folder {base}: train/ and test/ have different class folders: "
            f"{train_classes} vs {test_classes}"
        )
    fp = fingerprint(base, train_files + test_files)
    cache = cache_path(base)
    decoded = load_cache(cache, base, fp)
    if decoded is None:
        cacheable = not is_inside(cache, base)
        if not cacheable:
            warnings.warn(f"not caching decoded images: cache {cache} is inside the data folder {base}", stacklevel=4)
        _announce(base, cache if cacheable else None, len(train_files) + len(test_files))
        decoded = {
            "x_train": decode_images([f.path for f in train_files], "decoding CIFAR-10 train"),
            "y_train": torch.tensor(train_labels, dtype=torch.int64),
            "x_test": decode_images([f.path for f in test_files], "decoding CIFAR-10 test"),
            "y_test": torch.tensor(test_labels, dtype=torch.int64),
        }
        if cacheable:
            save_cache(cache, base, fp, decoded)
    train, test = seeded_order(len(train_files)), seeded_order(len(test_files))
    return decoded["x_train"][train], decoded["y_train"][train], decoded["x_test"][test], decoded["y_test"][test]


def seeded_order(n: int) -> torch.Tensor:
    """``(n,)`` int64: the fixed permutation of a split of ``n`` listed images (CPU; the global RNG is untouched)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(ORDER_SEED))


def _announce(base: Path, cache: Path | None, n: int) -> None:
    """Say on stderr why the first load of a folder takes a while."""
    seconds = max(1, round(n / _DECODE_RATE))
    if cache is not None:
        where = f"into the cache {cache} (once; about {seconds} s)"
    else:
        where = f"(about {seconds} s; not cached, see the warning)"
    print(f"minifc: decoding {n:,} images from {base} {where}", file=sys.stderr, flush=True)


def list_split(folder: Path) -> tuple[list[str], list[ImageFile], list[int]]:
    """``classes, files, labels`` of ``folder/<class>/**`` in the listing order (see the module docstring).

    Raises:
        DataError: not one folder per class, a class without images, or a non-file with an image extension.
    """
    try:
        classes = sorted(e.name for e in os.scandir(folder) if e.is_dir())
    except OSError as e:
        raise DataError(f"cannot list the image folder {folder} ({type(e).__name__}: {first_line(e)})") from None
    if len(classes) != len(CLASSES):
        found = ", ".join(classes) if classes else "none"
        raise DataError(
            f"malformed CIFAR-10 image folder: {folder} must hold one folder per class, {len(CLASSES)} in all "
            f"({', '.join(CLASSES)}); found {len(classes)}: {found}"
        )
    files: list[ImageFile] = []
    labels: list[int] = []
    claimed: dict[tuple[int, int], str] = {}  # every real folder of the classes listed so far
    for label, name in enumerate(classes):
        images = walk_images(str(folder / name), claimed)  # plain strings: pathlib costs seconds over 60,000 files
        if not images:
            raise DataError(
                f"malformed CIFAR-10 image folder: class folder {folder / name} holds no images "
                f"({', '.join(IMAGE_EXTENSIONS)})"
            )
        files += images
        labels += [label] * len(images)
    return classes, files, labels


def walk_images(top: str, claimed: dict[tuple[int, int], str] | None = None) -> list[ImageFile]:
    """The image files under the folder ``top``, at any depth, sorted by folder path and then by name.

    Symbolic links are followed, but each real folder (device and inode) is visited once: a folder reached again,
    through a link loop or a second link, is skipped with a warning. ``claimed``: the real folders of other
    classes (added to as this one is walked); reaching one of them is a labelling error.

    Raises:
        DataError: a folder cannot be listed, an entry with an image extension is not a regular file (a named
            pipe, socket, device or broken link), or a folder is one another class already holds; the message
            names it (and the other path).
    """
    claimed = {} if claimed is None else claimed
    seen: dict[tuple[int, int], str] = {}
    groups: list[tuple[str, list[ImageFile]]] = []
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as e:
            raise DataError(f"cannot list the image folder {folder} ({type(e).__name__}: {first_line(e)})") from None
        key = (st.st_dev, st.st_ino)
        if key in claimed:
            raise DataError(
                f"malformed CIFAR-10 image folder: {folder} is the folder {claimed[key]} of another class (a symbolic "
                "link?); its images would be listed under two labels"
            )
        if key in seen:
            warnings.warn(
                f"image folder: skipping {folder}, which is the folder {seen[key]} again (a symbolic link loop or "
                "a second link to it); its images are counted once",
                stacklevel=6,
            )
            continue
        seen[key] = folder
        images, subfolders = _scan(folder)
        groups.append((folder, images))
        stack.extend(reversed(subfolders))  # the first name is visited first
    claimed.update(seen)
    groups.sort(key=lambda g: g[0])
    return [f for _, images in groups for f in images]


def _scan(folder: str) -> tuple[list[ImageFile], list[str]]:
    """The image files and the subfolders (links followed) directly in ``folder``, each sorted by name."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        raise DataError(f"cannot list the image folder {folder} ({type(e).__name__}: {first_line(e)})") from None
    images: list[ImageFile] = []
    subfolders: list[str] = []
    for entry in entries:
        is_image = entry.name.lower().endswith(IMAGE_EXTENSIONS)
        try:
            st = entry.stat()  # follows symbolic links, and never opens the file
        except OSError as e:
            if is_image:
                raise DataError(
                    f"cannot read image {entry.path} ({type(e).__name__}: {first_line(e)}); a broken symbolic link?"
                ) from None
            continue
        if stat.S_ISDIR(st.st_mode):
            subfolders.append(entry.path)
        elif is_image:
            if not stat.S_ISREG(st.st_mode):
                raise DataError(
                    f"{entry.path} is {file_kind(st.st_mode)}, not an image file; remove it or move it out of the "
                    "image folder"
                )
            images.append(ImageFile(entry.path, st.st_size, st.st_mtime_ns))
    return images, subfolders

