"""CIFAR-10 test accuracy at every time budget: ``minifc example best --budget B``, one process per budget.

    python benchmarks/budget.py --data DIR                                # 20 s, 1, 2, 5 and 15 minutes
    python benchmarks/budget.py --data DIR --budgets 20 60 --out runs/budget-short
    python benchmarks/budget.py --data DIR --budgets 60 --set recipe.mixup=0.2   # a setting for every run
    python benchmarks/budget.py --smoke                                   # tiny synthetic data, 10 s

Each budget runs ``python -m minifc example best --budget B`` as its own process, so that B counts the
whole run from the start of the process (Python and torch start-up, data loading, whitening, training
and the final evaluation); the decoded-image cache is warmed first by a process of its own. The
recipe picks its settings for the budget on the validation split only and evaluates the test split
once, at the end: with one view per image and with the views chosen on validation.

Writes to ``--out`` (default ``runs/budget``): ``budget-<B>s/`` (each run's ``summary.json``, plot
and ``log.txt``), ``budget.md`` (the table, also printed), ``budget.json`` and ``accuracy_vs_budget.png``
(test accuracy against the budget, one view and the chosen views).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from common import checked_device

TARGETS = {20: 0.54, 60: 0.62, 900: 0.75}  # the recipe's targets (test accuracy, chosen views), for the plot


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=None, help="CIFAR-10 folder (default: $MINIFC_DATA); not with --smoke")
    p.add_argument("--budgets", type=float, nargs="+", default=None, metavar="SECONDS",
                   help="budgets in seconds (default: 20 60 120 300 900; with --smoke: 10)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda, mps, auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/budget", help="folder for the runs, table and plot [runs/budget]")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to every run as minifc example best --set KEY=VALUE")
    p.add_argument("--smoke", action="store_true",
                   help="a tiny synthetic CIFAR-10 (1,000 training images) and a 10 s budget: checks the plumbing")
    args = p.parse_args(argv)
    if args.smoke and args.data:
        p.error("--smoke makes its own tiny data set; leave out --data")
    if not args.smoke and not (args.data or os.environ.get("MINIFC_DATA")):
        p.error("--data DIR (or $MINIFC_DATA) is needed")
    if args.budgets is None:
        args.budgets = [10.0] if args.smoke else [20.0, 60.0, 120.0, 300.0, 900.0]
    if any(b <= 0 for b in args.budgets):
        p.error(f"--budgets must be > 0 seconds, got {args.budgets}")
    args.device = str(checked_device(p, args.device))
    return args


def write_tiny_cifar(root: Path, per_batch: int = 200, n_test: int = 200, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py`` with 5 x ``per_batch`` training and ``n_test`` test images, each class a
    smooth colour pattern plus noise (a small net learns it). Returns ``root``."""
    import numpy as np
    import torch

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    patterns = torch.nn.functional.interpolate(torch.rand(10, 3, 4, 4, generator=g), size=(32, 32), mode="bilinear")
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        labels = torch.randint(10, (n,), generator=g)
        images = patterns[labels] * 160 + torch.rand(n, 3, 32, 32, generator=g) * 95
        batch = {b"labels": labels.tolist(), b"data": np.asarray(images.reshape(n, 3072).to(torch.uint8).numpy())}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=4)
    return root


def warm_cache(data: str, env: dict[str, str]) -> float:
    """Load the data set once in a process of its own (filling the decoded-image cache); returns seconds."""
    start = time.time()
    code = "import sys; from minifc.data import load_cifar10; load_cifar10(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, data], check=True, env=env)
    return time.time() - start


