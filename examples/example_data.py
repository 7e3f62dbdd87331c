"""The data and the command-line options the example scripts share.

``--data DIR`` (or ``$MINIFC_DATA``) trains on CIFAR-10; without it the scripts use synthetic Gaussian
clusters of the same layout (``minifc.testing.synthetic_data``), so they run anywhere. ``--quick``
(or ``MINIFC_EXAMPLES_QUICK=1``) uses a small random subset of each split and few epochs.
"""

from __future__ import annotations

import argparse
import os

import torch


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with ``--data``, ``--quick`` and ``--device``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", default=os.environ.get("MINIFC_DATA"), help="CIFAR-10 folder [$MINIFC_DATA]")
    p.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("MINIFC_EXAMPLES_QUICK") == "1",
        help="small subsets and few epochs, for a run of seconds [$MINIFC_EXAMPLES_QUICK=1]",
    )
    p.add_argument("--device", default="cpu", help="cpu (where the classic numbers come from), cuda, mps or auto")
    return p


def load(root: str | None, quick: bool) -> dict[str, torch.Tensor]:
    """CIFAR-10 from ``root`` (a random subset of each split in quick mode), else synthetic data.

    Returns the classic dict: ``X_train`` (N, 3072), ``y_train`` (N,), ``X_val``, ``y_val``,
    ``X_test``, ``y_test``.
    """
    if root:
        from minifc.data import load_cifar10

        data = load_cifar10(root)
        if quick:  # a random subset: an image folder's test split is listed class by class
            gen = torch.Generator().manual_seed(0)
            for split, n in (("train", 1000), ("val", 200), ("test", 200)):
                keep = torch.randperm(len(data[f"y_{split}"]), generator=gen)[:n]
                data[f"X_{split}"], data[f"y_{split}"] = data[f"X_{split}"][keep], data[f"y_{split}"][keep]
        source = f"CIFAR-10 from {root}"
    else:
        from minifc.testing import synthetic_data

        n = 500 if quick else 5000
        data = synthetic_data(num_train=n, num_val=n // 5, num_test=n // 5, separation=0.5)
        source = "synthetic clusters shaped like CIFAR-10 (pass --data DIR for the real thing)"
    print(f"data: {source}")
    for key, value in data.items():
        print(f"  {key}: {tuple(value.shape)} {value.dtype}")
    return data
