"""The parts of the budgeted recipe: PCA whitening, views of projected rows, MixUp (against numeric gradients
and a torch autograd oracle), the budget tiers, and the recipe end to end on a PCA tier."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as TF
from minifc_recipes import MixUp, ProjectedViews, ViewAveraged, fit_pca, smoothed_softmax_loss, softmax_smooth
from minifc_recipes.best import best, final_evaluation
from minifc_recipes.recipe import CUDA_LONGEST, LONGEST, TIERS, Recipe, target_for, tier_for
from minifc_recipes.views import accuracy_by_views, image_view

from minifc.data.augment import hflip, shift
from minifc.experiments.example_options import ExampleOptions
from minifc.gradcheck import check_loss
from minifc.nn import Linear, ReLU, Sequential

F64 = torch.float64


def _images(n=300, seed=0, dtype=torch.float32):
    """Smooth random 'images' (N, 3072): a few low-frequency patterns, like natural images' top directions."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, 3, 4, 4, generator=g, dtype=dtype)
    return TF.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False).reshape(n, 3072) + (
        0.05 * torch.randn(n, 3072, generator=g, dtype=dtype)
    )


def _pattern_classes(sizes=(600, 100, 100), seed=0):
    """The layout of load_cifar10 with 10 classes, each a smooth colour pattern plus noise: images whose
    class survives crops and mirrors (unlike synthetic_data's per-pixel centres)."""
    g = torch.Generator().manual_seed(seed)
    patterns = _images(10, seed=seed + 1) * 0.3
    data = {}
    for split, n in zip(("train", "val", "test"), sizes, strict=True):
        y = torch.randint(0, 10, (n,), generator=g)
        data[f"X_{split}"], data[f"y_{split}"] = patterns[y] + 0.25 * torch.randn(n, 3072, generator=g), y
    return data


# -- PCA ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [3072, 96], ids=["rows<dims:gram", "rows>dims:scatter"])
def test_fit_pca_whitens_the_top_directions_like_the_covariance_eigh(dims):
    X = _images(400, dtype=F64)[:, :dims]
    proj = fit_pca(X, 20, eps_ratio=0.5, max_samples=300, dtype=F64)
    sample = X[:300]
    _, S, Vh = torch.linalg.svd(sample - sample.mean(0), full_matrices=False)  # the covariance's eigenvectors
    evals = S**2 / 299  # its eigenvalues, largest first (beyond min(300, dims) they are 0)
    top = Vh[:20].t()
    U = proj.matrix * (evals[:20] + proj.eps).sqrt()  # undo the scaling: the directions
    torch.testing.assert_close(U.t() @ U, torch.eye(20, dtype=F64), atol=1e-8, rtol=0)
    torch.testing.assert_close((U.t() @ top).abs(), torch.eye(20, dtype=F64), atol=1e-6, rtol=0)  # same, up to sign
    assert proj.eps == pytest.approx(0.5 * evals.sum().item() / dims)
    Z = proj.apply(sample)
    torch.testing.assert_close(torch.cov(Z.t()).diagonal(), evals[:20] / (evals[:20] + proj.eps))
    z = torch.randn(5, 20, dtype=F64)
    torch.testing.assert_close(proj.apply(z @ proj.inverse + proj.mean), z)  # inverse: the image a row stands for


def test_fit_pca_keeps_dtype_and_names_bad_arguments():
    X = _images(50)
    proj = fit_pca(X, 8)
    assert proj.matrix.dtype == proj.inverse.dtype == proj.mean.dtype == torch.float32 and proj.dims == 8
    assert proj.apply(X).shape == (50, 8)
    for k in (0, 50, 8.0, True):
        with pytest.raises(ValueError, match=r"fit_pca: k must be an integer in \[1, 49\]"):
            fit_pca(X, k)
    with pytest.raises(ValueError, match="eps_ratio"):
        fit_pca(X, 8, eps_ratio=0)
    with pytest.raises(ValueError, match=r"expected X \(N, 3072\)"):
        proj.apply(torch.zeros(3, 10))


