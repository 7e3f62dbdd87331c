"""The recipe's inputs: the splits whitened (ZCA) or projected (PCA) as a :class:`Recipe` says, the views
of projected rows for test-time averaging, and the training batches' augmentation (crops and mirrors,
or random warps)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from minifc.data.augment import crop_flip

from .pca import Projection, fit_pca
from .preprocess import Whitening, fit_zca
from .recipe import Recipe
from .views import ProjectedViews, ViewFn
from .warps import ProjectedWarps

__all__ = ["projected_views", "prepare_inputs"]


def projected_views(projection: Projection, recipe: Recipe) -> ProjectedViews:
    """The views of rows projected by ``projection`` that ``recipe`` trains on and tests with."""
    return ProjectedViews(
        projection,
        padding=max(recipe.padding, recipe.tta_shift),
        flip=recipe.flip or recipe.tta_flip,
        augment_padding=recipe.padding,
        augment_flip=recipe.flip,
    )


def prepare_inputs(
    data: dict[str, torch.Tensor], recipe: Recipe, verbose: bool
) -> tuple[
    dict[str, torch.Tensor], ViewFn | None, Callable[[torch.Tensor], torch.Tensor] | None, Whitening | Projection | None
]:
    """Whiten (ZCA) or project (PCA) the three splits as the recipe says; returns the new data, the view
    function for test-time views (None: image rows, :func:`minifc_recipes.views.image_view`), the
    crop-and-flip augmentation (None when the recipe has neither) and the fitted preprocessing (None
    when the recipe has none)."""
    t0 = time.time()
    X = data["X_train"]
    out = dict(data)
    if recipe.pca_dims is not None and recipe.zca_eps:
        proj = fit_pca(X, recipe.pca_dims, eps_ratio=recipe.zca_eps, max_samples=recipe.pca_samples)
        for key in ("X_train", "X_val", "X_test"):
            out[key] = proj.apply(data[key])
        views = projected_views(proj, recipe)
        augment = views.augment if (recipe.padding or recipe.flip) else None
        built = f"{len(views.keys)} views"
        if recipe.rotate or recipe.zoom:
            warps = ProjectedWarps(proj, recipe.warps, recipe.rotate, recipe.zoom, recipe.padding, recipe.flip)
            augment, built = warps.augment, f"{built} and {recipe.warps} warps"
        if verbose:
            print(
                f"PCA whitening to {proj.dims} dimensions (eps {proj.eps:.3g}) fitted on "
                f"{min(recipe.pca_samples, len(X))} training images, applied, and its "
                f"{built} built in {time.time() - t0:.1f} s"
            )
        return out, views, augment, proj
    if recipe.rotate or recipe.zoom:
        raise ValueError(
            "best: the recipe settings rotate and zoom warp projected rows: they need pca_dims (a PCA tier), "
            f"got pca_dims={recipe.pca_dims!r}, zca_eps={recipe.zca_eps!r}"
        )
    augment = crop_flip(recipe.padding, recipe.flip) if (recipe.padding or recipe.flip) else None
    if not recipe.zca_eps:
        return out, None, augment, None
    zca = fit_zca(X, eps_ratio=recipe.zca_eps, max_samples=recipe.zca_samples)
    for key in ("X_train", "X_val", "X_test"):
        out[key] = zca.apply(data[key])
    if verbose:
        print(
            f"ZCA whitening (eps {zca.eps:.3g}) fitted on {min(recipe.zca_samples, len(X))} "
            f"training images and applied in {time.time() - t0:.1f} s"
        )
    return out, None, augment, zca
