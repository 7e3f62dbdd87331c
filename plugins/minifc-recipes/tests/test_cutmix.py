"""CutMix on image rows and on PCA-projected rows, and the recipe setting ``cutmix``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF
from minifc_recipes import CutMix, fit_pca, softmax_smooth
from minifc_recipes.best import best
from minifc_recipes.cutmix import draw_boxes
from short_runs import short_options

from minifc.testing import synthetic_data

F64 = torch.float64
SHAPE = (3, 8, 8)  # small images: 192 values per row


def _images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, 3, 2, 2, generator=g, dtype=F64)
    smooth = TF.interpolate(coarse, size=SHAPE[1:], mode="bilinear", align_corners=False).reshape(n, -1)
    return smooth + 0.05 * torch.randn(n, smooth.shape[1], generator=g, dtype=F64)


def _pasted(X: torch.Tensor, partner: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """The images of X with the box of the partner images pasted in, written out pixel by pixel."""
    y0, y1, x0, x1 = box
    out = X.reshape(-1, *SHAPE).clone()
    out[:, :, y0:y1, x0:x1] = partner.reshape(-1, *SHAPE)[:, :, y0:y1, x0:x1]
    return out.reshape(X.shape)


def test_draw_boxes_is_seeded_inside_the_image_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    boxes = draw_boxes(200, 1.0, 8, 8, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert boxes == draw_boxes(200, 1.0, 8, 8, seed=3) and boxes != draw_boxes(200, 1.0, 8, 8, seed=4)
    assert all(0 <= y0 <= y1 <= 8 and 0 <= x0 <= x1 <= 8 for y0, y1, x0, x1 in boxes)
    areas = {(y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in boxes}
    assert 0 in areas and max(areas) >= 36 and len(areas) > 5  # lam ~ U(0, 1): empty to most of the image


def test_cutmix_pastes_the_partners_box_and_mixes_the_loss_by_its_area():
    X, y = _images(6), torch.tensor([0, 1, 2, 3, 0, 1])
    mix = CutMix(softmax_smooth, 1.0, count=16, image_shape=SHAPE, seed=1)
    torch.manual_seed(0)
    for _ in range(8):
        out = mix.augment(X)
        box = mix.boxes[mix.box]
        torch.testing.assert_close(out, _pasted(X, X[mix.perm], box), rtol=0, atol=0)
        y0, y1, x0, x1 = box
        assert mix.lam == pytest.approx(1 - (y1 - y0) * (x1 - x0) / 64)
    scores = torch.randn(6, 4, dtype=F64)
    loss, dscores = mix.loss(scores, y)
    loss_a, d_a = softmax_smooth(scores, y)
    loss_b, d_b = softmax_smooth(scores, y[mix.perm])
    torch.testing.assert_close(loss, mix.lam * loss_a + (1 - mix.lam) * loss_b)
    torch.testing.assert_close(dscores, mix.lam * d_a + (1 - mix.lam) * d_b)


def test_cutmix_on_projected_rows_is_the_pasted_image_projected_again():
    X = _images(300)
    proj = fit_pca(X, 40, dtype=F64)
    mix = CutMix(softmax_smooth, 1.0, count=8, projection=proj, image_shape=SHAPE, seed=2)
    assert mix.maps.shape == (8, 40, 40) and mix.maps.dtype == F64
    z = proj.apply(X[:7])
    rebuilt = z @ proj.inverse + proj.mean  # the images the projected rows stand for
    torch.manual_seed(1)
    for _ in range(4):
        out = mix.augment(z)
        torch.testing.assert_close(out, proj.apply(_pasted(rebuilt, rebuilt[mix.perm], mix.boxes[mix.box])))
    torch.manual_seed(2)
    reference = mix.augment(z)
    torch.manual_seed(2)
    single = mix.augment(z.float())  # a float32 batch: the float64 bank follows it
    assert single.dtype == torch.float32
    torch.testing.assert_close(single, reference.float(), rtol=1e-5, atol=1e-5)


def test_cutmix_runs_its_inner_augment_first_and_names_a_bad_argument():
    mix = CutMix(softmax_smooth, 0.5, count=4, before=lambda x: x * 0 + 1, image_shape=SHAPE)
    assert torch.equal(mix.augment(torch.randn(4, 192)), torch.ones(4, 192))
    for bad in (0, True):
        with pytest.raises(ValueError, match="CutMix: count must be an integer >= 1"):
            CutMix(softmax_smooth, count=bad)
    with pytest.raises(ValueError, match="alpha must be a number > 0"):
        CutMix(softmax_smooth, 0.0)
    proj = fit_pca(_images(50), 8, dtype=F64)
    with pytest.raises(ValueError, match=r"projection takes rows of 192 values but image_shape \(3, 32, 32\)"):
        CutMix(softmax_smooth, projection=proj)


def test_the_recipe_trains_with_cutmix_and_refuses_it_with_mixup(tmp_path):
    data = synthetic_data(num_train=256, num_val=64, num_test=64)
    for name, recipe in (("pca", {"pca_dims": 32, "pca_samples": 200}), ("pixels", {"zca_eps": None})):
        row = best(data, short_options(tmp_path / name, {**recipe, "cutmix": 1.0}))["rows"][0]
        assert row["epochs"] == 2 and row["recipe"]["cutmix"] == 1.0 and 0.0 <= row["test_acc"] <= 1.0
    with pytest.raises(ValueError, match=r"mixup \(0.2\) and cutmix \(1.0\) both mix the batches"):
        best(data, short_options(tmp_path / "both", {"pca_dims": 32, "pca_samples": 200, "mixup": 0.2, "cutmix": 1.0}))