def test_follow_is_the_image_map_between_projection_and_reconstruction():
    X = _images(200, dtype=F64)
    proj = fit_pca(X, 30, dtype=F64)
    z = proj.apply(X[:6])
    for fn in (lambda x: shift(x, 1, -2), hflip, lambda x: hflip(shift(x, 2, 0))):
        M, c = proj.follow(fn)
        assert M.shape == (30, 30) and c.shape == (30,)
        torch.testing.assert_close(z @ M + c, proj.apply(fn(z @ proj.inverse + proj.mean)))


# -- views ----------------------------------------------------------------------------------------


def test_projected_views_and_their_random_draw():
    X = _images(200, dtype=F64)
    proj = fit_pca(X, 30, dtype=F64)
    views = ProjectedViews(proj, padding=2, flip=True, augment_padding=1, augment_flip=True, chunks=4)
    assert len(views.keys) == 50 and len(views.augment_views) == 18
    z = proj.apply(X[:7])
    torch.testing.assert_close(views(z, 0, 0, False), z)
    for dy, dx in ((2, -1), (0, 0), (-2, 2)):
        M, c = proj.follow(lambda x, dy=dy, dx=dx: shift(x, dy, dx))
        torch.testing.assert_close(views(z, dy, dx, False), z @ M + c)
        torch.testing.assert_close(views(z, dy, dx, True), views(views(z, dy, dx, False), 0, 0, True))
    with pytest.raises(ValueError, match=r"no view \(3, 0, False\)"):
        views(z, 3, 0, False)
    torch.manual_seed(0)
    out = views.augment(z)  # 7 rows in 4 runs: 4 runs of 1 row and the 3 left over
    candidates = torch.stack([views(z, dy, dx, f) for dy, dx, f in views.keys])  # (50, 7, 30)
    for i in range(7):
        match = [j for j in range(50) if torch.allclose(candidates[j, i], out[i])]
        assert match and all(max(abs(views.keys[j][0]), abs(views.keys[j][1])) <= 1 for j in match)
    with pytest.raises(ValueError, match="must be among the views built"):
        ProjectedViews(proj, padding=1, flip=False, augment_flip=True)


def test_view_averaged_on_projected_rows_and_accuracy_by_views():
    X = _images(120)
    proj = fit_pca(X, 16)
    views = ProjectedViews(proj, padding=2, flip=True)
    torch.manual_seed(0)
    net = Sequential(Linear(16, 8), ReLU(), Linear(8, 3))
    model = ViewAveraged(net, tta=True, shift=2, views=views)
    Z = proj.apply(X[:40])
    y = torch.randint(0, 3, (40,))
    keys = model.view_keys()
    assert keys[:2] == [(0, 0, False), (0, 0, True)] and len(keys) == model.num_views == 18
    expected = sum(net.forward(views(Z, dy, dx, f)) for dy, dx, f in keys) / 18
    torch.testing.assert_close(model.loss(Z), expected)
    by_views = accuracy_by_views(model, Z, y, batch_size=16)
    assert list(by_views) == [1, 2, 18]
    assert by_views[18] == int((expected.argmax(1) == y).sum()) / 40
    assert by_views[1] == int((net.forward(Z).argmax(1) == y).sum()) / 40
    both = (net.forward(Z) + net.forward(views(Z, 0, 0, True))) / 2
    assert by_views[2] == int((both.argmax(1) == y).sum()) / 40
    model.shift, model.flip = 0, False
    assert list(accuracy_by_views(model, Z, y)) == [1]


def test_image_view_is_shift_then_mirror():
    X = torch.randn(3, 3072)
    torch.testing.assert_close(image_view(X, 1, -1, True), hflip(shift(X, 1, -1)))
    assert image_view(X, 0, 0, False) is X


