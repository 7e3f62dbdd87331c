"""Views of an image (shifted by (dy, dx), mirrored) for test-time averaging and training augmentation,
on image rows or on projected rows.

A *view function* is ``views(X, dy, dx, flip) -> X'``: X (N, D) rows -> the rows of the same images
moved down by ``dy`` and right by ``dx`` pixels (zero filled) and, with ``flip``, mirrored left-right.
:func:`image_view` does that on image rows (N, 3072); :class:`ProjectedViews` on rows projected by a
:class:`minifc_recipes.pca.Projection` (N, k), with one (k, k) product per view, and also draws
random crops and flips of whole projected batches (:meth:`ProjectedViews.augment`, the counterpart of
:func:`minifc.data.augment.crop_flip`).

:class:`ViewAveraged` is a Classifier whose scores average the views of each image;
:func:`accuracy_by_views` measures 1, 2 and all views in one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from minifc.data.augment import hflip, shift
from minifc.models import Classifier
from minifc.nn import Module

from .pca import Projection

__all__ = ["ViewFn", "image_view", "apply_drawn_maps", "ProjectedViews", "ViewAveraged", "accuracy_by_views"]

ViewFn = Callable[[torch.Tensor, int, int, bool], torch.Tensor]


def image_view(X: torch.Tensor, dy: int, dx: int, flip: bool) -> torch.Tensor:
    """X (N, 3072) image rows -> the view: shifted by (dy, dx) (:func:`minifc.data.augment.shift`), then mirrored."""
    view = shift(X, dy, dx) if dy or dx else X
    return hflip(view) if flip else view


def apply_drawn_maps(
    Z: torch.Tensor, matrices: torch.Tensor, offsets: torch.Tensor, candidates: torch.Tensor, chunks: int
) -> torch.Tensor:
    """Z (N, k) -> a new (N, k): the batch cut into ``chunks`` runs of rows, each run mapped by one
    ``z @ matrices[i] + offsets[i]`` with i drawn uniformly from ``candidates`` (indices, on the CPU)
    with torch's CPU generator (so a CUDA batch needs no device synchronisation). matrices (V, k, k),
    offsets (V, k). The maps are read in place: a few large products run far faster on a CPU than many
    small ones, and gathering the drawn maps into one batched product would copy a (k, k) matrix per
    run first (1 MB each at k = 512; on 2 cores that copy cost more than the products)."""
    n = Z.shape[0]
    groups = min(max(1, int(chunks)), n)
    per = n // groups
    picks = candidates[torch.randint(len(candidates), (groups + 1,))].tolist()
    out = torch.empty_like(Z)
    bounds = [(g * per, (g + 1) * per) for g in range(groups)]
    if groups * per < n:  # the rows left over when n is not a multiple of the number of runs
        bounds.append((groups * per, n))
    for (start, stop), i in zip(bounds, picks, strict=False):
        torch.addmm(offsets[i].to(Z), Z[start:stop], matrices[i].to(Z), out=out[start:stop])
    return out


class ProjectedViews:
    """Shifts by (dy, dx) in [-padding, padding]^2 and mirror images of projected rows (N, k).

    Each map is a (k, k) matrix and a (k,) offset, built once: :meth:`Projection.follow` of each of the
    ``(2 padding + 1)^2`` shifts and of the mirror ((k, D) x (D, k) products), a mirrored shift being the
    shift's map followed by the mirror's. Calling the object is a view function (:data:`ViewFn`);
    :meth:`augment` is a Trainer ``augment`` drawing among the views up to ``augment_padding`` (default
    ``padding``), mirrored ones only with ``augment_flip`` (default ``flip``).
    """

    def __init__(
        self,
        projection: Projection,
        padding: int,
        flip: bool = True,
        augment_padding: int | None = None,
        augment_flip: bool | None = None,
        chunks: int = 4,
    ) -> None:
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"ProjectedViews: padding must be an integer >= 0, got {padding!r}")
        aug_pad = padding if augment_padding is None else augment_padding
        aug_flip = flip if augment_flip is None else augment_flip
        if not 0 <= aug_pad <= padding or (aug_flip and not flip):
            raise ValueError(
                f"ProjectedViews: the augmentation's views (padding {aug_pad}, flip {aug_flip}) must be among "
                f"the views built (padding {padding}, flip {flip})"
            )
        self.padding, self.flip, self.chunks = padding, flip, max(1, int(chunks))
        steps = range(-padding, padding + 1)
        shifts = {(dy, dx): projection.follow(lambda x, dy=dy, dx=dx: image_view(x, dy, dx, False)) for dy in steps
                  for dx in steps}
        maps = dict(((dy, dx, False), m) for (dy, dx), m in shifts.items())
        if flip:  # a mirrored view is its shift followed by the mirror: compose the (k, k) maps
            Mf, cf = projection.follow(lambda x: image_view(x, 0, 0, True))
            maps.update(((dy, dx, True), (M.mm(Mf), c[None].mm(Mf)[0] + cf)) for (dy, dx), (M, c) in shifts.items())
        self.keys = list(maps)
        self.matrices = torch.stack([maps[key][0] for key in self.keys])  # (V, k, k)
        self.offsets = torch.stack([maps[key][1] for key in self.keys])  # (V, k)
        self.index = {key: i for i, key in enumerate(self.keys)}
        drawn = [
            i for i, (dy, dx, f) in enumerate(self.keys) if max(abs(dy), abs(dx)) <= aug_pad and (aug_flip or not f)
        ]
        self.augment_views = torch.tensor(drawn)  # indices of the drawn views (on the CPU: see augment)

    def __call__(self, Z: torch.Tensor, dy: int, dx: int, flip: bool) -> torch.Tensor:
        """Z (N, k) -> the rows of the view (N, k); (0, 0, False) is Z itself."""
        if not (dy or dx or flip):
            return Z
        key = (dy, dx, bool(flip))
        if key not in self.index:
            raise ValueError(f"ProjectedViews: no view {key}; shifts go up to {self.padding}, flips: {self.flip}")
        i = self.index[key]
        return torch.addmm(self.offsets[i].to(Z), Z, self.matrices[i].to(Z))

    def augment(self, Z: torch.Tensor) -> torch.Tensor:
        """A random view of each row of Z (N, k): the batch is cut into ``chunks`` runs of rows, each
        given one view drawn uniformly (the rows come in random order, so over the epochs each image
        still gets its views at random); see :func:`apply_drawn_maps`. Returns a new (N, k) tensor."""
        return apply_drawn_maps(Z, self.matrices, self.offsets, self.augment_views, self.chunks)


class ViewAveraged(Classifier):
    """A Classifier whose scores (``loss(X)`` without labels) average the scores of several views of
    each image when ``tta`` is on: the image shifted by every (dy, dx) in {-shift, 0, shift}^2 (only
    the image itself when ``shift`` is 0) and, with ``flip``, the mirror of each, made by ``views``
    (:func:`image_view` by default; a :class:`ProjectedViews` for projected rows). Training
    (``loss(X, y)``) is unchanged. X (N, D) -> scores (N, C)."""

    def __init__(
        self,
        net: Module,
        loss: Any = "softmax",
        tta: bool = False,
        shift: int = 0,
        flip: bool = True,
        views: ViewFn | None = None,
    ) -> None:
        super().__init__(net, loss)
        if not isinstance(shift, int) or isinstance(shift, bool) or shift < 0:
            raise ValueError(f"ViewAveraged: shift must be an integer >= 0, got {shift!r}")
        self.tta, self.shift, self.flip = tta, shift, flip
        self.views: ViewFn = views or image_view

    @property
    def num_views(self) -> int:
        return (9 if self.shift else 1) * (2 if self.flip else 1)

    def view_keys(self) -> list[tuple[int, int, bool]]:
        """(dy, dx, flip) of every view, the image itself first, then its mirror (with ``flip``)."""
        steps = (0, -self.shift, self.shift) if self.shift else (0,)
        flips = (False, True) if self.flip else (False,)
        return [(dy, dx, f) for dy in steps for dx in steps for f in flips]

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None, **kwargs: Any) -> Any:
        if y is not None or not self.tta:
            return super().loss(X, y, **kwargs)
        total: torch.Tensor | None = None
        for dy, dx, f in self.view_keys():
            scores = super().loss(self.views(X, dy, dx, f))
            total = scores.clone() if total is None else total.add_(scores)
        assert total is not None
        return total.div_(self.num_views)


@torch.no_grad()
def accuracy_by_views(
    model: ViewAveraged, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1000
) -> dict[int, float]:
    """Accuracy on X (N, D), y (N,) of the scores averaged over the first v of ``model.view_keys()``
    for v = 1 (the image), 2 (with its mirror, when ``model.flip``) and all: ``{views: accuracy}``."""
    keys = model.view_keys()
    counts = sorted({1, min(2, len(keys)) if model.flip else 1, len(keys)})
    correct = dict.fromkeys(counts, 0)
    for start in range(0, X.shape[0], batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        total: torch.Tensor | None = None
        for v, (dy, dx, f) in enumerate(keys, 1):
            scores = Classifier.loss(model, model.views(xb, dy, dx, f))
            total = scores.clone() if total is None else total.add_(scores)
            if v in correct:
                correct[v] += int((total.argmax(1) == yb).sum())
    return {v: c / max(X.shape[0], 1) for v, c in correct.items()}
