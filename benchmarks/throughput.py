"""Training-step throughput: minifc (explicit backward) against torch's default, fused and compiled steps.

    python benchmarks/throughput.py                       # every config and side, float32, CPU
    python benchmarks/throughput.py --threads 1 --clock cpu --repeats 25 --steps 5 --warmup 5
    python benchmarks/throughput.py --configs tiny deep --references torch torch-fused
    python benchmarks/throughput.py --device cuda --json results.json
    python benchmarks/throughput.py --overhead            # Trainer epoch vs the bare work of its steps (overhead.py)
    python benchmarks/throughput.py --configs wide --clip-norm   # also the Trainer with clip_norm:max_norm=1.0
    python benchmarks/throughput.py --bf16                # plus the bf16-mixed rows (bf16.py), same configs and turns

The sides (see sides.py): the minifc Trainer's step and the classic Solver loop, against torch.nn +
autograd + torch.optim in its default implementation, with ``fused=True``, and as one
``torch.compile``d step; plus the bare matrix products (``mm``), the yardstick of "% of mm".

All sides run in turns (Trainer, classic, torch, fused, compiled, mm, Trainer, ...) after a warm-up,
so that a noisy shared machine slows all of them alike. Steps/s are medians over the turns; a speed-up
is the median over the turns of (reference's time per step) / (minifc's), with the smallest and
largest turn in brackets (> 1: minifc is faster). "fastest reference" is the torch side with the
most steps/s (median over the turns); "fastest per turn" takes, in each turn, the fastest torch side of
that turn, a lower bound that noise pushes down (the least of several noisy times). A compiled step's
compile time (wall clock of its first 3 calls minus 3 steady steps) is reported beside it; a
reference the installed torch cannot run here is skipped with the reason. With ``--clip-norm`` the Trainer
also runs with the gradient transform ``clip_norm`` (row "minifc Trainer + clip_norm"); its entry in the
Trainer's speed-up column is the Trainer's speed over it, the cost of clipping (> 1: clipping costs time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import bf16
import memory
import overhead
import torch
from common import (
    CONFIGS,
    add_machine_args,
    alternate,
    apply_machine_args,
    cpu_name,
    describe_machine,
    first_calls,
    fmt_bytes,
    fmt_ratio,
    make_data,
    print_table,
    ratio_stats,
    step_flops,
    timed,
)
from equivalence import CHECKED, check_equivalence
from sides import LABELS, MINIFC_SIDES, REFERENCES, Unavailable, build_side

FIRST_CALLS = 3  # timed on their own (a compiled step compiles, and may recompile once state exists)
COMPILED_TOLERANCE = 1e-4  # on the loss (about 2.3) of the first steps, float32


def build_sides(cfg, data, device, dtype, names, gather) -> tuple[dict, dict[str, str], dict[str, tuple]]:
    """(sides, skipped {name: reason}, {name: (wall seconds, losses) of its first calls}). A reference
    whose construction or first calls fail is skipped; a minifc side's failure is an error."""
    sides, skipped, first = {}, {}, {}
    for name in names:
        try:
            sides[name] = build_side(name, cfg, data, device, dtype, gather)
        except Unavailable as e:
            skipped[name] = str(e)
            continue
        try:
            first[name] = first_calls(sides[name].step, FIRST_CALLS, device)
        except Exception as e:  # e.g. torch.compile without a working C compiler
            if name not in REFERENCES:
                raise
            skipped[name] = _reason(e)
            del sides[name]
    return sides, skipped, first


def _reason(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:200]}" if lines else type(e).__name__


def compiled_check(cfg, losses: list[float], reference: list[float]) -> str:
    """The compiled step is not run again in float64: its first losses (float32 here) against torch's."""
    if cfg.dropout:
        return "n/a (dropout masks differ)"
    diff = max(abs(a - b) for a, b in zip(losses, reference, strict=True))
    verdict = "ok" if diff < COMPILED_TOLERANCE else "MISMATCH"
    return f"{verdict} (max |dloss| {diff:.1e} over its first {len(losses)} steps, in the benchmark's dtype)"


