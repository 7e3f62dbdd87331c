"""Whether a fully-connected net fits in memory, checked before anything is allocated, and one-line
messages for an allocator error that names the layer."""

from __future__ import annotations

import os
import re

import click
import torch

from ...io.runs import INPUT_DIM, NUM_CLASSES

__all__ = ["INPUT_DIM", "NUM_CLASSES", "allocation_message", "check_model_memory", "linear_layers"]

#: copies of the parameters training holds at once: the weights, their gradients and the best ones so far
COPIES = 3


def linear_layers(hidden: list[int]) -> list[tuple[int, int, int]]:
    """(number, fan_in, fan_out) of each Linear layer of an MLP with these hidden widths, 1-based."""
    dims = [INPUT_DIM, *hidden, NUM_CLASSES]
    return [(i + 1, a, b) for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False))]


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _describe(layer: tuple[int, int, int], dtype: torch.dtype) -> str:
    number, a, b = layer
    return f"layer {number} (Linear {a} x {b}, {str(dtype).removeprefix('torch.')})"


def check_model_memory(hidden: list[int], dtype: torch.dtype, device: torch.device) -> None:
    """Raise a one-line ClickException, before allocating anything, when training the net would need
    more memory than ``device`` has available (parameters, gradients and the best copy: 3 copies)."""
    size = torch.empty((), dtype=dtype).element_size()
    layers = linear_layers(hidden)
    needed = COPIES * sum((a * b + b) * size for _, a, b in layers)
    available = available_memory(device)
    if available is None or needed <= available:
        return
    largest = max(layers, key=lambda layer: layer[1] * layer[2])
    raise click.ClickException(
        f"cannot allocate {_size(largest[1] * largest[2] * size)} for {_describe(largest, dtype)} of --hidden "
        f"{','.join(map(str, hidden))}: training needs about {_size(needed)} (parameters, gradients, best copy) "
        f"and {device} has {_size(available)} available. Use smaller widths."
    )


def available_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device`` (CPU: MemAvailable, else the physical memory; CUDA: free
    memory), or None where it cannot be told."""
    try:
        if device.type == "cpu":
            return _mem_available() or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if device.type == "cuda":
            return torch.cuda.mem_get_info(device)[0]
    except (ValueError, OSError, AttributeError, RuntimeError):
        pass
    return None


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def allocation_message(hidden: list[int], dtype: torch.dtype, device: torch.device, e: BaseException) -> str:
    """One line for an allocator error raised while building the net, naming the layer whose
    weights were asked for (from the byte count in torch's message, else the largest layer)."""
    size = torch.empty((), dtype=dtype).element_size()
    layers = linear_layers(hidden)
    match = re.search(r"allocate (\d+) bytes", str(e))
    asked = int(match.group(1)) if match else None
    failing = [layer for layer in layers if asked in (layer[1] * layer[2] * size, layer[2] * size)]
    layer = failing[0] if failing else max(layers, key=lambda layer: layer[1] * layer[2])
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return (
        f"cannot allocate {_size(layer[1] * layer[2] * size)} for {_describe(layer, dtype)} on {device}: {first}. "
        f"Use smaller --hidden widths."
    )
