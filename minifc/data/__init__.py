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
   ``torchvision.datasets.CIFAR10`` downloads it, read by :mod:`minifc.data.cifar_batches` with an unpickler that
   only builds numpy arrays and plain values (so it needs numpy but not torchvision). Order: ``data_batch_1`` ...
   ``data_batch_5`` as stored (the original batches are already in random order), then ``test_batch``.
2. ``<root>/train/<class>/*`` and ``<root>/test/<class>/*``: an image folder (jpg, png, ...), listed by
   :mod:`minifc.data.image_folder` as ``torchvision.datasets.ImageFolder`` lists it: class folders sorted by name
   give labels 0..9 (alphabetical is CIFAR-10's label order), files sorted by path within each class; only regular
   files are images, and each real folder is visited once. Decoding needs torchvision. Such a folder lists its
   images class by class, so each split gets a fixed, seeded order: the training images before the split (train
   and validation both hold every class in proportion), and the test images (any slice of the test set holds
   every class in proportion, as in the batches). The exact rule, for the training and the test images alike::

       files = the split's images in the listing order above (class by class, by file name)
       order = torch.randperm(len(files), generator=torch.Generator().manual_seed(0))  # CPU generator
       images = files[order]
3. Only when no root was given (neither ``root`` nor ``MINIFC_DATA``) and nothing is found at the default root:
   ``torchvision.datasets.CIFAR10(default_root(), download=True)`` downloads the batches there (needs internet).

When nothing is found, :class:`DataNotFoundError` (a :class:`DataError`) says every place tried and how to provide
the data; ``error.message(option="--data")`` phrases it for a command whose ``--data`` option gives the root.

Cache
-----
Decoding an image folder takes about 25 s for CIFAR-10's 60,000 images; the first load says so on stderr, shows a
progress bar on a terminal, and keeps the decoded images as uint8 ``(N, 3, 32, 32)`` tensors with int64 labels in
``<cache>/decoded/imagefolder-<folder name>-<hash of the resolved folder path>.pt`` (written atomically, loaded
with ``torch.load(weights_only=True)``), reused while the folder's file list, sizes and modification times stay
the same. :func:`cache_dir` is ``$MINIFC_CACHE``, else ``$XDG_CACHE_HOME/minifc``, else ``~/.cache/minifc``.
Nothing is ever written into the data folder. Inside :func:`keep_loaded` (each sweep worker runs its trials in one)
a root folder is read once and its images kept in memory for the later loads.
"""

from __future__ import annotations

from .cifar10 import load_cifar10
from .errors import DataError, DataNotFoundError
from .kept import keep_loaded
from .layout import BATCHES_DIR, CLASSES, cache_dir, default_root

__all__ = ["BATCHES_DIR", "CLASSES", "DataError", "DataNotFoundError", "cache_dir", "default_root", "keep_loaded",
           "load_cifar10"]
