"""Trials per hour of ``minifc sweep`` on the small course nets: one worker with two threads against two workers
with one thread each (independent runs in parallel, the axis that suits these nets on a CPU).

Each setting runs one whole ``minifc sweep`` (a fresh process, its own sweep folder, the default journal storage)
of ``--trials`` trials searching the learning rate; trials per hour = completed trials / the sweep's wall time.
Beside it: the median training seconds of one trial (``summary.json``), the share of the wall time the workers
spent training (the rest: starting processes, loading data, writing plots and the study), and, before each net's
sweeps, this machine's core scaling on that net (``core_scaling.py``), which bounds the 2 x 1 / 1 x 2 ratio of
the training part.

    python benchmarks/sweep.py --data DIR   # twolayer and deep, 12 trials of 3 epochs on 5,000 images
    python benchmarks/sweep.py --smoke      # the plumbing, on a tiny synthetic CIFAR-10
    python benchmarks/sweep.py --data DIR --epochs 10   # longer trials: fixed costs weigh less
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import cpu_name, print_table
from core_scaling import probe

import minifc

NETS = {"twolayer": [200], "deep": [100] * 4}
SETTINGS = [(1, 2), (2, 1)]  # (workers, threads per worker)


def machine_line(total_threads: int) -> str:
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1] for line in f if line.startswith("flags")), "")
    except OSError:
        pass
    has = [name for name in ("avx512_bf16", "amx_bf16", "amx_tile") if name in flags.split()]
    return (f"machine: {cpu_name()}; bf16/AMX flags: {', '.join(has) or 'none'}; {platform.python_version()}, "
            f"torch {torch.__version__}, minifc {minifc.__version__}; {total_threads} threads in all per setting")


def write_synthetic_cifar(root: Path, per_batch: int = 200, n_test: int = 100) -> Path:
    """``root/cifar-10-batches-py`` of random images whose classes differ in brightness (needs numpy)."""
    import numpy as np  # the batches' format; the benchmark's own data only in --smoke

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        labels = torch.randint(10, (n,), generator=g)
        pixels = (labels[:, None] * 20 + torch.randint(0, 60, (n, 3072), generator=g)).clamp(0, 255).to(torch.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"labels": labels.tolist(), b"data": np.asarray(pixels.numpy(), dtype=np.uint8)}, f)
    return root


def run_setting(data: str, net: str, workers: int, threads: int, args: argparse.Namespace, out: Path) -> dict:
    folder = out / f"{net}-{workers}x{threads}"
    cmd = [sys.executable, "-m", "minifc", "sweep", "--search", "lr=loguniform(1e-4, 1e-1)",
           "--config", str(out / f"{net}.toml"), "--data", data, "--trials", str(args.trials),
           "--workers", str(workers), "--threads", str(threads), "--out", str(folder), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    summary = json.loads((folder / "summary.json").read_text())
    done = summary["states"].get("COMPLETE", 0)
    trained = [float(r["seconds"]) for r in summary["all"] if r["state"] == "COMPLETE" and r.get("seconds")]
    return {"net": net, "workers": workers, "threads": threads, "trials": done, "seconds": seconds,
            "per_hour": done * 3600 / seconds, "trial_seconds": statistics.median(trained) if trained else 0.0,
            "training_share": sum(trained) / workers / seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 folder (default: $MINIFC_DATA, then the cache)")
    parser.add_argument("--nets", nargs="+", choices=list(NETS), default=list(NETS))
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--num-train", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=None, help="keep the sweeps here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, 2 trials of 1 epoch, one net")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        data = args.data or os.environ.get("MINIFC_DATA") or ""
        if args.smoke:
            data = str(write_synthetic_cifar(out / "data"))
            args.nets, args.trials, args.epochs, args.num_train = ["twolayer"], 2, 1, 500
        print(machine_line(2))
        rows = []
        for net in args.nets:
            if not args.smoke:
                print(f"{net}: {probe(hidden=NETS[net]).describe()}")
            (out / f"{net}.toml").write_text(
                f"hidden = {NETS[net]}\nepochs = {args.epochs}\nnum_train = {args.num_train}\nbatch_size = 100\n")
            for workers, threads in SETTINGS:
                rows.append(run_setting(data, net, workers, threads, args, out))
        print_table(["net", "workers x threads", "trials", "seconds", "trials/hour", "trial s (median)",
                     "training share", "vs 1x2"], [
            [r["net"], f"{r['workers']} x {r['threads']}", str(r["trials"]), f"{r['seconds']:.1f}",
             f"{r['per_hour']:.0f}", f"{r['trial_seconds']:.2f}", f"{r['training_share']:.0%}",
             f"{r['per_hour'] / next(b['per_hour'] for b in rows if b['net'] == r['net']):.2f}"]
            for r in rows
        ])
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