def test_final_evaluation_chooses_views_on_validation_and_reads_the_test_split_once(monkeypatch):
    import minifc_recipes.best as best_module

    results = iter([{1: 0.50, 2: 0.55, 18: 0.55}, {1: 0.40, 2: 0.47, 18: 0.60}])
    seen = []
    monkeypatch.setattr(best_module, "accuracy_by_views", lambda m, X, y: seen.append(X) or next(results))
    data = {k: torch.full((2, 1), float(i)) for i, k in enumerate(("X_val", "y_val", "X_test", "y_test"))}
    final = final_evaluation(ViewAveraged(Sequential(Linear(1, 2))), data)
    assert [X[0, 0].item() for X in seen] == [0.0, 2.0]
    assert final["views"] == final["multi_views"] == 2  # a tie on validation: the fewer views
    assert final["test_acc"] == final["test_acc_multi_view"] == 0.47 and final["test_acc_single_view"] == 0.40


# -- MixUp ----------------------------------------------------------------------------------------


def test_mixup_mixes_rows_and_targets_with_the_same_draw():
    torch.manual_seed(0)
    base = smoothed_softmax_loss(0.1)
    mix = MixUp(0.4, base)
    X = torch.randn(6, 5, dtype=F64)
    scores, y = torch.randn(6, 4, dtype=F64), torch.tensor([0, 1, 2, 3, 0, 1])
    torch.testing.assert_close(mix.loss(scores, y)[0], base(scores, y)[0])  # before any batch: the base loss
    Xm = mix.augment(X)
    lam, perm = mix.lam, mix.perm
    assert 0.0 <= lam <= 1.0 and sorted(perm.tolist()) == list(range(6))
    torch.testing.assert_close(Xm, lam * X + (1 - lam) * X[perm])
    loss, dscores = mix.loss(scores, y)
    ref_scores = scores.clone().requires_grad_(True)
    target = lam * TF.one_hot(y, 4) + (1 - lam) * TF.one_hot(y[perm], 4)
    ref = TF.cross_entropy(ref_scores, target.to(F64), label_smoothing=0.1)
    ref.backward()
    torch.testing.assert_close(loss, ref.detach())
    torch.testing.assert_close(dscores, ref_scores.grad)
    assert check_loss(mix.loss, scores, y) < 1e-7


def test_mixup_runs_its_inner_augment_first_and_names_mismatched_batches():
    mix = MixUp(1.0, softmax_smooth, before=lambda x: x * 0 + 1)
    assert torch.equal(mix.augment(torch.randn(4, 3)), torch.ones(4, 3))
    with pytest.raises(ValueError, match="the loss got a batch of 3 rows but the last batch mixed by augment had 4"):
        mix.loss(torch.randn(3, 2), torch.tensor([0, 1, 0]))
    for bad in (0, -1.0, True, "1"):
        with pytest.raises(ValueError, match="alpha must be a number > 0"):
            MixUp(bad, softmax_smooth)


# -- tiers and the recipe on a PCA tier ---------------------------------------------------------


