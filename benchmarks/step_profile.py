"""Where one training step's time goes: a side's step under torch.profiler, op by op and by kind of work.

    python benchmarks/step_profile.py --threads 1 --configs wide dropout
    python benchmarks/step_profile.py --threads 1 --configs deep --sides trainer torch-fused --top 8

For every config and side (those of ``throughput.py``: ``trainer``, ``classic``, ``torch``,
``torch-fused``, ``mm``), the step runs ``--warmup`` times, then ``--steps`` times under the profiler.
The table gives each kind of work's self time per step (CPU time; on CUDA, kernel time) and its share
of the ops' total: the matrix products (``mm``, ``addmm``, ``addmm_``, ...), the update rule's kernels
(``_fused_adam_``, ``_foreach_*``, ...), the minibatch gather (``index_select``, ``index``), the dropout
masks' random numbers, and the rest of the element-wise and bookkeeping ops; then the ``--top`` ops by
self time. The profiler adds its own cost per op, and Python time between ops is not counted: use
``throughput.py`` for speeds, this for the shares of the step's work.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Callable

import torch
from common import CONFIGS, add_machine_args, apply_machine_args, describe_machine, make_data, print_table, sync
from sides import LABELS, Unavailable, build_side
from torch.profiler import ProfilerActivity, profile

KINDS = {  # a trailing * matches every op whose name starts with the rest
    "products": ("aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm", "aten::matmul",
                 "aten::linear", "aten::_mkldnn_mm", "aten::mkldnn_mm"),
    "update": ("aten::_fused_adam_", "aten::_fused_adamw_", "aten::_fused_sgd_", "aten::_foreach_*"),
    "gather": ("aten::index_select", "aten::index", "aten::take"),
    "random": ("aten::uniform_", "aten::bernoulli_", "aten::normal_", "aten::random_"),
}
SIDES = ("trainer", "classic", "torch", "torch-fused", "mm")


def kind_of(op: str) -> str:
    """The kind of work of a profiler op name (``aten::...``): one of :data:`KINDS`, else ``rest``."""
    for kind, names in KINDS.items():
        if any(op == name or (name.endswith("*") and op.startswith(name[:-1])) for name in names):
            return kind
    return "rest"


def profile_side(step: Callable[[], object], warmup: int, steps: int, device: torch.device) -> dict[str, float]:
    """Microseconds per step of each op of ``steps`` calls of ``step`` (after ``warmup`` calls): self CPU
    time on a CPU, self kernel time on a CUDA device (there the CPU time is only the launch)."""
    for _ in range(warmup):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync(device)
    field = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    times = {e.key: getattr(e, field) / steps for e in prof.key_averages()}
    return {op: us for op, us in times.items() if us > 0}


def by_kind(ops: dict[str, float]) -> dict[str, float]:
    kinds: dict[str, float] = defaultdict(float)
    for op, us in ops.items():
        kinds[kind_of(op)] += us
    return {k: kinds.get(k, 0.0) for k in (*KINDS, "rest")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_machine_args(parser)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), metavar="NAME")
    parser.add_argument("--sides", nargs="+", default=["trainer", "torch-fused"], choices=SIDES, metavar="SIDE",
                        help=f"sides to profile (default: trainer torch-fused; known: {' '.join(SIDES)})")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--top", type=int, default=5, help="ops listed by self time per side (default 5)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    device, dtype = apply_machine_args(parser, args)
    what = "self CUDA kernel time" if device.type == "cuda" else "self CPU time"
    print(f"{describe_machine(args)}; {args.steps} profiled steps after {args.warmup} warm-up; "
          f"{what} per step (ms) and share of the ops' total")
    rows, tops = [], []
    for name in args.configs:
        cfg = CONFIGS[name]
        data = make_data(device, dtype, cfg=cfg)
        for side_name in args.sides:
            try:
                side = build_side(side_name, cfg, data, device, dtype)
            except Unavailable as e:
                print(f"{name} {LABELS[side_name]}: skipped ({e})")
                continue
            ops = profile_side(side.step, args.warmup, args.steps, device)
            total = sum(ops.values())
            kinds = by_kind(ops)
            rows.append([name, LABELS[side_name], f"{total / 1e3:.2f}",
                         *(f"{us / 1e3:.2f} ({us / total:.0%})" for us in kinds.values())])
            for op, us in sorted(ops.items(), key=lambda kv: -kv[1])[:args.top]:
                tops.append([name, LABELS[side_name], op, f"{us / 1e3:.3f}", f"{us / total:.1%}"])
    print_table(["config", "side", "ops total", *(*KINDS, "rest")], rows)
    print()
    print_table(["config", "side", "op", "ms per step", "share"], tops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