def run_budget(budget: float, args: argparse.Namespace, data: str, out: Path, env: dict[str, str]) -> dict[str, Any]:
    """One ``minifc example best --budget`` process; its summary row plus the process's wall seconds."""
    cmd = [sys.executable, "-m", "minifc", "example", "best", "--budget", f"{budget:g}", "--data", data,
           "--out", str(out), "--device", args.device, "--seed", str(args.seed), "--force"]
    for setting in args.settings:
        cmd += ["--set", setting]
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(out / "log.txt", "w") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    wall = time.time() - start
    if done.returncode != 0:
        tail = (out / "log.txt").read_text().strip().splitlines()[-5:]
        raise SystemExit(f"budget {budget:g} s: `{' '.join(cmd)}` failed ({done.returncode}):\n" + "\n".join(tail))
    row = json.loads((out / "summary.json").read_text())["rows"][0]
    return {"budget": budget, "process_seconds": round(wall, 1), **row}


def fmt_budget(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 120 and seconds % 60 == 0 else f"{seconds:g} s"


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the runs."""
    head = ["budget", "settings (tier)", "epochs", "test, 1 view", "test, chosen views", "validation, 1 / chosen",
            "seconds (run / process)", "load average"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        val = r["val_acc_by_views"]
        lines.append("| " + " | ".join([
            fmt_budget(r["budget"]),
            r["tier"],
            f"{r['epochs']:.1f}",
            f"{r['test_acc_single_view']:.2%}",
            f"{r['test_acc_multi_view']:.2%} ({r['multi_views']})",
            f"{val['1']:.2%} / {val[str(r['multi_views'])]:.2%}",
            f"{r['seconds']:.1f} / {r['process_seconds']:.1f}",
            " -> ".join(str(x) for x in r["load_average"]),
        ]) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """Test accuracy (one view, chosen views) against the budget, log scale, with the targets."""
    from minifc.io.plots import have_matplotlib, pyplot, save_figure

    if not have_matplotlib():
        print("(matplotlib is not installed: no plot; pip install 'minifc[plots]')")
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    budgets = [r["budget"] for r in rows]
    ax.plot(budgets, [r["test_acc_multi_view"] for r in rows], "-o", label="test, views chosen on validation")
    ax.plot(budgets, [r["test_acc_single_view"] for r in rows], "-s", label="test, one view per image")
    ax.plot(list(TARGETS), list(TARGETS.values()), "k_", markersize=18, mew=2, label="targets")
    ax.set_xscale("log")
    ticks = sorted(set(budgets) | set(TARGETS))
    ax.set_xticks(ticks, [fmt_budget(b) for b in ticks])
    ax.minorticks_off()
    ax.set_xlabel("budget: wall clock from the start of the process (start-up, data, training, evaluation)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        data = str(write_tiny_cifar(Path(tmp))) if args.smoke else (args.data or env["MINIFC_DATA"])
        print(f"warming the decoded-image cache: {warm_cache(data, env):.1f} s", flush=True)
        rows = []
        for budget in args.budgets:
            row = run_budget(budget, args, data, out / f"budget-{budget:g}s", env)
            print(f"{fmt_budget(budget)}: test {row['test_acc_single_view']:.2%} (1 view), "
                  f"{row['test_acc_multi_view']:.2%} ({row['multi_views']} views), {row['epochs']:.1f} epochs, "
                  f"{row['process_seconds']:.1f} s", flush=True)
            rows.append(row)
    import torch
    from common import cpu_name

    device = args.device
    if device.startswith("cuda") and torch.cuda.is_available():
        device += f" ({torch.cuda.get_device_name(torch.device(device))})"
    machine = (f"{cpu_name()}, torch {torch.__version__}, "
               f"device {device}, {date.today().isoformat()}")
    text = table(rows)
    print(text)
    (out / "budget.md").write_text(f"{text}\n\n{machine}; settings: {' '.join(args.settings) or 'the tiers'}\n")
    (out / "budget.json").write_text(json.dumps({"machine": machine, "settings": args.settings, "rows": rows},
                                                indent=1))
    data_name = "a tiny synthetic data set (--smoke)" if args.smoke else "CIFAR-10"
    png = plot(rows, out / "accuracy_vs_budget.png", f"minifc example best --budget B on {data_name}\n{machine}")
    print(f"table: {out / 'budget.md'}" + (f"\nplot: {png}" if png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