def test_a_budget_picks_its_tier_and_explicit_settings_win():
    bounds = [bound for bound, _, _ in TIERS]
    assert bounds == sorted(bounds)
    short = Recipe.from_options({}, budget=20)
    assert short.budget_s == 20 and short.pca_dims == TIERS[0][2]["pca_dims"] and short.tier == TIERS[0][1]
    assert Recipe.from_options({"recipe": {"width": 64}}, budget=20).width == 64
    assert Recipe.from_options({"recipe": {"budget_s": 60}}).tier == tier_for(60)[0]
    full = Recipe.from_options({})
    assert full.pca_dims == 512 and full.pca_samples == 4096 and full.budget_s == 900
    assert full.tier == LONGEST == "pca512-2x1024-long" and (full.width, full.depth) == (1024, 2)
    assert (full.batch_size, full.learning_rate) == (512, 2e-3)  # the shorter tiers keep 256
    assert {Recipe.from_options({}, budget=b).batch_size for b in bounds} == {256}
    # the strong weight decay was measured at 15 minutes only: the shorter tiers keep 0.05
    assert full.weight_decay == 0.5 and {Recipe.from_options({}, budget=b).weight_decay for b in bounds} == {0.05}
    assert full.padding == 3 and Recipe.from_options({}, budget=bounds[-1]).padding == 2
    assert Recipe.from_options({"recipe": {"pca_dims": "none"}}).pca_dims is None  # --set recipe.pca_dims=none
    assert Recipe.from_options({"recipe": {"zca_eps": "Null"}}).zca_eps is None
    # the epoch-end accuracy scores a sample of the validation split unless told to score all of it
    assert full.val_samples == 2000 and Recipe.from_options({"recipe": {"val_samples": "none"}}).val_samples is None
    for bad in (0, -5, True, "20"):
        with pytest.raises(ValueError, match="the budget must be a number of seconds > 0"):
            Recipe.from_options({"recipe": {"budget_s": bad}})
    forced = Recipe.from_options({"recipe": {"tier": TIERS[0][1], "depth": 3}}, budget=600)
    assert forced.tier == TIERS[0][1] and forced.pca_dims == TIERS[0][2]["pca_dims"] and forced.depth == 3
    with pytest.raises(ValueError, match="unknown tier 'fast'; tiers: "):
        Recipe.from_options({"recipe": {"tier": "fast"}})
    assert Recipe().tier is None
    assert (target_for(10), target_for(20), target_for(119), target_for(900)) == (None, 0.54, 0.62, 0.75)


def test_a_cuda_budget_picks_from_the_cuda_tiers():
    assert tier_for(10, "cuda") == tier_for(10) == (TIERS[0][1], TIERS[0][2])  # the shortest tier is shared
    assert tier_for(60, "cuda") == CUDA_LONGEST == ("pca1024-2x2048", {"pca_dims": 1024, "width": 2048})
    gpu = Recipe.from_options({}, budget=60, device_type="cuda")
    assert (gpu.tier, gpu.width, gpu.depth, gpu.pca_dims) == ("pca1024-2x2048", 2048, 2, 1024)
    assert Recipe.from_options({}, budget=60, device_type="cpu").tier == tier_for(60)[0] != gpu.tier
    assert Recipe.from_options({}, budget=60, device_type="mps").tier == tier_for(60)[0]
    assert Recipe.from_options({"recipe": {"width": 512}}, budget=60, device_type="cuda").width == 512
    named = Recipe.from_options({"recipe": {"tier": "pca1024-2x2048"}}, budget=20)  # a CUDA tier by name, on a CPU
    assert (named.tier, named.width, named.pca_dims) == ("pca1024-2x2048", 2048, 1024)


@pytest.fixture
def one_thread():
    """One thread: on a busy 2-core machine two threads stall each other far more than one slows down."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_the_recipe_on_a_pca_tier_fits_its_budget(tmp_path, one_thread):
    pytest.importorskip("minifc_norm")
    pytest.importorskip("minifc_optim_extra")
    data = _pattern_classes()
    started = time.time()
    recipe = {"pca_dims": 24, "pca_samples": 300, "width": 32, "padding": 1, "tta_shift": 1, "batch_size": 64}
    options = ExampleOptions(out=tmp_path, verbose=False, budget=6.0, extra={"recipe": recipe, "started_at": started})
    summary = best(data, options)
    (row,) = summary["rows"]
    assert row["tier"] == TIERS[0][1] and row["recipe"]["pca_dims"] == 24 and row["budget_s"] == 6.0
    assert row["seconds"] <= 6.0 + 1.0 and time.time() - started <= 6.0 + 2.0
    assert row["steps"] > 9 and row["curve"]  # more than one epoch of 9 steps
    assert list(row["val_acc_by_views"]) == [1, 2, 18]
    assert row["test_acc_single_view"] > 0.5 and row["test_acc_multi_view"] > 0.5  # chance: 0.1
    assert "target" not in summary  # no target below 20 s
