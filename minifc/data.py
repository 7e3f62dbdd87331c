"""CIFAR-10, prepared the classic way (as in EECS 498 assignment 3) for fully-connected nets.

:func:`load_cifar10` returns ``X_train, y_train, X_val, y_val, X_test, y_test``: each ``X`` is ``(N, 3072)``, the
pixels divided by 255, minus the per-channel (R, G, B) mean of all training images (train and validation
together), flattened in (C, H, W) order like ``x.reshape(N, -1)`` of an ``(N, 3, 32, 32)`` tensor. Each ``y`` is
``(N,)`` int64. The validation split is the last ``int(N * validation_ratio)`` of the N training images, in the
order below (10,000 of 50,000 for the default ratio 0.2); nothing is shuffled after that.

Where the data comes from
-------------------------
The root folder is the ``root`` argument, else the environment variable ``MINIFC_DATA``, else
:func:`default_root` (``<cache>/cifar10``). In that folder, the first of these that exists is used:

1. ``<root>/cifar-10-batches-py`` (or ``root`` itself being that folder): the python version of CIFAR-10, as
   ``torchvision.datasets.CIFAR10`` downloads it. minifc reads the pickled batches itself, with an unpickler that
   only builds numpy arrays and plain values, so it needs numpy but not torchvision, and it skips torchvision's
   md5 check (so any batches in the same format load). Order: ``data_batch_1`` ... ``data_batch_5`` as stored
   (the original batches are already in random order), then ``test_batch``.
2. ``<root>/train/<class>/*`` and ``<root>/test/<class>/*``: an image folder (jpg, png, ...), with the classes
   and files that ``torchvision.datasets.ImageFolder`` lists: class folders sorted by name give labels 0..9
   (alphabetical is CIFAR-10's label order), files sorted by path within each class. Decoding needs torchvision.
   Such a folder lists its images class by class, so the training images get a fixed, seeded order before the
   split, and train and validation both hold every class in proportion. The exact rule::

       files = training images in the listing order above (class by class, by file name)
       order = torch.randperm(len(files), generator=torch.Generator().manual_seed(0))  # CPU generator
       training images = files[order]

   The test images keep the listing order.
3. Only when no root was given (neither ``root`` nor ``MINIFC_DATA``) and nothing is found at the default root:
   ``torchvision.datasets.CIFAR10(default_root(), download=True)`` downloads the batches there (needs internet).

When nothing is found, :class:`DataError` says every place tried and how to provide the data.

Cache
-----
Decoding an image folder takes a few seconds; the decoded images are kept as uint8 ``(N, 3, 32, 32)`` tensors
with int64 labels in ``<cache>/decoded/imagefolder-<folder name>-<hash of the resolved folder path>.pt``
(written atomically, loaded with ``torch.load(weights_only=True)``), and reused while the folder's file list,
sizes and modification times stay the same. :func:`cache_dir` is ``$MINIFC_CACHE``, else
``$XDG_CACHE_HOME/minifc``, else ``~/.cache/minifc``. Nothing is ever written into the data folder.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pickle
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import MinifcError

__all__ = ["CLASSES", "DataError", "cache_dir", "default_root", "load_cifar10"]

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10's class names, in label order."""

BATCHES_DIR = "cifar-10-batches-py"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCH = "test_batch"
# The extensions torchvision.datasets.ImageFolder accepts.
_IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_ORDER_SEED = 0
_CACHE_FORMAT = 1
_VISION_HINT = "pip install 'minifc[vision]'"


class DataError(MinifcError, FileNotFoundError):
    """A dataset is missing, malformed or cannot be read; the message says where minifc looked and what to do."""


