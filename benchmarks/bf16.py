"""bf16-mixed training-step throughput: the minifc Trainer with ``precision="bf16-mixed"`` against its own
float32 step, torch with ``autocast(bfloat16)`` and a fused optimizer, and ``torch.compile`` of that step.

    python benchmarks/throughput.py --bf16                        # the bf16 rows of every config (CPU)
    python benchmarks/bf16.py --configs wide --repeats 5          # the same, on its own
    python benchmarks/bf16.py --configs tiny --repeats 1 --steps 2 --warmup 1   # seconds: does it run?

Sides, run in turns like throughput.py's: ``trainer`` (float32), ``trainer-bf16`` (bf16-mixed),
``autocast`` (torch.nn + autocast(bfloat16) + the rule's fused torch.optim form), ``autocast-compile``
(that step under torch.compile) and ``mm-bf16`` (the bare bfloat16 matrix products of one step, in
minifc's layout), the yardstick of "% of bf16 mm": the share of this machine's bfloat16 product throughput
a side reaches. Speed-ups are the median over the turns of (side's time per step) / (trainer-bf16's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as TF
from common import (
    CONFIGS,
    PermutationSampler,
    add_machine_args,
    alternate,
    apply_machine_args,
    cpu_name,
    describe_machine,
    first_calls,
    fmt_ratio,
    layer_shapes,
    make_data,
    make_model,
    print_table,
    ratio_stats,
    step_flops,
    timed,
)
from sides import Side, Unavailable, make_trainer, minifc_weights, torch_net, torch_optimizer

SIDES = ("trainer", "trainer-bf16", "autocast", "autocast-compile", "mm-bf16")
LABELS = {
    "trainer": "minifc Trainer, float32",
    "trainer-bf16": "minifc Trainer, bf16-mixed",
    "autocast": "torch autocast(bf16) + fused optimizer",
    "autocast-compile": "torch.compile(autocast(bf16) step)",
    "mm-bf16": "bfloat16 matmul only",
}
FIRST_CALLS = 3


def bf16_flags() -> str:
    """The CPU flags that decide whether bfloat16 products are fast: amx_bf16, avx512_bf16 (or 'none')."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text(errors="replace").split())
    except OSError:
        return "unknown"
    return ", ".join(f for f in ("amx_bf16", "avx512_bf16") if f in flags) or "none"


