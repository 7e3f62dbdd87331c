"""Peak memory that training adds, per side and config, each in a fresh process.

    python benchmarks/memory.py --configs tiny wide --sides trainer classic torch

CPU: the peak resident set size (``VmHWM``, reset through ``/proc/self/clear_refs``) while training
minus the resident size right after set-up (data, model, optimizer object); CUDA:
``torch.cuda.max_memory_allocated`` minus the memory allocated after set-up. Either way it is what
training adds on top of data and weights: gradients, activations, optimizer state, temporaries.
A fresh process per measurement, so that no side sees another's allocations. ``throughput.py``
calls :func:`measure` for its peak-memory column.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import torch
from common import CONFIGS, add_machine_args, apply_machine_args, fmt_bytes, make_data, print_table
from sides import LABELS, MINIFC_SIDES, build_side

# the compiled step is left out: each measurement would compile it again in its own process
SIDES = (*MINIFC_SIDES, "torch", "torch-fused")


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def peak_bytes(name: str, side: str, steps: int, device: torch.device, dtype: torch.dtype, gather: str) -> int:
    """In this process: bytes that ``steps`` training steps add at their peak on top of the set-up."""
    cfg = CONFIGS[name]
    step = build_side(side, cfg, make_data(device, dtype, cfg=cfg), device, dtype, gather).step
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        for _ in range(steps):
            step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident size
    base = _status_kib("VmRSS")
    for _ in range(steps):
        step()
    return (_status_kib("VmHWM") - base) * 1024


def measure(name: str, side: str, steps: int = 4, device: str = "cpu", dtype: str = "float32",
            gather: str = "index") -> int | None:
    """:func:`peak_bytes` in a fresh Python process; None (with the child's error on stderr) if it failed."""
    cmd = [sys.executable, os.path.abspath(__file__), "--device", device, "--dtype", dtype, "--steps", str(steps),
           "--torch-gather", gather, "--child", f"{name}:{side}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode != 0:
        print(f"memory measurement of {name}/{side} failed:\n{proc.stderr}", file=sys.stderr)
        return None
    return int(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_machine_args(parser)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), metavar="NAME")
    parser.add_argument("--sides", nargs="+", default=list(SIDES), choices=list(SIDES), metavar="SIDE",
                        help=f"default: {' '.join(SIDES)}")
    parser.add_argument("--steps", type=int, default=4, help="training steps of each measurement (default 4)")
    parser.add_argument("--torch-gather", choices=["index", "index_select"], default="index")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device, dtype = apply_machine_args(parser, args)
    if args.child:
        name, side = args.child.split(":")
        print(peak_bytes(name, side, args.steps, device, dtype, args.torch_gather))
        return 0
    print_table(["config", *(LABELS[s] for s in args.sides)], [])
    for name in args.configs:  # a row as soon as its config is measured: each side starts a process
        row = [name]
        for side in args.sides:
            row.append(fmt_bytes(measure(name, side, args.steps, args.device, args.dtype, args.torch_gather)))
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
