"""A ``torch.nn.Sequential`` (from :func:`~minifc.interop.to_torch`) as ONNX bytes with a dynamic batch
axis, and those bytes run in onnxruntime (to check an export before it is written)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch

from .optional import import_extra

__all__ = ["onnx_bytes", "run_onnx", "INPUT_NAME", "OUTPUT_NAME"]

INPUT_NAME, OUTPUT_NAME = "input", "logits"


def onnx_bytes(module: torch.nn.Sequential, input_dim: int) -> bytes:
    """``module`` (x (N, input_dim) -> logits (N, C)) exported by ``torch.onnx``: the input ``input``
    and the output ``logits`` have a dynamic batch axis ``batch``.

    The TorchScript-based exporter (``dynamo=False``) is tried first: it needs no other package and
    takes a fraction of a second where the torch.export-based one takes seconds; a torch without it
    gets the torch.export-based one, which needs onnxscript (and onnx).
    """
    param = next(module.parameters())
    example = torch.zeros(2, input_dim, dtype=param.dtype, device=param.device)
    inputs, outputs = [INPUT_NAME], [OUTPUT_NAME]
    with torch.no_grad(), warnings.catch_warnings(), tempfile.TemporaryDirectory() as folder:
        warnings.simplefilter("ignore")  # torch.onnx's notes on exporter versions, not the user's concern
        path = Path(folder) / "model.onnx"
        axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
        try:
            torch.onnx.export(
                module, (example,), path, input_names=inputs, output_names=outputs, dynamo=False, dynamic_axes=axes
            )
            return path.read_bytes()
        except (TypeError, NotImplementedError, RuntimeError, ImportError):  # a torch without that exporter
            pass
        import_extra("onnxscript", "--to onnx")
        import_extra("onnx", "--to onnx")
        batch = torch.export.Dim("batch")
        program = torch.onnx.export(
            module, (example,), input_names=inputs, output_names=outputs, dynamo=True,
            dynamic_shapes=({0: batch},), verbose=False,
        )
        assert program is not None  # returned when no file is given
        return bytes(program.model_proto.SerializeToString())


def run_onnx(model: bytes, x: torch.Tensor) -> torch.Tensor:
    """The ONNX ``model``'s output for x (N, D), computed by onnxruntime on the CPU: (N, C) on the CPU."""
    ort = import_extra("onnxruntime", "checking the ONNX file")
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (out,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.detach().cpu().contiguous().numpy()})
    return torch.from_numpy(out)
