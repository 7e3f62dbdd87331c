"""One ``minifc train`` run in its folder: claim the folder, build the model, data and Trainer from a
resolved configuration, train, and write the history, result and plot.

Nothing in the folder changes before the run can start: a refused ``--resume`` (a rejected checkpoint,
a finished run) leaves every file as it was, and ``--force`` moves the earlier run's files aside only
once the new run has been built.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import torch

from ...config.train_config import saved_form
from ...device import resolve_device
from ...distributed.context import DEFAULT_TIMEOUT
from ...errors import CheckpointError, MinifcError, UnsafePathError
from ...io.checkpoint import clean_stale_temps
from ...io.run_folder import (
    CHECKPOINT,
    CONFIG,
    PREV_CHECKPOINT,
    RESULT,
    RUN_FILES,
    FolderLocked,
    claim,
    holds_run,
    move_aside,
    stale_lock_message,
)
from ...io.runs import build_model
from ...io.set_aside import interrupted_message
from ...nn.summary import summary
from ...training.callbacks import Callback
from ...training.ema import EMA
from ...training.trainer import Trainer
from .common import load_data, os_error_message, print_table, write_json
from .memory import INPUT_DIM, allocation_message, check_model_memory
from .resume_notes import epochs_note
from .run_reports import plot_run, write_history


class _Finished(Exception):
    """The resumed run has done all its epochs and has its result already."""


def run(
    ctx: click.Context,
    config: dict[str, Any],
    out: Path,
    *,
    resume: bool,
    force: bool,
    quiet: bool,
    new_lr: float | None = None,
    epochs_change: tuple[int, str] | None = None,
    data_relative: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    callbacks: tuple[Callback, ...] = (),
) -> None:
    """Train ``config`` in ``out`` (``callbacks``: more Trainer callbacks, after the run's own); ``resume``:
    continue the run there, with learning rate ``new_lr`` from now on when given (``epochs_change``: the run's
    number of epochs before this resume changed it, and where the new one comes from);
    ``data_relative``: config.json gives the data folder relative to ``out``
    (:func:`~minifc.config.train_config.saved_form`); ``timeout``: seconds a rank of a data-parallel job
    waits for the others. Errors become one-line click errors. In a
    data-parallel job (torchrun) only rank 0 claims the folder and writes files; the other ranks train
    beside it."""
    if not _is_main_rank():
        _guarded(ctx, out, lambda: _run_rank(config, out, resume=resume, quiet=quiet, new_lr=new_lr, timeout=timeout))
        return
    saved = saved_form(config, out, data_relative)
    with _claimed(out) as lock:
        _guarded(ctx, out, lambda: _run_locked(config, saved, out, lock, resume=resume, force=force, quiet=quiet,
                                               new_lr=new_lr, epochs_change=epochs_change, timeout=timeout,
                                               callbacks=callbacks))


def check_folder(out: Path, *, resume: bool, force: bool) -> None:
    """The checks of the run folder that need no rank, made before a data-parallel job starts: it can be
    claimed (writable, not locked by another run, no link where a run file belongs), and holds a run to
    resume, or none unless ``force``."""
    with _claimed(out) as lock:
        note = stale_lock_message(lock)
        if note:
            click.echo(note, err=True)
        _refuse_unusable(out, resume, force)


@contextlib.contextmanager
def _claimed(out: Path) -> Iterator[Any]:
    """The folder's lock while the block runs (one-line click errors when it cannot be taken); a folder
    that this created and that stayed empty is removed afterwards."""
    created = not out.exists()
    try:
        lock = claim(out)
    except (FolderLocked, UnsafePathError) as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(os_error_message(e, f"cannot use {out} as the run folder")) from None
    with lock:
        try:
            yield lock
        finally:
            lock.release()
            if created:  # a run that never started leaves no empty folder behind
                with contextlib.suppress(OSError):
                    out.rmdir()  # only removes an empty folder


def _refuse_unusable(out: Path, resume: bool, force: bool) -> None:
    """Refuse a folder whose earlier --force was interrupted (unless ``force`` finishes it), a --resume
    without a checkpoint, and a new run over an earlier one without ``force``."""
    interrupted = interrupted_message(out, RUN_FILES)
    if interrupted and not force:
        raise click.ClickException(interrupted)
    if resume and not (out / CHECKPOINT).is_file():
        raise click.UsageError(_no_checkpoint_message(out))
    if not resume and holds_run(out) and not force:
        raise click.UsageError(
            f"{out} already holds a run; use --resume to continue it, --force to replace it (its files are moved "
            f"into {out}/replaced-<time>/), or another --out"
        )


def _is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0") or 0) == 0


def _guarded(ctx: click.Context, out: Path, body: Any) -> None:
    """Run ``body()``, turning its errors into one-line click errors."""
    try:
        body()
    except _Finished as e:
        click.echo(str(e), err=True)
    except click.ClickException:
        raise
    except CheckpointError as e:
        raise click.ClickException(_checkpoint_message(e, out)) from None
    except (MinifcError, ValueError, TypeError, KeyError) as e:
        message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        raise click.ClickException(message) from None
    except OSError as e:
        raise click.ClickException(_write_error(e, out)) from None
    except KeyboardInterrupt:
        if (out / CHECKPOINT).is_file():
            click.echo(f"\ninterrupted: continue with `minifc train --out {out} --resume`", err=True)
        else:
            click.echo("\ninterrupted before the first checkpoint: start again with --force", err=True)
        ctx.exit(130)


def _run_rank(
    config: dict[str, Any], out: Path, *, resume: bool, quiet: bool, new_lr: float | None, timeout: float
) -> None:
    """A rank other than 0: the same Trainer (it joins the process group), no files, no output."""
    trainer, data, _ = _build(config, out, resume=resume, quiet=True, new_lr=new_lr, main=False, timeout=timeout)
    with warnings.catch_warnings():  # rank 0 warns what differs in the resumed run, for every rank
        warnings.filterwarnings("ignore", message="resuming ")
        trainer.train(resume=resume)
    if "X_test" in data:
        trainer.check_accuracy(data["X_test"], data["y_test"])  # a collective: every rank takes part
    trainer.close()


def _run_locked(
    config: dict[str, Any],
    saved: dict[str, Any],
    out: Path,
    lock: Any,
    *,
    resume: bool,
    force: bool,
    quiet: bool,
    new_lr: float | None,
    epochs_change: tuple[int, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    callbacks: tuple[Callback, ...] = (),
) -> None:
    """Train ``config`` in the locked folder ``out``; ``saved``: the same as config.json holds it."""
    note = stale_lock_message(lock)
    if note:
        click.echo(note, err=True)
    removed = clean_stale_temps(*(out / name for name in RUN_FILES), untagged=True)
    if removed:
        names = ", ".join(p.name for p in removed)
        click.echo(f"removed {len(removed)} temporary file(s) a killed run left in {out}: {names}", err=True)
    interrupted = interrupted_message(out, RUN_FILES)
    _refuse_unusable(out, resume, force)
    trainer, data, gate = _build(config, out, resume=resume, quiet=quiet, new_lr=new_lr, main=True, saved=saved,
                                 epochs_change=epochs_change, timeout=timeout, callbacks=callbacks)
    if not resume:
        moved = move_aside(out) if force else None
        if moved is not None:
            how = " (finishing the move an interrupted --force began)" if interrupted else ""
            click.echo(f"--force: the previous run's files were moved to {moved}{how}", err=True)
        write_json(out / CONFIG, saved)
    try:
        with warnings.catch_warnings():  # a new learning rate or precision has its note already (--lr changes ...)
            warnings.filterwarnings("ignore", message=r"resuming .* with (learning_rate|precision [^;]*$)")
            trainer.train(resume=resume)
    finally:
        if gate.started:
            write_history(trainer, out)
    test_acc = trainer.check_accuracy(data["X_test"], data["y_test"]) if "X_test" in data else float("nan")
    row = {
        "epochs": trainer.epoch,
        "best_val_acc": trainer.best_val_acc,
        "test_acc": test_acc,
        "seconds": round(trainer.elapsed, 2),
    }
    print_table([row], list(row))
    write_json(out / RESULT, row)
    plot_run(trainer, out, config)
    trainer.close()
    click.echo(f"run saved in {out}")


def _no_checkpoint_message(out: Path) -> str:
    """Why ``--resume`` cannot continue the run in ``out``: what the folder holds instead of a checkpoint."""
    present = [name for name in RUN_FILES if os.path.lexists(out / name)]
    if present in ([], [CONFIG]):
        return (
            f"--resume: {out} holds no {CHECKPOINT}: its run stopped before its first epoch ended. "
            f"Start it again with --force (or use another --out)."
        )
    prev = out / PREV_CHECKPOINT
    back = f"; to continue from the epoch before, copy it back: cp {prev} {out / CHECKPOINT}" if prev.is_file() else ""
    return (
        f"--resume: {out} holds {', '.join(present)} but no {CHECKPOINT} (moved or deleted?): there is nothing "
        f"to resume from{back}. Start a new run there with --force (its files are moved aside), or use another --out."
    )


class _Gate(Callback):
    """Runs once the Trainer has loaded the checkpoint (or started afresh), before the first step: stops a
    resumed run that has nothing left to do, applies a new learning rate, saves the configuration and
    prints the model's summary (``show``)."""

    def __init__(
        self,
        out: Path,
        config: dict[str, Any],
        resume: bool,
        new_lr: float | None,
        write: bool = True,
        show: bool = False,
        epochs_change: tuple[int, str] | None = None,
    ) -> None:
        self.out, self.config, self.resume, self.new_lr, self.write = out, config, resume, new_lr, write
        self.show, self.epochs_change = show, epochs_change
        self.started = False

    def on_train_begin(self, trainer: Any) -> None:
        if self.resume:
            done, wanted = trainer.epoch, trainer.num_epochs
            if done > wanted:
                raise click.UsageError(
                    f"--resume: --epochs {wanted} is fewer than the {done} epochs the run in {self.out} has done"
                )
            if done == wanted and (self.out / RESULT).is_file():
                raise _Finished(
                    f"nothing to do: the run in {self.out} has finished its {done} epochs ({RESULT} holds its "
                    f"result); pass --epochs N with N > {done} to train it further"
                )
            if self.new_lr is not None:  # as if the run had used it from the start: lr * lr_decay**epochs_done
                trainer.set_learning_rate(self.new_lr)
            if self.write and self.epochs_change is not None:
                before, source = self.epochs_change
                click.echo(epochs_note(trainer, before, self.config.get("schedule"), source), err=True)
            if self.write:
                write_json(self.out / CONFIG, self.config)
        if self.show:
            click.echo(summary(trainer.model, INPUT_DIM))
        self.started = True


def _build(
    config: dict[str, Any],
    out: Path,
    *,
    resume: bool,
    quiet: bool,
    new_lr: float | None,
    main: bool,
    saved: dict[str, Any] | None = None,
    epochs_change: tuple[int, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    callbacks: tuple[Callback, ...] = (),
) -> tuple[Any, dict[str, Any], _Gate]:
    """The Trainer for ``config``, its data and its gate; ``saved``: what config.json holds (default: ``config``)."""
    dtype = getattr(torch, config["dtype"])
    try:
        device = resolve_device(config["device"])
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--device") from None
    torch.manual_seed(config["seed"])
    model = _build_model(config, dtype, device)
    data = load_data(config["data"], dtype, device)
    if config["num_train"]:
        n = config["num_train"]
        data["X_train"], data["y_train"] = data["X_train"][:n], data["y_train"][:n]
    optim_config = dict(config["update_rule_options"])
    if config["lr"] is not None:
        optim_config["learning_rate"] = config["lr"]
    gate = _Gate(out, config if saved is None else saved, resume, new_lr, write=main, show=main and not quiet,
                 epochs_change=epochs_change)
    trainer = Trainer(
        model,
        data,
        update_rule=config["update_rule"],
        optim_config=optim_config,
        regularizers=[dict(spec) for spec in config["regularizers"]],
        gradient_transforms=[dict(spec) for spec in config.get("gradient_transforms", [])],
        lr_decay=config["lr_decay"],
        schedule=config["schedule"],  # a registered name with options: the Trainer builds it
        batch_size=config["batch_size"],
        num_epochs=config["epochs"],
        device=device,
        seed=config["seed"],
        checkpoint_path=out / CHECKPOINT,
        callbacks=[gate, *([EMA(config["ema"])] if config["ema"] else []), *config.get("callbacks", []), *callbacks],
        verbose=not quiet,
        timeout=timeout,
        precision=config.get("precision"),
        reduce_precision=config.get("reduce_precision", "32"),
    )
    trainer.run_config = config  # saved in every checkpoint: a resume compares config.json with it
    return trainer, data, gate


def _build_model(config: dict[str, Any], dtype: torch.dtype, device: torch.device) -> Any:
    hidden = config["hidden"]
    check_model_memory(hidden, dtype, device)
    try:
        return build_model(config, dtype, device)
    except (MemoryError, RuntimeError) as e:
        if not isinstance(e, MemoryError) and "alloc" not in str(e).lower() and "out of memory" not in str(e):
            raise
        raise click.ClickException(allocation_message(hidden, dtype, device, e)) from None


def _write_error(e: OSError, out: Path) -> str:
    name = Path(e.filename).name if e.filename else ""
    if name == CHECKPOINT:
        return os_error_message(e, "could not save the checkpoint") + "; the previous checkpoint is unchanged"
    return os_error_message(e, f"could not write into {out}" if e.filename and str(out) in str(e.filename) else "")


def _checkpoint_message(error: CheckpointError, out: Path) -> str:
    """A rejected checkpoint's reason followed by what to do on the command line (not the Trainer's API advice
    its message carries) when the checkpoint of the epoch before is kept."""
    text = error.reason.rstrip(" .;")
    prev, path = error.previous, error.path or out / CHECKPOINT
    if prev is not None and prev.is_file():
        text += (
            f". The checkpoint of the epoch before is kept as {prev}: to continue from it, keep the rejected file "
            f"aside and copy it in (mv {path} {path}.rejected && cp {prev} {path}), then run "
            f"`minifc train --out {out} --resume` again"
        )
    return text
