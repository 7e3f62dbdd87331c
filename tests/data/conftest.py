"""Fixtures of the minifc.data tests: every test gets a private cache, no MINIFC_DATA, and no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from minifc.data import sources


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A private cache, no MINIFC_DATA, and no test ever reaches the network."""
    monkeypatch.delenv("MINIFC_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("MINIFC_CACHE", str(tmp_path / "cache"))

    def no_network(root: Path) -> None:
        raise OSError("network disabled in tests")

    monkeypatch.setattr(sources, "download_cifar10", no_network)
    return tmp_path / "cache"
