"""Smoke test of benchmarks/distributed.py on a tiny net (its figures are measured elsewhere, never asserted)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    # imported by name from a directory on sys.path, so that the ranks' processes can import it too
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    saved = sys.modules.pop("distributed", None)
    try:
        module = importlib.import_module("distributed")
        assert Path(module.__file__) == BENCHMARKS / "distributed.py"
        yield module
    finally:
        sys.modules.pop("distributed", None)
        if saved is not None:
            sys.modules["distributed"] = saved


@pytest.mark.subprocess
def test_distributed_benchmark_runs(bench, capsys, tmp_path):
    argv = ["--dims", "48,16,10", "--batch", "8", "--samples", "64", "--steps", "2", "--warmup", "1"]
    argv += ["--repeats", "2", "--bucket-cap-mb", "0.0005", "--json", str(tmp_path / "out.json")]
    assert bench.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "(buckets [0.0, 0.0] MiB)" in lines[0]  # two buckets: [b2, W2] and [b1, W1]
    assert lines[3].startswith("| 1 process | 1 x 2 | 8 |") and "| 1.00 | - | - |" in lines[3]
    assert lines[4].startswith("| 2 ranks, overlap | 2 x 1 | 4 |") and lines[5].startswith("| 2 ranks, no-overlap")
    assert (tmp_path / "out.json").stat().st_size > 0


def test_batch_must_divide(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--batch", "7", "--nproc", "2"])
