"""Where the tests find CIFAR-10: $MINIFC_DATA, else the shared offline copy beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"


def cifar_root() -> Path:
    """The CIFAR-10 folder, or skip the test (with the reason) when there is none or no torchvision."""
    pytest.importorskip("torchvision", reason="loading CIFAR-10 needs torchvision (pip install 'minifc[vision]')")
    root = Path(os.environ["MINIFC_DATA"]) if os.environ.get("MINIFC_DATA") else SHARED
    if not root.exists():
        pytest.skip(f"CIFAR-10 not found at {root} (set MINIFC_DATA)")
    return root