def run_config(name: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict:
    cfg = CONFIGS[name]
    data = make_data(device, dtype, cfg=cfg)
    clip = ["trainer-clip"] if args.clip_norm else []
    sides, skipped, first = build_sides(cfg, data, device, dtype, [*args.minifc, *clip, *args.references, "mm"],
                                        args.torch_gather)
    for side in sides.values():
        timed(side.step, args.warmup, device)
    times = alternate({k: s.step for k, s in sides.items()}, args.repeats, args.steps, device)

    flops = step_flops(cfg)
    mm_gflops = flops / statistics.median(times["mm"]) / 1e9
    checks = {}
    if args.check:
        checks = {"torch": "reference", **check_equivalence(cfg, device, tuple(n for n in CHECKED if n in sides))}
        if "torch-compile" in first and "torch" in first:
            checks["torch-compile"] = compiled_check(cfg, first["torch-compile"][1], first["torch"][1])
    result = {"config": name, "dims": cfg.dims, "batch_size": cfg.batch_size, "update_rule": cfg.update_rule,
              "dropout": cfg.dropout, "flops_per_step": flops, "skipped": skipped, "sides": {}, "speedups": {}}
    for side_name, side_times in times.items():
        sec = statistics.median(side_times)
        entry = {"steps_per_s": 1.0 / sec, "gflops": flops / sec / 1e9, "mm_fraction": flops / sec / 1e9 / mm_gflops}
        if side_name == "torch-compile":
            entry["compile_s"] = max(first[side_name][0] - FIRST_CALLS * sec, 0.0)
        if side_name in checks:
            entry["check"] = checks[side_name]
        if args.memory and side_name in memory.SIDES:
            entry["peak_bytes"] = memory.measure(name, side_name, args.memory_steps, args.device, args.dtype,
                                                 args.torch_gather)
        result["sides"][side_name] = entry
    references = [r for r in REFERENCES if r in times]
    if references:
        best = min(references, key=lambda r: statistics.median(times[r]))
        per_turn = [min(turn) for turn in zip(*(times[r] for r in references), strict=True)]
        result["fastest_reference"] = best
        for m in (m for m in MINIFC_SIDES if m in times):
            speedups = {r: ratio_stats(times[r], times[m]) for r in references}
            speedups["fastest"] = speedups[best]
            speedups["fastest_per_turn"] = ratio_stats(per_turn, times[m])
            result["speedups"][m] = speedups
    if "trainer-clip" in times and "trainer" in times:  # the cost of clip_norm: > 1 when clipping takes time
        result["speedups"].setdefault("trainer", {})["trainer-clip"] = ratio_stats(times["trainer-clip"],
                                                                                  times["trainer"])
    return result


def table_rows(r: dict, minifc_sides: list[str]) -> list[list[str]]:
    """One row per side of a config, then the fastest reference (by median, and per turn), then the
    skipped references."""
    rows = []
    for side, e in r["sides"].items():
        label = LABELS[side]
        if "compile_s" in e:
            label += f" (compile {e['compile_s']:.1f} s)"
        rows.append([r["config"], label, f"{e['steps_per_s']:.1f}", f"{e['gflops']:.1f}",
                     f"{100 * e['mm_fraction']:.0f}%",
                     *(fmt_ratio(r["speedups"].get(m, {}).get(side)) for m in minifc_sides),
                     fmt_bytes(e["peak_bytes"]) if "peak_bytes" in e else "", e.get("check", "")])
    if "fastest_reference" in r:
        for key, label in (("fastest", f"fastest reference ({LABELS[r['fastest_reference']]})"),
                           ("fastest_per_turn", "fastest reference per turn (lower bound)")):
            rows.append([r["config"], label, "", "", "",
                         *(fmt_ratio(r["speedups"].get(m, {}).get(key)) for m in minifc_sides), "", ""])
    for side, reason in r["skipped"].items():
        rows.append([r["config"], LABELS[side], "skipped", "", "", *("" for _ in minifc_sides), "", reason])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_machine_args(parser)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), metavar="NAME",
                        help=f"configs to run (default all: {', '.join(CONFIGS)})")
    parser.add_argument("--minifc", nargs="+", default=list(MINIFC_SIDES), choices=list(MINIFC_SIDES),
                        metavar="SIDE", help="minifc sides (default: trainer classic)")
    parser.add_argument("--references", nargs="*", default=list(REFERENCES), choices=list(REFERENCES),
                        metavar="REF", help=f"torch references (default all: {' '.join(REFERENCES)})")
    parser.add_argument("--repeats", type=int, default=9, help="turns of all sides (default 9)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per side and turn (default 20)")
    parser.add_argument("--warmup", type=int, default=10,
                        help=f"warm-up steps per side (default 10), after {FIRST_CALLS} first calls")
    parser.add_argument("--torch-gather", choices=["index", "index_select"], default="index",
                        help="how the torch sides take their minibatch: X[idx] (default, plain torch code) or "
                        "X.index_select(0, idx) into a reused buffer (as the minifc Trainer does)")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip the float64 equivalence check of the sides")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory subprocesses")
    parser.add_argument("--memory-steps", type=int, default=4, help="training steps of each memory subprocess")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--clip-norm", action="store_true",
                        help="also time the Trainer with the gradient transform clip_norm (the cost of clipping)")
    parser.add_argument("--overhead", action="store_true",
                        help="measure the Trainer's per-epoch overhead instead (overhead.py; default config twolayer)")
    parser.add_argument("--bf16", action="store_true",
                        help="also the bf16-mixed rows (bf16.py): the Trainer in bf16-mixed against its float32 step, "
                        "torch autocast(bfloat16) + fused optimizer, and torch.compile of that step")
    overhead.add_overhead_args(parser, prefix="overhead-")
    args = parser.parse_args(argv)
    device, dtype = apply_machine_args(parser, args)

    results = []
    if args.overhead:
        print(f"{describe_machine(args)}; {args.repeats} epochs after 1 warm-up epoch")
        names = args.configs if args.configs != list(CONFIGS) else ["twolayer"]
        for name in names:
            r = overhead.run_overhead(name, args.overhead_samples, args.repeats, args.overhead_variant, device, dtype)
            results.append(r)
            print(overhead.report(r), flush=True)
    else:
        print(f"{describe_machine(args)}; {args.repeats} turns x {args.steps} steps after {args.warmup} warm-up")
        header = ["config", "side", "steps/s", "GFLOP/s", "% of mm",
                  *(f"{LABELS[m]} speed-up" for m in args.minifc), "peak mem", "check"]
        print_table(header, [])
        for name in args.configs:
            r = run_config(name, args, device, dtype)
            results.append(r)
            for row in table_rows(r, args.minifc):
                print("| " + " | ".join(row) + " |", flush=True)
    bf16_results = []
    if args.bf16 and not args.overhead:
        print(f"\nbf16-mixed: {bf16.machine_line(args)}")
        print_table(bf16.HEADER, [])
        args.sides = list(bf16.SIDES)
        for name in args.configs:
            r = bf16.run_config(name, args, device)
            bf16_results.append(r)
            for row in bf16.rows(r):
                print("| " + " | ".join(row) + " |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": cpu_name(), "bf16_flags": bf16.bf16_flags(), "torch": torch.__version__,
                       "device": str(device), "dtype": args.dtype, "threads": torch.get_num_threads(),
                       "clock": args.clock, "results": results, "bf16_results": bf16_results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
