"""Test-time views of a trained ``best`` model, measured again on the VALIDATION split without training again.

    python benchmarks/views.py --model runs/best/model.pt --data DIR
    python benchmarks/views.py --model runs/best/model.pt --data DIR --radius 2 --num-val 2000

Reads the ``model.pt`` a run of ``minifc example best`` wrote (:mod:`minifc_recipes.saved`), scores every
view of each validation image (shifts by (dy, dx) in [-R, R]^2, each also mirrored; R = ``--radius``),
then prints the accuracy of the scores averaged over several grids of views: the image alone, with its
mirror, the 3 x 3 grids {-s, 0, s}^2 the recipe uses (``tta_shift`` s, with mirrors: 18 views), and
the dense grids [-r, r]^2 (with mirrors). The test split is never read.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from common import checked_device
from minifc_recipes import ProjectedViews
from minifc_recipes.saved import load_model

from minifc.data import load_cifar10
from minifc.models import Classifier

Key = tuple[int, int, bool]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="the model.pt of a `minifc example best` run")
    p.add_argument("--data", default=os.environ.get("MINIFC_DATA"), help="CIFAR-10 folder (default: $MINIFC_DATA)")
    p.add_argument("--radius", type=int, default=4, help="the largest shift measured, in pixels [4]")
    p.add_argument("--num-val", type=int, default=None, help="the first N validation images only")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    if not args.data:
        p.error("--data DIR (or $MINIFC_DATA) is needed")
    if args.radius < 1:
        p.error(f"--radius must be >= 1, got {args.radius}")
    args.device = str(checked_device(p, args.device))
    return args


@torch.no_grad()
def view_scores(model: Classifier, views, X: torch.Tensor, keys: list[Key], batch_size: int = 1000) -> torch.Tensor:
    """Scores (V, N, C) of every view in ``keys`` of the rows X (N, D)."""
    out = []
    for dy, dx, flip in keys:
        batches = range(0, len(X), batch_size)
        out.append(torch.cat([Classifier.loss(model, views(X[i : i + batch_size], dy, dx, flip)) for i in batches]))
    return torch.stack(out)


def grids(radius: int) -> dict[str, list[Key]]:
    """Named grids of views: 1, 2 (with the mirror), 3 x 3 {-s, 0, s}^2 and dense [-r, r]^2 (with mirrors)."""
    flips = (False, True)
    named = {"1 (the image)": [(0, 0, False)], "2 (and its mirror)": [(0, 0, False), (0, 0, True)]}
    for s in range(1, radius + 1):
        named[f"18: shifts {{-{s}, 0, {s}}}^2, mirrored"] = [
            (dy, dx, f) for dy in (0, -s, s) for dx in (0, -s, s) for f in flips
        ]
    for r in range(2, radius + 1):
        span = range(-r, r + 1)
        named[f"{2 * (2 * r + 1) ** 2}: shifts [-{r}, {r}]^2, mirrored"] = [
            (dy, dx, f) for dy in span for dx in span for f in flips
        ]
    return named


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    saved = load_model(args.model, args.device)
    data = load_cifar10(args.data)
    X, y = data["X_val"], data["y_val"]
    if args.num_val is not None:
        X, y = X[: args.num_val], y[: args.num_val]
    X, y = saved.inputs(X.to(args.device)), y.to(args.device)
    named = grids(args.radius)
    keys = sorted({key for grid in named.values() for key in grid})
    views = saved.model.views
    if isinstance(views, ProjectedViews) and views.padding < args.radius:
        # projected rows have the shifts their maps were built for: build the wider ones
        views = ProjectedViews(saved.preprocessing, padding=args.radius, flip=True)
    scores = view_scores(saved.model, views, X, keys)
    index = {key: i for i, key in enumerate(keys)}
    r = saved.recipe
    print(f"{args.model}: {r.tier or 'custom'} ({r.depth} x {r.width}, tta_shift {r.tta_shift}); "
          f"{len(y)} validation images, {len(keys)} views scored\n")
    print("| views averaged | validation accuracy |\n|---|---|")
    for name, grid in named.items():
        mean = scores[[index[key] for key in grid]].mean(0)
        print(f"| {name} | {(mean.argmax(1) == y).float().mean().item():.2%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