def cache_dir() -> Path:
    """minifc's cache folder: ``$MINIFC_CACHE``, else ``$XDG_CACHE_HOME/minifc``, else ``~/.cache/minifc``.

    Only the path is computed; the folder is created when something is first written there.
    """
    if os.environ.get("MINIFC_CACHE"):
        return Path(os.environ["MINIFC_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "minifc"
    return Path.home() / ".cache" / "minifc"


def default_root() -> Path:
    """Where CIFAR-10 is looked for (and downloaded to) when neither ``root=`` nor ``MINIFC_DATA`` is given:
    ``cache_dir() / "cifar10"``."""
    return cache_dir() / "cifar10"


def load_cifar10(
    root: str | os.PathLike | None = None,
    validation_ratio: float = 0.2,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """CIFAR-10 as the classic dict of six tensors (see the module docstring for sources, order and cache).

    Args:
        root: folder holding ``cifar-10-batches-py/`` or ``train/`` and ``test/`` class folders; default
            ``$MINIFC_DATA``, else :func:`default_root`.
        validation_ratio: fraction in [0, 1) of the training images kept for validation (the last ones).
        dtype: floating dtype of the ``X`` tensors.
        device: device of all six tensors.

    Returns:
        ``{"X_train": (N_train, 3072), "y_train": (N_train,), "X_val": (N_val, 3072), "y_val": (N_val,),
        "X_test": (N_test, 3072), "y_test": (N_test,)}``; for CIFAR-10 and ratio 0.2: 40,000 / 10,000 / 10,000.
        X in ``dtype``: pixels / 255 minus the per-channel mean of all training images, channel-major; y int64.

    Raises:
        DataError: no dataset found (the message lists every place tried), or a malformed one.
        ValueError: a ``validation_ratio`` outside [0, 1) or a ``dtype`` that is not floating point.
    """
    dtype = torch.empty(0, dtype=dtype).dtype  # also rejects non-dtypes with torch's own message
    if not dtype.is_floating_point:
        raise ValueError(f"load_cifar10: dtype must be a floating point dtype, got {dtype}")
    if not 0.0 <= validation_ratio < 1.0:
        raise ValueError(f"load_cifar10: validation_ratio must be in [0, 1), got {validation_ratio}")
    device = torch.device(device)

    x_train, y_train, x_test, y_test = _load_uint8(root)
    return _preprocess(x_train, y_train, x_test, y_test, validation_ratio, dtype, device)


# ----------------------------------------------------------------------------------------------------------------
# Finding the data


@dataclass
class _Source:
    kind: str  # "batches" or "imagefolder"
    path: Path  # the cifar-10-batches-py folder, or the folder holding train/ and test/


def _load_uint8(root: str | os.PathLike | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Find the dataset and return ``x_train (N, 3, 32, 32) uint8, y_train (N,) int64, x_test, y_test``, with the
    training images already in the documented order."""
    if root is not None:
        base, why = Path(root).expanduser(), "the root= argument"
    elif os.environ.get("MINIFC_DATA"):
        base, why = Path(os.environ["MINIFC_DATA"]).expanduser(), "the environment variable MINIFC_DATA"
    else:
        base, why = default_root(), "the default root (neither root= nor MINIFC_DATA was given)"

    tried: list[str] = []
    source = _find_source(base, tried)
    if source is None and root is None and not os.environ.get("MINIFC_DATA"):
        try:
            _download(base)
        except Exception as e:  # any failure (no internet, no torchvision, disk full) becomes the one clear error
            tried.append(f"downloading with torchvision into {base}: failed ({type(e).__name__}: {_first_line(e)})")
        else:
            source = _find_source(base, [])
    if source is None:
        raise DataError(_not_found_message(base, why, tried))

    if source.kind == "batches":
        return _read_batches(source.path)
    return _read_image_folder(source.path)


def _find_source(base: Path, tried: list[str]) -> _Source | None:
    """The first layout present under ``base``; appends a line per place looked at to ``tried``."""
    if not base.is_dir():
        tried.append(f"{base}: {'not a folder' if base.exists() else 'does not exist'}")
        return None
    for path in (base / BATCHES_DIR, base):
        if (path / _TRAIN_BATCHES[0]).is_file() or (path / _TEST_BATCH).is_file():
            return _Source("batches", path)
    batches = base / BATCHES_DIR
    tried.append(
        f"{batches}: " + (f"holds neither {_TRAIN_BATCHES[0]} nor {_TEST_BATCH}" if batches.is_dir() else "not found")
    )
    train, test = base / "train", base / "test"
    if train.is_dir() or test.is_dir():
        if not (train.is_dir() and test.is_dir()):
            missing = test if train.is_dir() else train
            raise DataError(
                f"malformed CIFAR-10 image folder {base}: it has {'train' if train.is_dir() else 'test'}/ but no "
                f"{missing.name}/ folder. Expected {base}/train/<class>/* and {base}/test/<class>/* with one "
                f"folder per class.\n{_how_to_provide()}"
            )
        return _Source("imagefolder", base)
    tried.append(f"{train} and {test}: not found")
    return None


_HOW_TO_PROVIDE_TEMPLATE = f"""To provide CIFAR-10, do one of:
  - set the environment variable MINIFC_DATA to a folder that holds {BATCHES_DIR}/ (the python version of \
CIFAR-10), or train/ and test/ folders with one subfolder of images per class (10 classes);
  - pass such a folder as load_cifar10(root=...);
  - run once with internet access, with neither root= nor MINIFC_DATA, to download it into {{default}} \
(needs torchvision: {_VISION_HINT})."""


def _how_to_provide() -> str:
    return _HOW_TO_PROVIDE_TEMPLATE.format(default=default_root())


def _not_found_message(base: Path, why: str, tried: list[str]) -> str:
    lines = "\n".join(f"  - {t}" for t in tried)
    return f"CIFAR-10 not found. The root is {base}, from {why}. Looked in:\n{lines}\n" + _how_to_provide()


def _download(root: Path) -> None:
    """Download the python version of CIFAR-10 into ``root / "cifar-10-batches-py"`` with torchvision."""
    datasets = _import_torchvision("downloading CIFAR-10", "datasets")
    root.mkdir(parents=True, exist_ok=True)
    datasets.CIFAR10(str(root), train=True, download=True)


def _import_torchvision(what: str, submodule: str) -> Any:
    """``torchvision.<submodule>``, imported only when needed: the core package works without torchvision."""
    try:
        importlib.import_module("torchvision")
        return importlib.import_module(f"torchvision.{submodule}")
    except Exception as e:  # not installed, or installed but broken (e.g. built for another torch)
        raise DataError(
            f"{what} needs torchvision, which could not be imported ({type(e).__name__}: {_first_line(e)}). "
            f"Install it with: {_VISION_HINT}"
        ) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "no message"


# ----------------------------------------------------------------------------------------------------------------
# cifar-10-batches-py


class _BatchUnpickler(pickle.Unpickler):
    """Builds numpy arrays and plain values only; any other global in the file is refused."""

    # (module, name) a CIFAR batch may name: numpy's array reconstructors (under numpy.core before numpy 2,
    # numpy._core since; _frombuffer for pickle protocol 5) and _codecs.encode (bytes in protocol 2 pickles).
    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch holds only arrays")
        if module.startswith("numpy.core"):  # numpy 2 moved numpy.core to numpy._core and warns on the old name
            import numpy as np

            if hasattr(np, "_core"):
                module = "numpy._core" + module[len("numpy.core") :]
        return super().find_class(module, name)


def _read_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One pickled batch -> ``x (n, 3, 32, 32) uint8, y (n,) int64``."""
    try:
        import numpy as np
    except ImportError:
        raise DataError(
            f"reading {path.parent} needs numpy, which is not installed. Install it with: {_VISION_HINT}"
        ) from None
    if not path.is_file():
        raise DataError(f"malformed {BATCHES_DIR} folder {path.parent}: {path.name} is missing.\n{_how_to_provide()}")
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="latin1").load()
        data = batch.get(b"data", batch.get("data"))
        labels = batch.get(b"labels", batch.get("labels"))
        data = np.ascontiguousarray(data, dtype=np.uint8)
        labels = np.asarray(labels, dtype=np.int64)
    except Exception as e:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {type(e).__name__}: {_first_line(e)}") from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DataError(
            f"malformed CIFAR-10 batch {path}: expected data of shape (n, 3072) and n labels, got data "
            f"{data.shape} and labels {labels.shape}"
        )
    y = torch.from_numpy(labels)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(CLASSES)):
        raise DataError(
            f"malformed CIFAR-10 batch {path}: labels must be in [0, 10), got [{int(y.min())}, {int(y.max())}]"
        )
    # Each row is 1024 red, 1024 green, 1024 blue values, each 32x32 row-major: (C, H, W) order.
    return torch.from_numpy(data).reshape(-1, 3, 32, 32), y


def _read_batches(folder: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    train = [_read_batch(folder / name) for name in _TRAIN_BATCHES]
    x_test, y_test = _read_batch(folder / _TEST_BATCH)
    x_train = torch.cat([x for x, _ in train])
    y_train = torch.cat([y for _, y in train])
    return x_train, y_train, x_test, y_test


# ----------------------------------------------------------------------------------------------------------------
# Image folder


def _list_split(folder: Path) -> tuple[list[str], list[str], list[int]]:
    """``classes, files, labels`` of ``folder/<class>/**`` in ImageFolder's order."""
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir())
    if len(classes) != len(CLASSES):
        found = ", ".join(classes) if classes else "none"
        raise DataError(
            f"malformed CIFAR-10 image folder: {folder} must hold one folder per class, {len(CLASSES)} in all "
            f"({', '.join(CLASSES)}); found {len(classes)}: {found}"
        )
    files: list[str] = []  # plain strings: pathlib costs seconds over 60,000 files
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = [
            os.path.join(dirpath, f)
            for dirpath, _, names in sorted(os.walk(folder / name, followlinks=True))
            for f in sorted(names)
            if f.lower().endswith(_IMG_EXTENSIONS)
        ]
        if not found:
            raise DataError(
                f"malformed CIFAR-10 image folder: class folder {folder / name} holds no images "
                f"({', '.join(_IMG_EXTENSIONS)})"
            )
        files += found
        labels += [label] * len(found)
    return classes, files, labels


def _fingerprint(base: Path, files: list[str]) -> str:
    """Changes when a file is added, removed, renamed, resized or rewritten."""
    h = hashlib.sha256()
    skip = len(str(base))
    for f in files:
        st = os.stat(f)
        h.update(f"{f[skip:]}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _cache_path(base: Path) -> Path:
    resolved = str(base.resolve())
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", base.resolve().name)[:40] or "root"
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:16]
    return cache_dir() / "decoded" / f"imagefolder-{slug}-{digest}.pt"


def _read_image_folder(base: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    train_classes, train_files, train_labels = _list_split(base / "train")
    test_classes, test_files, test_labels = _list_split(base / "test")
    if train_classes != test_classes:
        raise DataError(
            f"malformed CIFAR-10 image folder {base}: train/ and test/ have different class folders: "
            f"{train_classes} vs {test_classes}"
        )
    fingerprint = _fingerprint(base, train_files + test_files)
    cache = _cache_path(base)
    decoded = _load_cache(cache, str(base.resolve()), fingerprint)
    if decoded is None:
        decoded = {
            "x_train": _decode_all(train_files, "train"),
            "y_train": torch.tensor(train_labels, dtype=torch.int64),
            "x_test": _decode_all(test_files, "test"),
            "y_test": torch.tensor(test_labels, dtype=torch.int64),
        }
        _save_cache(cache, base, fingerprint, decoded)
    order = torch.randperm(len(train_files), generator=torch.Generator().manual_seed(_ORDER_SEED))
    return decoded["x_train"][order], decoded["y_train"][order], decoded["x_test"], decoded["y_test"]


def _load_cache(path: Path, source: str, fingerprint: str) -> dict[str, torch.Tensor] | None:
    """The cached tensors, or None when there is no usable cache for this source and fingerprint."""
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        ok = (
            obj.get("format") == _CACHE_FORMAT
            and obj.get("source") == source
            and obj.get("fingerprint") == fingerprint
            and all(obj[k].dtype == torch.uint8 and obj[k].shape[1:] == (3, 32, 32) for k in ("x_train", "x_test"))
            and all(obj[k].dtype == torch.int64 and obj[k].dim() == 1 for k in ("y_train", "y_test"))
        )
    except Exception as e:  # a corrupt or foreign file is only a cache miss
        warnings.warn(f"ignoring unreadable cache file {path} ({_first_line(e)}); decoding again", stacklevel=4)
        return None
    return {k: obj[k] for k in ("x_train", "y_train", "x_test", "y_test")} if ok else None


def _save_cache(path: Path, base: Path, fingerprint: str, decoded: dict[str, torch.Tensor]) -> None:
    """Atomically write the decoded tensors; a failure only costs the next load a decode, so it is a warning."""
    if path.resolve().is_relative_to(base.resolve()):
        warnings.warn(f"not caching decoded images: cache {path} is inside the data folder {base}", stacklevel=4)
        return
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            obj = {"format": _CACHE_FORMAT, "source": str(base.resolve()), "fingerprint": fingerprint, **decoded}
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as RuntimeError
        warnings.warn(f"could not write the decoded-image cache {path}: {_first_line(e)}", stacklevel=4)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)  # gone already after a successful os.replace


_DECODE_CHUNK = 500


def _decode_all(files: list[str], split: str) -> torch.Tensor:
    """Decode ``files`` into one ``(N, 3, 32, 32)`` uint8 tensor, with a progress bar on a terminal."""
    from tqdm.auto import tqdm  # imported here to keep `import minifc.data` light

    tvio = _import_torchvision("decoding the CIFAR-10 image folder", "io")
    out = torch.empty(len(files), 3, 32, 32, dtype=torch.uint8)
    with (
        warnings.catch_warnings(),
        tqdm(total=len(files), desc=f"decoding CIFAR-10 {split}", unit="img", disable=None) as bar,
    ):
        # torchvision 0.29+ warns on every decode call that its image codecs are deprecated in favour of
        # torchcodec; the codecs still work, and 60,000 identical warnings help nobody.
        warnings.simplefilter("ignore", DeprecationWarning)
        for start in range(0, len(files), _DECODE_CHUNK):
            chunk = files[start : start + _DECODE_CHUNK]
            out[start : start + len(chunk)] = _decode_chunk(tvio, chunk)
            bar.update(len(chunk))
    return out


def _decode_chunk(tvio: Any, paths: list[str]) -> torch.Tensor:
    """Image files -> ``(n, 3, 32, 32)`` uint8 RGB."""
    data = [_read_bytes(p) for p in paths]
    if all(p.lower().endswith((".jpg", ".jpeg")) for p in paths):
        # One call for a list of JPEGs decodes about 2.5x faster than a call per file. When it fails, or an
        # image has the wrong size, decoding file by file below finds the culprit for the error message.
        try:
            imgs = tvio.decode_jpeg(data, mode=tvio.ImageReadMode.RGB)
            if all(img.dtype == torch.uint8 and img.shape == (3, 32, 32) for img in imgs):
                return torch.stack(imgs)
        except Exception:
            pass
    return torch.stack([_decode_bytes(tvio, d, p) for d, p in zip(data, paths, strict=True)])


def _read_bytes(path: str) -> torch.Tensor:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read image {path} ({type(e).__name__}: {_first_line(e)})") from None
    if not raw:
        raise DataError(f"image {path} is empty (0 bytes); is it corrupt?")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8)


