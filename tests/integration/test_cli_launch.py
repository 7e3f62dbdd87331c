"""`minifc train --nproc-per-node N`: the checks that need no rank are made before torchrun starts (one
`Error:` line, nothing started), notes and errors are printed once, and a failed rank is one line, not
torchrun's report. In-process where no rank starts; world size 2 on gloo in a subprocess otherwise."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import minifc.cli.commands.launch as launch
import minifc.cli.commands.train_run as train_run
from minifc.cli import main
from minifc.io.run_folder import LOCK, claim

REPO = Path(__file__).resolve().parents[2]


def args(data: Path, out: Path, *extra: str, nproc: int | None = 2) -> list[str]:
    return [
        "train", "--data", str(data), "--out", str(out), "--device", "cpu", "--quiet", "--epochs", "1",
        *(["--nproc-per-node", str(nproc)] if nproc else []), *extra,
    ]  # fmt: skip


@pytest.fixture
def no_ranks(monkeypatch):
    """Fails the test if the command would start torchrun."""

    def refuse(nproc, argv):
        raise AssertionError("torchrun was started")

    monkeypatch.setattr(launch, "launch_local", refuse)
    import minifc.cli.commands.train as train_command

    monkeypatch.setattr(train_command, "launch_local", refuse)


def one_error_line(result, *needles: str) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in result.output, result.output
    return errors[0]


def test_a_batch_that_does_not_divide_is_refused_before_any_rank_starts(tiny_cifar, tmp_path, no_ranks):
    result = CliRunner().invoke(main, args(tiny_cifar, tmp_path / "run", "--batch-size", "101"))
    assert result.exit_code == 1
    one_error_line(result, "--batch-size: the global batch size 101 is not divisible by the world size 2")
    assert not (tmp_path / "run").exists()


def test_an_out_that_holds_a_run_is_refused_before_any_rank_starts(tiny_cifar, tmp_path, no_ranks):
    out = tmp_path / "run"
    first = CliRunner().invoke(main, args(tiny_cifar, out, "--batch-size", "40", nproc=None))
    assert first.exit_code == 0, first.output
    one_error_line(CliRunner().invoke(main, args(tiny_cifar, out)), f"{out} already holds a run")


def test_a_locked_or_unwritable_out_is_refused_before_any_rank_starts(tiny_cifar, tmp_path, no_ranks, monkeypatch):
    out = tmp_path / "run"
    with claim(out):
        one_error_line(CliRunner().invoke(main, args(tiny_cifar, out)), f"pid {os.getpid()}", "in use")

    def refuse(folder, *a, **k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(Path(folder) / LOCK))

    monkeypatch.setattr(train_run, "claim", refuse)
    one_error_line(CliRunner().invoke(main, args(tiny_cifar, out)), "cannot use", "Permission denied")


def test_timeout_reaches_the_trainer_is_not_saved_and_must_be_positive(tiny_cifar, tmp_path, monkeypatch):
    seen = []
    real = train_run.Trainer

    def spy(*a, **k):
        seen.append(k["timeout"])
        return real(*a, **k)

    monkeypatch.setattr(train_run, "Trainer", spy)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, args(tiny_cifar, out, "--batch-size", "40", "--timeout", "7.5", nproc=None))
    assert result.exit_code == 0, result.output
    assert seen == [7.5] and "timeout" not in (out / "config.json").read_text()
    for bad in ("0", "-1", "nan"):
        refused = CliRunner().invoke(main, args(tiny_cifar, tmp_path / "r2", "--timeout", bad, nproc=None))
        assert refused.exit_code == 2 and "--timeout" in refused.output, refused.output
    assert not (tmp_path / "r2").exists()


def test_print_config_prints_once_and_starts_nothing(tmp_path, no_ranks):
    result = CliRunner().invoke(main, ["train", "--nproc-per-node", "2", "--print-config", "json"])
    assert result.exit_code == 0, result.output
    assert result.output.count('"batch_size"') == 1


def _run(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "minifc", *argv], capture_output=True, text=True, env=env, timeout=240, cwd=REPO
    )


@pytest.mark.subprocess
def test_a_failing_rank_is_one_error_line_and_one_line_naming_the_rank(tmp_path):
    done = _run(*args(tmp_path / "no-data", tmp_path / "run", "--batch-size", "40"))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "ChildFailedError" not in done.stderr, done.stderr
    # one rank's error, once: rank 0's, or (when another rank failed first and the launcher stopped rank 0
    # before it reported) that rank's, prefixed with it
    assert done.stderr.count("no CIFAR-10 found") == 1, done.stderr
    assert re.search(r"^Error: (rank \d+: )?no CIFAR-10 found", done.stderr, re.M), done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("minifc: rank "), done.stderr
    assert "of 2 exited with code 1" in done.stderr


@pytest.mark.subprocess
def test_resume_notes_are_printed_once(tiny_cifar, tmp_path):
    out = tmp_path / "run"
    first = CliRunner().invoke(main, args(tiny_cifar, out, "--batch-size", "40", nproc=None))
    assert first.exit_code == 0, first.output
    done = _run("train", "--out", str(out), "--resume", "--epochs", "2", "--lr", "0.5", "--quiet",
                "--nproc-per-node", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("--lr changes from") == 1, done.stderr
    assert done.stderr.count("--epochs changes from 1 to 2") == 1, done.stderr
    assert done.stderr.count("UserWarning: resuming") == 1, done.stderr  # another number of processes
