"""The softmax loss alone: minifc's ``softmax_loss`` against the same math on torch's one-kernel
``log_softmax`` over the class axis, in alternating turns in one process.

    python benchmarks/loss.py                                       # batches 100, 256, 512; 10 and 100 classes
    python benchmarks/loss.py --threads 1 --clock cpu --batches 100 512 --classes 10

The reference is what ``softmax_loss`` computes, written the direct way: the same label check, then
``log_softmax(x, dim=1)``, gather the correct class for the loss, ``exp`` minus one at the correct
class over N for the gradient. Both sides return ``(loss, dx)`` with dx an ordinary (N, C) tensor; their values are
checked to agree before timing. A speed-up above 1 means minifc's call is faster.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from common import (
    add_machine_args,
    alternate,
    apply_machine_args,
    describe_machine,
    fmt_ratio,
    print_table,
    ratio_stats,
)

from minifc.errors import check_labels
from minifc.functional import softmax_loss


def one_kernel_loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: x (N, C) scores, y (N,) int64 labels -> (0-dim loss, dx (N, C)); the labels are
    checked as minifc checks them, so that the sides differ only in how they form the log-softmax."""
    y = check_labels(x, y, "one_kernel_loss", values=x.device.type != "cpu")  # CPU gather checks the range
    n = x.shape[0]
    log_probs = torch.log_softmax(x, dim=1)
    cols = y.unsqueeze(1)
    loss = log_probs.gather(1, cols).sum().div_(-n)
    return loss, log_probs.exp_().scatter_(1, cols, -1.0, reduce="add").div_(n)


def run_case(n: int, c: int, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> list[str]:
    g = torch.Generator().manual_seed(n * 1000 + c)
    x = (torch.randn(n, c, generator=g, dtype=dtype) * 3).to(device)
    y = torch.randint(c, (n,), generator=g).to(device)
    (loss, dx), (ref_loss, ref_dx) = softmax_loss(x, y), one_kernel_loss(x, y)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(loss, ref_loss, rtol=tol, atol=tol)
    torch.testing.assert_close(dx, ref_dx, rtol=tol, atol=tol)
    sides = {"minifc": lambda: softmax_loss(x, y), "reference": lambda: one_kernel_loss(x, y)}
    alternate(sides, 3, args.calls, device)  # warm-up
    times = alternate(sides, args.repeats, args.calls, device)
    us = {k: 1e6 * statistics.median(v) for k, v in times.items()}
    return [str(n), str(c), f"{us['minifc']:.1f}", f"{us['reference']:.1f}",
            fmt_ratio(ratio_stats(times["reference"], times["minifc"]))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_machine_args(parser)
    parser.add_argument("--batches", type=int, nargs="+", default=[100, 256, 512], metavar="N")
    parser.add_argument("--classes", type=int, nargs="+", default=[10, 100], metavar="C")
    parser.add_argument("--repeats", type=int, default=15, help="alternating turns (default 15)")
    parser.add_argument("--calls", type=int, default=200, help="calls per side per turn (default 200)")
    args = parser.parse_args(argv)
    device, dtype = apply_machine_args(parser, args)
    print(describe_machine(args) + f"; {args.repeats} turns x {args.calls} calls")
    rows = [run_case(n, c, args, device, dtype) for c in args.classes for n in args.batches]
    print_table(["batch", "classes", "minifc us/call", "one-kernel us/call", "minifc speed-up"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
