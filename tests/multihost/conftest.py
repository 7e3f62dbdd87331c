"""The ``hosts`` fixture: ``hosts(n)`` gives n hosts in network namespaces (see netns.py), removed after the
test whatever its outcome; tests that use it are skipped, with the reason, where namespaces cannot be made."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from netns import Host, Network, unavailable

_why_not: list[str | None] = []


@pytest.fixture
def hosts() -> Iterator[Callable[[int], list[Host]]]:
    if not _why_not:
        _why_not.append(unavailable())
    if _why_not[0]:
        pytest.skip(f"multihost: {_why_not[0]}")
    networks: list[Network] = []

    def make(n: int) -> list[Host]:
        network = Network(n)
        networks.append(network)
        return network.hosts

    try:
        yield make
    finally:
        for network in networks:
            network.close()
