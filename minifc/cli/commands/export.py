"""``minifc export RUN_OR_CHECKPOINT --to torch|onnx|safetensors``: a trained model for the torch ecosystem.

- ``safetensors``: the weights plus the model's configuration (``minifc.load_model(path)`` reads it);
- ``torch``: the ``state_dict`` of ``minifc.interop.to_torch(model)``; the command prints the line that
  rebuilds the module;
- ``onnx``: that module through ``torch.onnx`` with a dynamic batch axis, run in onnxruntime on test
  images (the run's own, else random ones of the right shape, as the output says) before it is written.

The file is written atomically, never through a link, and an existing one only with ``--force``.
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from ...data import DataError, load_cifar10
from ...errors import ExportError, MinifcError
from ...interop.export import FORMATS, check_extras, export_bytes, input_width
from ...interop.sources import Source, load_source
from ...io.safe_files import check_regular, write_atomic
from .common import non_empty, os_error_message

#: how many test images the ONNX file is checked on
CHECK_IMAGES = 256


@click.command()
@click.argument("source", metavar="RUN_OR_CHECKPOINT", type=click.Path(path_type=Path))
@click.option("--to", "fmt", type=click.Choice(list(FORMATS)), required=True, help="The format to write.")
@click.option("--out", default=None, callback=non_empty,
              help="The file to write (default: model<suffix> in a run folder, else beside the file).")  # fmt: skip
@click.option("--weights", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="For a run: the epoch with the best validation accuracy, or the last one saved.")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace the file --out names if it exists.")
def export(source: Path, fmt: str, out: str | None, weights: str, force: bool) -> None:
    """Export the model in RUN_OR_CHECKPOINT (a run folder, a model.save file or a .safetensors model file)."""
    target = Path(out) if out is not None else _default_out(source, fmt)
    try:
        check_regular(target, "export file")
        if target.exists() and not force:
            raise ExportError(f"{target} exists; pass --force to replace it (or --out another file)")
        check_extras(fmt)
        loaded = load_source(source, weights)
        images, where = _check_images(loaded, fmt)
        exported = export_bytes(loaded.model, fmt, images, target.name)
    except MinifcError as e:
        raise click.ClickException(str(e)) from None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, lambda f: f.write(exported.data), what="export file", durable=True)
    except MinifcError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(os_error_message(e, f"could not write {target}")) from None
    click.echo(f"{source} -> {target} ({fmt}, {len(exported.data):,} bytes)")
    for line in exported.notes:
        click.echo(line.replace("checked in onnxruntime", f"checked in onnxruntime on {where}"))


def _default_out(source: Path, fmt: str) -> Path:
    suffix = FORMATS[fmt]
    if source.is_dir():
        return source / f"model{suffix}"
    name = source.name.removesuffix(source.suffix)
    return source.with_name(f"{name}.torch.pt" if fmt == "torch" and source.suffix == ".pt" else name + suffix)


def _check_images(source: Source, fmt: str) -> tuple[torch.Tensor, str]:
    """The images (N, D) an ONNX file is checked on, and words for where they come from."""
    width = input_width(source.model)
    if fmt != "onnx":
        return torch.empty(0, width), ""
    if source.data is not None:
        try:
            X = load_cifar10(source.data, dtype=source.dtype)["X_test"][:CHECK_IMAGES]
            if X.shape[0] and X[0].numel() == width:
                return X.reshape(X.shape[0], width), f"{X.shape[0]} test images of the run's data ({source.data})"
        except (DataError, ImportError):
            pass
    why = "a model file names no data" if source.data is None else "the run's data could not be loaded"
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(CHECK_IMAGES, width, generator=gen, dtype=source.dtype)
    return X, f"{CHECK_IMAGES} random inputs of shape (N, {width}) ({why})"
