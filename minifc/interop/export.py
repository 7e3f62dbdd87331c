"""The bytes of an export (``torch``, ``onnx`` or ``safetensors``) and, for ONNX, their check in onnxruntime.

Nothing here writes a file: ``minifc export`` writes the bytes once they are complete and checked.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch

from ..errors import ExportError
from ..nn.classifier import Classifier
from .model_file import model_file_bytes
from .onnx_export import onnx_bytes, run_onnx
from .optional import import_extra
from .to_torch import to_torch, torch_code

__all__ = ["FORMATS", "Exported", "export_bytes", "input_width", "ONNX_TOLERANCE"]

#: format -> file suffix
FORMATS = {"torch": ".pt", "onnx": ".onnx", "safetensors": ".safetensors"}
#: the largest difference allowed between onnxruntime's logits and minifc's, relative to max(1, |logit|)
ONNX_TOLERANCE = 1e-4


@dataclass
class Exported:
    """An export's file content and what to tell the user about it (lines of text)."""

    data: bytes
    notes: list[str]


def input_width(model: Classifier) -> int:
    """D of the inputs (N, D) ``model`` takes: its first layer's ``in_features``."""
    for module in model.net.modules():
        width = getattr(module, "in_features", None)
        if isinstance(width, int):
            return width
    raise ExportError("the model has no layer with in_features: its input width is unknown")


def check_extras(fmt: str) -> None:
    """Raise ExportError with the pip line when a package ``fmt`` needs is missing (before any work)."""
    if fmt == "safetensors":
        import_extra("safetensors", "--to safetensors")
    elif fmt == "onnx":
        import_extra("onnxruntime", "--to onnx (to check the file)")


def export_bytes(model: Classifier, fmt: str, images: torch.Tensor, file_name: str = "model.pt") -> Exported:
    """``model`` in format ``fmt``. For ``onnx``, the file is run in onnxruntime on ``images`` (N, D)
    first, and ExportError is raised when its logits differ from ``model``'s by more than
    ``ONNX_TOLERANCE`` (relative to max(1, the largest logit)). ``file_name``: how the torch
    rebuild line names the file."""
    if fmt == "safetensors":
        return Exported(model_file_bytes(model), [f"load it with minifc.load_model({file_name!r})"])
    module = to_torch(model)
    if fmt == "torch":
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buffer)
        line = f"net = {torch_code(module)}; net.load_state_dict(torch.load({file_name!r})); net.eval()"
        return Exported(buffer.getvalue(), ["rebuild it in torch with:", line])
    if fmt != "onnx":
        raise ValueError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    data = onnx_bytes(module, input_width(model))
    x = images.to(model.dtype)
    expected = model.loss(x).cpu()
    got = run_onnx(data, x)
    diff = float((got.to(expected.dtype) - expected).abs().max()) if x.shape[0] else 0.0
    scale = max(1.0, float(expected.abs().max())) if x.shape[0] else 1.0
    if not diff <= ONNX_TOLERANCE * scale:
        raise ExportError(
            f"the ONNX file's logits differ from minifc's by up to {diff:.3g} on {x.shape[0]} images "
            f"(allowed {ONNX_TOLERANCE * scale:.3g}): nothing written"
        )
    return Exported(data, [f"checked in onnxruntime: max abs difference {diff:.3g} from minifc's logits"])