def _decode_bytes(tvio: Any, data: torch.Tensor, path: str) -> torch.Tensor:
    """The bytes of one image file -> ``(3, 32, 32)`` uint8 RGB."""
    try:
        img = tvio.decode_image(data, mode=tvio.ImageReadMode.RGB)
    except Exception as e:
        raise DataError(f"cannot decode image {path} ({type(e).__name__}: {_first_line(e)}); is it corrupt?") from None
    if img.dtype != torch.uint8 or tuple(img.shape) != (3, 32, 32):
        raise DataError(
            f"image {path} is {tuple(img.shape)} {img.dtype}; CIFAR-10 images are 32x32 RGB (3, 32, 32) uint8"
        )
    return img


# ----------------------------------------------------------------------------------------------------------------
# Preprocessing


def _preprocess(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    validation_ratio: float,
    dtype: torch.dtype,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """uint8 ``(N, 3, 32, 32)`` images -> the classic dict (scaled, mean-subtracted, flattened, split)."""
    # Work in float32 at least, so that the mean of 50,000 images is not computed in half precision.
    work = dtype if torch.finfo(dtype).bits >= 32 else torch.float32
    xtr = x_train.to(device).to(work).div_(255)
    xte = x_test.to(device).to(work).div_(255)
    mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
    xtr = xtr.sub_(mean).reshape(xtr.shape[0], -1).to(dtype)
    xte = xte.sub_(mean).reshape(xte.shape[0], -1).to(dtype)
    ytr, yte = y_train.to(device, torch.int64), y_test.to(device, torch.int64)
    n_val = int(xtr.shape[0] * validation_ratio)
    n_train = xtr.shape[0] - n_val
    return {
        "X_train": xtr[:n_train],
        "y_train": ytr[:n_train],
        "X_val": xtr[n_train:],
        "y_val": ytr[n_train:],
        "X_test": xte,
        "y_test": yte,
    }
