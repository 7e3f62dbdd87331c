"""Data-parallel throughput: N processes x T threads against 1 process x N*T threads, same global batch.

    python benchmarks/distributed.py                                  # 2 x 1 vs 1 x 2, wide, adam, CPU
    python benchmarks/distributed.py --nproc 2 --threads 1 --rule sgd --bucket-cap-mb 4 --repeats 9
    python benchmarks/distributed.py --device cuda --nproc 1          # one GPU: the reducer's own cost
    python benchmarks/distributed.py --json dist.json

One training step is ``Trainer.step()`` on a fixed random data set of CIFAR shape: on every rank of
the job, this rank's minibatch (global batch / N rows), forward, loss, backward with each layer's
gradients handed to the bucketed all-reduce as it finishes, the wait for the reductions, the update.
The reference is the same Trainer in one process at the full global batch (``distributed=False``).

Runs (each in fresh processes started by ``minifc.distributed.run_local``; gloo on CPU, nccl on CUDA):

* ``1 process``: 1 x (N*T) threads, batch B;
* ``N ranks, overlap``: N x T threads, batch B/N each, bucket all-reduces launched during backward;
* ``N ranks, no overlap``: the same with ``overlap=False`` (everything reduced after backward).

The two N-rank variants run in turns in the same processes (overlap, no overlap, overlap, ...) after
a warm-up, so that a noisy machine slows both alike. Figures are medians over the turns:
samples/s = B * steps / wall time of rank 0; **ratio** = samples/s / that of the 1-process run;
**wait** = the share of step time rank 0 spent blocked in ``finish`` waiting for all-reduces (the
communication not hidden behind computation); **finish** = the share spent in ``finish`` in all
(waiting, plus launching and copying what was left, dividing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import torch
from common import checked_device

from minifc import FullyConnectedNet, Trainer
from minifc.distributed import check_in_sync, run_local

INPUT_DIM = 3 * 32 * 32


def make_loop(args: argparse.Namespace, ctx: Any, reducer_opts: dict | None):
    """(step function, model params, reducer or None) for this rank: the Trainer's own ``step()``, as
    one rank of the job (``reducer_opts`` given) or alone at the full global batch."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(args.samples, args.dims[0], generator=gen)
    y = torch.randint(args.dims[-1], (args.samples,), generator=gen)
    data = {"X_train": X, "y_train": y, "X_val": X[:256], "y_val": y[:256]}
    torch.manual_seed(1)  # the same initial weights everywhere (rank 0's are broadcast anyway)
    dims = args.dims
    model = FullyConnectedNet(dims[1:-1], input_dim=dims[0], num_classes=dims[-1], weight_scale=0.02)
    distributed = ctx if reducer_opts is not None else False
    trainer = Trainer(model, data, update_rule=args.rule, optim_config={"learning_rate": args.lr},
                      batch_size=args.batch, device=ctx.device, seed=0, verbose=False, distributed=distributed,
                      **(reducer_opts or {}))
    reducer = getattr(trainer.gradient_hooks, "reducer", None)
    return trainer.step, trainer.model.params, reducer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rank_main(ctx, args: argparse.Namespace, variants: list[str]) -> dict:
    """Run on every rank: warm up, then time ``steps`` steps per variant in turns."""
    loops = {}
    for v in variants:
        opts = None if v == "single" else {"bucket_cap_mb": args.bucket_cap_mb, "overlap": v == "overlap"}
        loops[v] = make_loop(args, ctx, opts)
    times: dict[str, list[float]] = {v: [] for v in variants}
    waits: dict[str, list[float]] = {v: [] for v in variants}
    finishes: dict[str, list[float]] = {v: [] for v in variants}
    for v in variants:
        for _ in range(args.warmup):
            loops[v][0]()
    for _ in range(args.repeats):
        for v in variants:
            step, _, reducer = loops[v]
            if reducer is not None:
                reducer.reset_stats()
            _sync(ctx.device)
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            _sync(ctx.device)
            times[v].append(time.perf_counter() - start)
            waits[v].append(reducer.stats.wait_s if reducer else 0.0)
            finishes[v].append(reducer.stats.finish_s if reducer else 0.0)
    for v in variants:
        if loops[v][2] is not None:
            check_in_sync(loops[v][1], step=0)  # the ranks trained the same model
    buckets = {v: [round(b.nbytes / 2**20, 2) for b in loops[v][2].buckets] for v in variants if loops[v][2]}
    return {"times": times, "waits": waits, "finishes": finishes, "buckets": buckets}


