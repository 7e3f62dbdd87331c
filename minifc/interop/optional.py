"""The export extra's packages (safetensors, onnx, onnxscript, onnxruntime), imported only when used."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ExportError

__all__ = ["import_extra"]


def import_extra(module: str, what: str) -> ModuleType:
    """``module`` imported, or :class:`~minifc.errors.ExportError` with the one line that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise ExportError(f"{what} needs the package {top}: pip install 'minifc[export]'") from None
