"""What each ingredient of ``minifc example best`` adds, on the VALIDATION split, at a fixed number of epochs.

    python benchmarks/ablation.py --data DIR --tier pca256-1x1024 --epochs 8 \\
        --variants "" padding=0 "padding=0,flip=false" mixup=0.2 smoothing=0
    python benchmarks/ablation.py --data DIR --tier pca384-1x2048 --epochs 12 --threads 1 \
        --variants "" depth=2,width=1024

Each variant is a set of recipe settings (``key=value,key=value``; ``""`` is the tier as it is) applied on
top of ``--tier``; all variants train in this process on the same data for ``--epochs`` epochs (no time
budget: a fixed number of epochs compares ingredients alone, whatever the machine's load), and the
table gives validation accuracy with one view, with the mirror, and with all of the tier's views
(the best-validation parameters of the run), the difference to the first variant, and the training
seconds (a noisy guide on a shared machine). The test split is never reported here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from common import checked_device

from minifc.cli.commands.example import parse_settings
from minifc.data import load_cifar10
from minifc.experiments.example_options import ExampleOptions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.environ.get("MINIFC_DATA"), help="CIFAR-10 folder (default: $MINIFC_DATA)")
    p.add_argument("--tier", required=True, help="the recipe tier the variants start from (minifc_recipes.TIERS)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--num-train", type=int, default=None, help="the first N training images only")
    p.add_argument("--variants", nargs="+", default=[""],
                   help='recipe settings per variant, e.g. "padding=0,mixup=0.2"')
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (1 is steadier on a busy machine)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not args.data:
        p.error("--data DIR (or $MINIFC_DATA) is needed")
    args.device = str(checked_device(p, args.device))
    return args


def run_variant(data: dict[str, torch.Tensor], args: argparse.Namespace, variant: str, out: Path) -> dict[str, Any]:
    from minifc_recipes.best import best

    settings = parse_settings([item for item in variant.split(",") if item.strip()])
    recipe = {**settings, "tier": args.tier}
    options = ExampleOptions(out=out, epochs=args.epochs, num_train=args.num_train, device=args.device,
                             seed=args.seed, verbose=False, budget=24 * 3600.0,
                             extra={"recipe": recipe, "started_at": time.time()})
    row = best(data, options)["rows"][0]
    return {"variant": variant or "(the tier)", "val": row["val_acc_by_views"], "best_val": row["best_val_acc"],
            "epochs": row["epochs"], "train_seconds": row["train_seconds"]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_cifar10(args.data)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, variant in enumerate(args.variants):
            rows.append(run_variant(data, args, variant, Path(tmp) / str(i)))
            r = rows[-1]
            print(f"{r['variant']}: validation {', '.join(f'{v} views {a:.2%}' for v, a in r['val'].items())} "
                  f"({r['train_seconds']:.0f} s)", flush=True)
    counts = sorted({v for r in rows for v in r["val"]})
    print(f"\n{args.tier}, {args.epochs} epochs" + (f", {args.num_train} training images" if args.num_train else "")
          + f", {torch.get_num_threads()} threads, seed {args.seed}; validation accuracy\n")
    print("| variant | " + " | ".join(f"{v} view{'s' if v > 1 else ''}" for v in counts) + " | change (1 view) "
          "| training s |")
    print("|---|" + "---|" * (len(counts) + 2))
    base = rows[0]["val"][1]
    for r in rows:
        cells = [f"{r['val'][v]:.2%}" if v in r["val"] else "-" for v in counts]
        print(f"| {r['variant']} | " + " | ".join(cells) + f" | {(r['val'][1] - base) * 100:+.2f} | "
              f"{r['train_seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
