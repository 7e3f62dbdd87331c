"""Smoke tests of benchmarks/throughput.py on tiny settings (its figures are measured elsewhere, never asserted)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


@pytest.fixture(scope="module")
def throughput():
    spec = importlib.util.spec_from_file_location("throughput", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["throughput"] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("throughput", None)


def test_throughput_table_runs_and_checks_equivalence(throughput, capsys) -> None:
    threads = torch.get_num_threads()
    argv = ["--configs", "tiny", "--repeats", "1", "--steps", "2", "--warmup", "1", "--no-memory", "--threads", "1"]
    try:
        assert throughput.main(argv) == 0
    finally:
        torch.set_num_threads(threads)  # main() sets it for the whole process
    row = capsys.readouterr().out.strip().splitlines()[-1]
    assert row.startswith("| tiny |") and "ok (max |dw|" in row


@pytest.mark.parametrize("variant", ["full", "presliced", "quiet"])
def test_overhead_variants_run_and_interleave_the_bare_steps(throughput, variant, monkeypatch) -> None:
    copies = []
    real = torch.index_select
    monkeypatch.setattr(torch, "index_select", lambda *a, **k: copies.append(1) or real(*a, **k))
    args = argparse.Namespace(overhead_samples=2000, repeats=2, overhead_variant=variant)
    r = throughput.run_overhead("twolayer", args, torch.device("cpu"), torch.float32)
    assert r["steps_per_epoch"] == 20
    assert 0 < r["bare_s"] < r["epoch_s"]  # the bare steps ran, and were taken out of the epoch
    assert r["loop_overhead_pct_min"] <= r["loop_overhead_pct"] <= r["loop_overhead_pct_max"]
    assert (len(copies) > 0) == (variant != "presliced")  # the Trainer's row copies, and only those