def autocast_side(cfg, data: dict, device: torch.device, compiled: bool, seed: int = 0) -> Side:
    """torch.nn + autograd with autocast(bfloat16) and the rule's fused torch.optim form (float32 weights)."""
    init = make_model(cfg, device, torch.float32, seed)
    net = torch_net(cfg, init)
    try:
        opt = torch_optimizer(cfg, net.parameters(), fused=True)
    except (RuntimeError, ValueError, TypeError) as e:
        raise Unavailable(f"{type(e).__name__}: {str(e).splitlines()[0]}") from None

    def train_step(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            scores = net(X)
        loss = TF.cross_entropy(scores.float(), y)
        loss.backward()
        opt.step()
        return loss.detach()

    if compiled:
        torch.compiler.reset()
        train_step = torch.compile(train_step)
    sampler = PermutationSampler(data["X_train"], data["y_train"], cfg.batch_size, seed, "index")
    count = [0]

    def step() -> float:
        X, y = sampler.next_batch(count[0])
        count[0] += 1
        return train_step(X, y).item()

    return Side(step, lambda: [], keep=init)


def mm_bf16_side(cfg, device: torch.device) -> Side:
    """The bfloat16 matrix products of one step: forward, dW and dx (none for the first layer)."""
    work = []
    for i, (n, d_in, d_out) in enumerate(layer_shapes(cfg)):
        x, w = torch.randn(n, d_in, device=device).bfloat16(), torch.randn(d_in, d_out, device=device).bfloat16()
        dout = torch.randn(n, d_out, device=device).bfloat16()
        work.append((x, w, torch.empty(n, d_out, device=device, dtype=torch.bfloat16)))
        work.append((x.t(), dout, torch.empty(d_in, d_out, device=device, dtype=torch.bfloat16)))
        if i > 0:
            work.append((dout, w.t(), torch.empty(n, d_in, device=device, dtype=torch.bfloat16)))

    def step() -> None:
        for a, b, out in work:
            torch.mm(a, b, out=out)

    return Side(step, lambda: [])


def build(name: str, cfg, data: dict, device: torch.device) -> Side:
    if name == "trainer":
        trainer = make_trainer(cfg, data, device, torch.float32)
        return Side(trainer.step, minifc_weights(trainer.model))
    if name == "trainer-bf16":
        trainer = make_trainer(cfg, data, device, torch.float32, precision="bf16-mixed")
        return Side(trainer.step, minifc_weights(trainer.model))
    if name == "mm-bf16":
        return mm_bf16_side(cfg, device)
    return autocast_side(cfg, data, device, compiled=name == "autocast-compile")


def run_config(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    cfg = CONFIGS[name]
    data = make_data(device, torch.float32, cfg=cfg)
    sides, skipped = {}, {}
    for side in args.sides:
        try:
            sides[side] = build(side, cfg, data, device)
            first_calls(sides[side].step, FIRST_CALLS, device)
        except Exception as e:  # noqa: BLE001 - e.g. torch.compile without a working C compiler
            if side.startswith("trainer"):
                raise
            skipped[side] = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"
            sides.pop(side, None)
    for side in sides.values():
        timed(side.step, args.warmup, device)
    times = alternate({k: s.step for k, s in sides.items()}, args.repeats, args.steps, device)
    flops = step_flops(cfg)
    mm = flops / statistics.median(times["mm-bf16"]) / 1e9 if "mm-bf16" in times else float("nan")
    result = {"config": name, "flops_per_step": flops, "skipped": skipped, "sides": {}}
    for side, side_times in times.items():
        gflops = flops / statistics.median(side_times) / 1e9
        entry = {"steps_per_s": 1.0 / statistics.median(side_times), "gflops": gflops, "bf16_mm_fraction": gflops / mm}
        if "trainer-bf16" in times:
            entry["trainer_bf16_speedup"] = ratio_stats(side_times, times["trainer-bf16"])
        result["sides"][side] = entry
    return result


def rows(r: dict) -> list[list[str]]:
    out = [[r["config"], LABELS[s], f"{e['steps_per_s']:.1f}", f"{e['gflops']:.1f}",
            f"{100 * e['bf16_mm_fraction']:.0f}%", fmt_ratio(e.get("trainer_bf16_speedup"))]
           for s, e in r["sides"].items()]
    return out + [[r["config"], LABELS[s], "skipped", "", "", why] for s, why in r["skipped"].items()]


HEADER = ["config", "side", "steps/s", "GFLOP/s", "% of bf16 mm", "bf16-mixed Trainer speed-up"]


def machine_line(args: argparse.Namespace) -> str:
    return f"{describe_machine(args)}; bf16 CPU flags: {bf16_flags()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_machine_args(parser)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), metavar="NAME")
    parser.add_argument("--sides", nargs="+", default=list(SIDES), choices=list(SIDES), metavar="SIDE")
    parser.add_argument("--repeats", type=int, default=9, help="turns of all sides (default 9)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per side and turn (default 20)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up steps per side (default 10)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    device, _ = apply_machine_args(parser, args)
    print(f"{machine_line(args)}; {args.repeats} turns x {args.steps} steps after {args.warmup} warm-up")
    print_table(HEADER, [])
    results = []
    for name in args.configs:
        r = run_config(name, args, device)
        results.append(r)
        for row in rows(r):
            print("| " + " | ".join(row) + " |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": cpu_name(), "bf16_flags": bf16_flags(), "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