def summarize(result: dict, variant: str, args: argparse.Namespace) -> dict:
    times = result["times"][variant]
    rates = [args.batch * args.steps / t for t in times]
    wait = [w / t for w, t in zip(result["waits"][variant], times, strict=True)]
    finish = [f / t for f, t in zip(result["finishes"][variant], times, strict=True)]
    return {
        "samples_per_s": statistics.median(rates),
        "samples_per_s_min": min(rates),
        "samples_per_s_max": max(rates),
        "wait_share": statistics.median(wait),
        "finish_share": statistics.median(finish),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nproc", type=int, default=2, help="ranks N")
    p.add_argument("--threads", type=int, default=1, help="threads T per rank (the reference gets N*T)")
    p.add_argument("--dims", default="3072,1024,1024,10", help="layer widths, input first (default: wide)")
    p.add_argument("--batch", type=int, default=256, help="global batch B (each rank: B/N)")
    p.add_argument("--rule", default="adam", choices=["sgd", "sgd_momentum", "adam"], help="update rule")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--bucket-cap-mb", type=float, default=4.0, help="GradReducer bucket cap (MiB)")
    p.add_argument("--samples", type=int, default=4096, help="size of the random data set")
    p.add_argument("--steps", type=int, default=10, help="steps per timed turn")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per variant first")
    p.add_argument("--repeats", type=int, default=5, help="timed turns per variant")
    p.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (nccl, one GPU per rank)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds for each run before it is killed")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    args.dims = [int(d) for d in args.dims.split(",")]
    if args.dims[0] != INPUT_DIM:
        print(f"note: input width {args.dims[0]} (CIFAR is {INPUT_DIM})", file=sys.stderr)
    if args.batch % args.nproc:
        p.error(f"--batch {args.batch} is not divisible by --nproc {args.nproc}")
    device = checked_device(p, args.device)
    if device.type == "cuda" and torch.cuda.device_count() < args.nproc:
        p.error(f"--device cuda: --nproc {args.nproc} needs one GPU per rank, this machine has "
                f"{torch.cuda.device_count()}")
    args.device = device.type  # each rank picks its own GPU
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n, t = args.nproc, args.threads
    common = {"device": args.device, "timeout": args.timeout, "pg_timeout": min(args.timeout, 300.0)}
    (ref,) = run_local(rank_main, 1, (args, ["single"]), threads=n * t, **common)
    ranks = run_local(rank_main, n, (args, ["overlap", "no-overlap"]), threads=t, **common)
    single = summarize(ref.value, "single", args)
    rows = [("1 process", f"1 x {n * t}", args.batch, single)]
    for v in ("overlap", "no-overlap"):
        rows.append((f"{n} ranks, {v}", f"{n} x {t}", args.batch // n, summarize(ranks[0].value, v, args)))
    dims = "-".join(map(str, args.dims))
    print(
        f"{dims}, global batch {args.batch}, {args.rule}, {args.device}, bucket cap {args.bucket_cap_mb:g} MiB "
        f"(buckets {ranks[0].value['buckets']['overlap']} MiB), {args.repeats} turns x {args.steps} steps"
    )
    print("| run | processes x threads | batch per rank | samples/s (min-max) | ratio | wait | finish |")
    print("|---|---|---:|---|---:|---:|---:|")
    for name, layout, per_rank, s in rows:
        ratio = s["samples_per_s"] / single["samples_per_s"]
        rate = f"{s['samples_per_s']:.0f} ({s['samples_per_s_min']:.0f}-{s['samples_per_s_max']:.0f})"
        comm = ("-", "-") if name == "1 process" else (f"{s['wait_share']:.1%}", f"{s['finish_share']:.1%}")
        print(f"| {name} | {layout} | {per_rank} | {rate} | {ratio:.2f} | {comm[0]} | {comm[1]} |")
    if args.json:
        out = {"args": {k: v for k, v in vars(args).items() if k != "json"}, "rows": [r[:3] + (r[3],) for r in rows]}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
