"""minifc.data.augment: random crops with zero padding and flips on whole flattened batches."""

from __future__ import annotations

import pytest
import torch

from minifc.data.augment import CIFAR_SHAPE, as_images, crop_flip, hflip, random_crop, random_flip, shift


def _batch(n=6, shape=(2, 5, 7), dtype=torch.float32, device="cpu"):
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, *shape, generator=gen, dtype=dtype).add_(0.5).reshape(n, -1).to(device)


def _offset_of(out_img: torch.Tensor, img: torch.Tensor, padding: int) -> tuple[int, int] | None:
    """(top, left) of the window of the zero-padded img that equals out_img, if any."""
    _, h, w = img.shape
    padded = torch.nn.functional.pad(img, (padding,) * 4)
    for top in range(2 * padding + 1):
        for left in range(2 * padding + 1):
            if torch.equal(padded[:, top : top + h, left : left + w], out_img):
                return top, left
    return None


def test_as_images_views_rows_and_rejects_bad_shapes():
    x = torch.arange(2 * 3072.0).reshape(2, 3072)
    images = as_images(x)
    assert images.shape == (2, *CIFAR_SHAPE) and images.data_ptr() == x.data_ptr()
    assert as_images(images) is images
    with pytest.raises(ValueError, match="expected a batch"):
        as_images(torch.zeros(2, 3071))
    with pytest.raises(ValueError, match="expected a batch"):
        as_images(torch.zeros(3072))


def test_random_crop_is_a_shifted_window_of_the_zero_padded_image(device):
    shape = (2, 5, 7)
    x = _batch(shape=shape, device=device)
    before = x.clone()
    out = random_crop(x, padding=2, image_shape=shape)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert torch.equal(x, before)  # the input is left alone
    for i in range(x.shape[0]):
        found = _offset_of(out[i].reshape(shape).cpu(), x[i].reshape(shape).cpu(), 2)
        assert found is not None, f"image {i} is not a window of its padded original"


def test_random_crop_offsets_are_uniform_over_the_window():
    shape = (1, 3, 3)
    n = 4000
    x = torch.arange(1.0, 10.0).repeat(n, 1)  # every image the same, distinct pixel values
    torch.manual_seed(0)
    out = random_crop(x, padding=1, image_shape=shape)
    counts: dict[tuple[int, int], int] = {}
    for row in out[:900]:
        key = _offset_of(row.reshape(shape), x[0].reshape(shape), 1)
        counts[key] = counts.get(key, 0) + 1
    assert set(counts) == {(t, left) for t in range(3) for left in range(3)}
    assert min(counts.values()) > 900 / 9 * 0.5
    # the centre window (no shift) happens about 1/9 of the time
    assert abs(float((out == x).all(1).float().mean()) - 1 / 9) < 0.03


def test_random_flip_mirrors_about_half_of_the_images(device):
    shape = (3, 4, 4)
    x = _batch(n=2000, shape=shape, device=device)
    out = random_flip(x, image_shape=shape)
    mirrored = hflip(x, shape)
    same = (out == x).all(1)
    flipped = (out == mirrored).all(1)
    assert bool((same | flipped).all()) and not bool((same & flipped).any())
    assert 0.45 < float(flipped.float().mean()) < 0.55
    assert torch.equal(random_flip(x, p=0.0, image_shape=shape), x)
    assert torch.equal(random_flip(x, p=1.0, image_shape=shape), mirrored)
    assert torch.equal(hflip(mirrored, shape), x)
    with pytest.raises(ValueError, match="p must be"):
        random_flip(x, p=1.5, image_shape=shape)


def test_hflip_reverses_columns_of_each_channel():
    x = torch.arange(2 * 3072.0).reshape(2, 3072)
    out = as_images(hflip(x))
    assert torch.equal(out[:, :, :, 0], as_images(x)[:, :, :, 31])
    assert hflip(as_images(x)).shape == (2, *CIFAR_SHAPE)


def test_padding_zero_and_dtype(dtype):
    x = _batch(dtype=dtype, shape=(2, 5, 7))
    out = random_crop(x, padding=0, image_shape=(2, 5, 7))
    assert torch.equal(out, x) and out is not x
    assert random_flip(x, image_shape=(2, 5, 7)).dtype == dtype
    with pytest.raises(ValueError, match="padding"):
        random_crop(x, padding=-1, image_shape=(2, 5, 7))


def test_crop_flip_is_reproducible_from_torchs_seed():
    x = _batch(n=32, shape=CIFAR_SHAPE)
    augment = crop_flip(padding=4)
    torch.manual_seed(3)
    a = augment(x)
    torch.manual_seed(3)
    b = augment(x)
    torch.manual_seed(4)
    c = augment(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape
    assert crop_flip(0, flip=False)(x) is x
    with pytest.raises(ValueError, match="padding"):
        crop_flip(padding=1.5)


def test_crop_flip_as_trainer_augment():
    from minifc.builder import mlp
    from minifc.training.trainer import Trainer

    gen = torch.Generator().manual_seed(0)
    X = torch.randn(64, 3072, generator=gen)
    y = torch.randint(0, 3, (64,), generator=gen)
    data = {"X_train": X, "y_train": y, "X_val": X[:16], "y_val": y[:16]}
    seen = []
    augment = crop_flip(2)

    def spy(batch):
        out = augment(batch)
        seen.append((batch.shape, out.shape))
        return out

    trainer = Trainer(mlp([8], 3072, 3), data, "sgd", batch_size=16, num_epochs=1, augment=spy, verbose=False, seed=0)
    trainer.train()
    assert len(seen) == 4 and all(a == b == (16, 3072) for a, b in seen)


def test_crop_flip_outputs_are_windows_or_mirrored_windows():
    shape = (2, 5, 7)
    x = _batch(n=40, shape=shape)
    torch.manual_seed(0)
    out = crop_flip(padding=2, image_shape=shape)(x)
    mirrored = 0
    for i in range(x.shape[0]):
        img, got = x[i].reshape(shape), out[i].reshape(shape)
        if _offset_of(got, img, 2) is None:
            assert _offset_of(got.flip(2), img, 2) is not None, f"image {i} is neither a window nor a mirrored one"
            mirrored += 1
    assert 5 < mirrored < 35


@pytest.mark.parametrize(("dy", "dx"), [(0, 0), (2, 0), (0, -2), (-1, 3), (2, 2)])
def test_shift_moves_every_image_and_fills_with_zeros(device, dy, dx):
    shape = (2, 5, 7)
    x = _batch(shape=shape, device=device)
    before = x.clone()
    out = shift(x, dy, dx, image_shape=shape)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert torch.equal(x, before)
    p = max(abs(dy), abs(dx))
    for i in range(x.shape[0]):  # the window random_crop with padding p takes at (p - dy, p - dx)
        assert _offset_of(out[i].reshape(shape).cpu(), x[i].reshape(shape).cpu(), p) == (p - dy, p - dx)
    img, moved = x[0].reshape(shape), out[0].reshape(shape)
    if dy >= 0 and dx >= 0:  # pixel (0, 0) lands at (dy, dx); the rows and columns above and left are zero
        assert torch.equal(moved[:, dy, dx], img[:, 0, 0])
        assert not moved[:, :dy].any() and not moved[:, :, :dx].any()


def test_shift_rejects_non_integer_offsets():
    with pytest.raises(ValueError, match="dx must be an integer"):
        shift(torch.zeros(1, 3072), 0, 1.5)
