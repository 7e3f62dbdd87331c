"""Decoding image files into CIFAR-10's uint8 ``(3, 32, 32)`` RGB tensors, with torchvision."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from types import ModuleType

import torch

from .errors import DataError, first_line
from .optional import import_torchvision

_CHUNK = 500  # files read and decoded per call: bounds the memory of the raw bytes


def decode_images(files: Sequence[str], desc: str) -> torch.Tensor:
    """Decode the image files ``files`` into one ``(N, 3, 32, 32)`` uint8 tensor, in order, with a progress bar
    labelled ``desc`` on a terminal.

    Raises:
        DataError: torchvision is missing, or a file cannot be read, is empty, cannot be decoded or is not
            32x32; the message names the file.
    """
    from tqdm.auto import tqdm  # imported here to keep `import minifc.data` light

    tvio = import_torchvision("decoding the CIFAR-10 image folder", "io")
    out = torch.empty(len(files), 3, 32, 32, dtype=torch.uint8)
    with (
        warnings.catch_warnings(),
        tqdm(total=len(files), desc=desc, unit="img", disable=None) as bar,
    ):
        # torchvision 0.29+ warns on every decode call that its image codecs are deprecated in favour of
        # torchcodec; the codecs still work, and 60,000 identical warnings help nobody.
        warnings.simplefilter("ignore", DeprecationWarning)
        for start in range(0, len(files), _CHUNK):
            chunk = files[start : start + _CHUNK]
            out[start : start + len(chunk)] = _decode_chunk(tvio, chunk)
            bar.update(len(chunk))
    return out


def _decode_chunk(tvio: ModuleType, paths: Sequence[str]) -> torch.Tensor:
    """Image files -> ``(n, 3, 32, 32)`` uint8 RGB."""
    data = [_read_bytes(p) for p in paths]
    if all(p.lower().endswith((".jpg", ".jpeg")) for p in paths):
        # One call for a list of JPEGs decodes about 2.5x faster than a call per file. When it fails, or an
        # image has the wrong size, decoding file by file below finds the culprit for the error message.
        try:
            imgs = tvio.decode_jpeg(data, mode=tvio.ImageReadMode.RGB)
            if all(img.dtype == torch.uint8 and img.shape == (3, 32, 32) for img in imgs):
                return torch.stack(imgs)
        except Exception:
            pass
    return torch.stack([_decode_bytes(tvio, d, p) for d, p in zip(data, paths, strict=True)])


def _read_bytes(path: str) -> torch.Tensor:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read image {path} ({type(e).__name__}: {first_line(e)})") from None
    if not raw:
        raise DataError(f"image {path} is empty (0 bytes); is it corrupt?")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8)


def _decode_bytes(tvio: ModuleType, data: torch.Tensor, path: str) -> torch.Tensor:
    """The bytes of one image file -> ``(3, 32, 32)`` uint8 RGB."""
    try:
        img = tvio.decode_image(data, mode=tvio.ImageReadMode.RGB)
    except Exception as e:
        raise DataError(f"cannot decode image {path} ({type(e).__name__}: {first_line(e)}); is it corrupt?") from None
    if img.dtype != torch.uint8 or tuple(img.shape) != (3, 32, 32):
        raise DataError(
            f"image {path} is {tuple(img.shape)} {img.dtype}; CIFAR-10 images are 32x32 RGB (3, 32, 32) uint8"
        )
    return img
