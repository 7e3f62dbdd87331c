"""Random affine warps (rotation, zoom, shift, mirror) of images and of PCA-projected rows, and the
recipe settings ``rotate`` / ``zoom`` that train with them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF
from minifc_recipes import fit_pca
from minifc_recipes.best import best
from minifc_recipes.warps import ProjectedWarps, warp_view
from short_runs import short_options

from minifc.data.augment import as_images, hflip, shift
from minifc.testing import synthetic_data

F64 = torch.float64


def _images(n: int = 200, seed: int = 0) -> torch.Tensor:
    """Smooth random 'images' (N, 3072) in float64: low-frequency patterns plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, 3, 4, 4, generator=g, dtype=F64)
    smooth = TF.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False).reshape(n, 3072)
    return smooth + 0.05 * torch.randn(n, 3072, generator=g, dtype=F64)


def test_warp_view_is_shift_rotation_and_mirror_of_the_image():
    X = _images(4)
    for dy, dx in ((1, 0), (0, -2), (-3, 2)):
        torch.testing.assert_close(warp_view(X, 0.0, 1.0, dy, dx), shift(X, dy, dx))
    images = as_images(X)
    torch.testing.assert_close(warp_view(X, 90.0, 1.0).reshape(images.shape), torch.rot90(images, 1, dims=(2, 3)))
    torch.testing.assert_close(warp_view(X, 30.0, 1.2, 1.5, -0.5, True), hflip(warp_view(X, 30.0, 1.2, 1.5, -0.5)))
    zoomed_out = warp_view(X, 0.0, 0.5).reshape(images.shape)
    assert zoomed_out[:, :, :7].abs().max() == 0 and zoomed_out[:, :, 9:23, 9:23].abs().min() > 0  # a border
    with pytest.raises(ValueError, match="scale must be > 0"):
        warp_view(X, 0.0, 0.0)


def test_projected_warps_follow_each_warp_on_projected_rows():
    X = _images()
    proj = fit_pca(X, 40, dtype=F64)
    warps = ProjectedWarps(proj, 6, rotate=15.0, zoom=0.1, padding=2, flip=True, chunks=3, seed=1)
    assert warps.matrices.shape == (6, 40, 40) and warps.offsets.shape == (6, 40)
    angles, scales, dys, dxs, flips = zip(*warps.warps, strict=True)
    assert all(abs(a) <= 15 for a in angles) and all(0.9 <= s <= 1.1 for s in scales)
    assert all(isinstance(d, int) and abs(d) <= 2 for d in dys + dxs) and len(set(angles)) == 6
    z = proj.apply(X[:5])
    for i, w in enumerate(warps.warps):  # the (k, k) map is: rebuild the image, warp it, project it again
        torch.testing.assert_close(z @ warps.matrices[i] + warps.offsets[i], proj.apply(warp_view(z @ proj.inverse
                                                                                                  + proj.mean, *w)))
    torch.manual_seed(0)
    out = warps.augment(z)  # 5 rows in 3 runs: runs of 1 row and the 2 left over
    for i in range(5):
        assert any(torch.allclose(out[i], z[i] @ M + c) for M, c in zip(warps.matrices, warps.offsets, strict=True))
    same = ProjectedWarps(proj, 6, rotate=15.0, zoom=0.1, padding=2, seed=1)
    other = ProjectedWarps(proj, 6, rotate=15.0, zoom=0.1, padding=2, seed=2)
    assert same.warps == warps.warps and other.warps != warps.warps
    still = ProjectedWarps(proj, 2, flip=False)  # no rotation, zoom, shift or mirror: the identity
    torch.testing.assert_close(still.augment(z), z)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"count": 0}, "count"), ({"count": 2, "rotate": -1.0}, "rotate"), ({"count": 2, "zoom": 1.5}, "zoom"),
     ({"count": 2, "padding": True}, "padding"), ({"count": 2, "padding": 1.5}, "padding")],
)
def test_projected_warps_name_a_bad_argument(kwargs, match):
    proj = fit_pca(_images(50), 8, dtype=F64)
    with pytest.raises(ValueError, match=f"ProjectedWarps: {match}"):
        ProjectedWarps(proj, **kwargs)


def test_the_recipe_trains_with_warps_on_a_pca_tier_and_names_them_elsewhere(tmp_path):
    data = synthetic_data(num_train=256, num_val=64, num_test=64)
    recipe = {"pca_dims": 32, "pca_samples": 200, "rotate": 10.0, "zoom": 0.1, "warps": 4}
    row = best(data, short_options(tmp_path / "pca", recipe))["rows"][0]
    assert row["epochs"] == 2 and row["recipe"]["rotate"] == 10.0 and 0.0 <= row["test_acc"] <= 1.0
    with pytest.raises(ValueError, match="rotate and zoom warp projected rows"):
        best(data, short_options(tmp_path / "zca", {"pca_dims": None, "zca_samples": 200, "rotate": 10.0}))
