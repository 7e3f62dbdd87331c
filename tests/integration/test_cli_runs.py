"""`minifc train` and its run folder: resume rules, the folder lock, --force, refused resumes that change
nothing, and clean one-line errors where a traceback used to be (on a tiny fake CIFAR-10)."""

from __future__ import annotations

import errno
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from minifc.cli import main
from minifc.io.run_folder import LOCK, RUN_FILES, claim


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train", "--data", str(data), "--out", str(out), "--batch-size", "40", "--device", "cpu", "--quiet",
        *extra,
    ]  # fmt: skip


def invoke(args: list[str]):
    return CliRunner().invoke(main, args)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (what 'nothing changed' compares)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


@pytest.fixture
def finished_run(tiny_cifar, tmp_path) -> Path:
    out = tmp_path / "run"
    result = invoke(train_args(tiny_cifar, out, "--epochs", "2"))
    assert result.exit_code == 0, result.output
    return out


# -- item 4: --resume with options that differ ---------------------------------------------------------------


def test_resume_refuses_changed_architecture_and_names_every_difference(finished_run) -> None:
    before = snapshot(finished_run)
    result = invoke(["train", "--out", str(finished_run), "--resume", "--epochs", "3", "--hidden", "50", "--lr", "0.5"])
    assert result.exit_code == 2, result.output
    assert "--hidden: [100] -> [50]" in result.output
    assert "--lr: " not in result.output  # the learning rate may change: it is not among the refused
    assert snapshot(finished_run) == before


def test_resume_applies_a_new_learning_rate_and_epochs_with_a_note(finished_run) -> None:
    result = invoke(["train", "--out", str(finished_run), "--resume", "--epochs", "3", "--lr", "0.5"])
    assert result.exit_code == 0, result.output
    assert "--lr changes from 0.01 to 0.5" in result.output
    assert "--epochs changes from 2 to 3" in result.output
    config = json.loads((finished_run / "config.json").read_text())
    assert config["lr"] == 0.5 and config["epochs"] == 3
    history = json.loads((finished_run / "history.json").read_text())
    assert history["lr_history"] == [0.01, 0.01, 0.5]


def test_resume_with_more_epochs_says_the_schedule_is_refitted_and_the_learning_rate_jumps(tiny_cifar, tmp_path):
    out = tmp_path / "cosine"
    args = train_args(tiny_cifar, out, "--schedule", "warmup_cosine", "--lr", "1e-4", "--batch-size", "20")
    assert invoke([*args, "--epochs", "2"]).exit_code == 0
    before = json.loads((out / "history.json").read_text())["lr_history"][-1]
    result = invoke(["train", "--out", str(out), "--resume", "--epochs", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    history = json.loads((out / "history.json").read_text())["lr_history"]
    assert history[-1] > 0 and history[2] > 10 * before  # the cosine restarts: the learning rate jumps up
    note = [line for line in result.output.splitlines() if "--epochs changes" in line]
    assert note == [
        f"note: --epochs changes from 2 to 4 for the rest of this run; the warmup_cosine schedule depends on the "
        f"total number of steps and is refitted to 4 epochs: the learning rate goes from {before:.1e} (the last "
        f"step's) to {1e-4 * 0.5 * (1 + math.cos(math.pi * 15 / 31)):.1e} at the next step"
    ], result.output
    png = (out / "history.png").read_bytes()
    assert int.from_bytes(png[16:20], "big") == 1500  # three panels of 500 pixels: the learning rate has one


def test_resume_with_more_epochs_keeps_an_epoch_based_schedule_as_it_was(tiny_cifar, tmp_path):
    out = tmp_path / "step"
    args = train_args(tiny_cifar, out, "--schedule", "step:gamma=0.5", "--lr", "0.01", "--num-train", "80")
    assert invoke([*args, "--epochs", "2"]).exit_code == 0
    result = invoke(["train", "--out", str(out), "--resume", "--epochs", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    note = [line for line in result.output.splitlines() if "--epochs changes" in line]
    assert note == ["note: --epochs changes from 2 to 3 for the rest of this run"], result.output  # not refitted
    assert json.loads((out / "history.json").read_text())["lr_history"] == [0.01, 0.005, 0.0025]


def test_resuming_a_finished_run_changes_nothing_and_says_so(finished_run) -> None:
    before = snapshot(finished_run)
    result = invoke(["train", "--out", str(finished_run), "--resume"])
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output and "--epochs" in result.output
    assert snapshot(finished_run) == before


def test_resume_with_fewer_epochs_than_done_is_refused(finished_run) -> None:
    before = snapshot(finished_run)
    result = invoke(["train", "--out", str(finished_run), "--resume", "--epochs", "1"])
    assert_one_line_error(result, "fewer than the 2 epochs")
    assert snapshot(finished_run) == before


# -- item 11: a refused resume changes nothing ----------------------------------------------------------------


def test_refused_resume_keeps_history_and_config_and_gives_cli_advice(finished_run) -> None:
    ckpt = finished_run / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    before = snapshot(finished_run)
    result = invoke(["train", "--out", str(finished_run), "--resume", "--epochs", "4"])
    assert_one_line_error(result, str(ckpt), "checkpoint.prev.pt", "--resume")
    assert "resume='" not in result.output  # the API's syntax is not the command line's (item 18)
    assert snapshot(finished_run) == before
    assert len(json.loads((finished_run / "history.json").read_text())["val_acc_history"]) == 2


def test_resume_with_a_truncated_or_incomplete_config_names_the_file(finished_run) -> None:
    config = finished_run / "config.json"
    text = config.read_text()
    config.write_text(text[:40])
    result = invoke(["train", "--out", str(finished_run), "--resume", "--epochs", "3"])
    assert_one_line_error(result, str(config), "not valid JSON")
    values = json.loads(text)
    del values["dtype"]
    config.write_text(json.dumps(values))
    result = invoke(["train", "--out", str(finished_run), "--resume", "--epochs", "3"])
    assert_one_line_error(result, str(config), "'dtype'")


# -- item 10: --force moves the old run aside before the new one starts -----------------------------------------


def test_force_moves_the_old_run_aside_so_resume_never_continues_it(tiny_cifar, finished_run, monkeypatch) -> None:
    old = snapshot(finished_run)
    from minifc.training.trainer import Trainer

    def killed(self, *args, **kwargs):  # the new run dies during its first epoch
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "train", killed)
    result = invoke(train_args(tiny_cifar, finished_run, "--epochs", "2", "--force", "--lr", "0.2"))
    assert result.exit_code == 130, result.output
    monkeypatch.undo()
    assert not (finished_run / "checkpoint.pt").exists()
    assert json.loads((finished_run / "config.json").read_text())["lr"] == 0.2
    moved = [p for p in finished_run.iterdir() if p.name.startswith("replaced-")]
    assert len(moved) == 1 and snapshot(moved[0]) == old  # nothing lost
    result = invoke(["train", "--out", str(finished_run), "--resume"])
    assert_one_line_error(result, "holds no checkpoint.pt", "--force")


def test_force_with_bad_options_leaves_the_old_run_in_place(tiny_cifar, finished_run) -> None:
    before = snapshot(finished_run)
    result = invoke(train_args(tiny_cifar, finished_run, "--force", "--batch-size", "100000"))
    assert_one_line_error(result, "batch_size")
    assert snapshot(finished_run) == before


# -- item 9: one run per folder at a time ---------------------------------------------------------------------


def test_a_folder_in_use_is_refused_naming_the_pid(tiny_cifar, tmp_path) -> None:
    out = tmp_path / "run"
    with claim(out):
        result = invoke(train_args(tiny_cifar, out, "--epochs", "1"))
    assert_one_line_error(result, f"pid {os.getpid()}", "in use")
    assert sorted(p.name for p in out.iterdir()) == []  # and the lock is gone with its holder


def test_a_stale_lock_of_a_dead_process_is_reported_and_replaced(tiny_cifar, tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = {"pid": dead.pid, "host": os.uname().nodename, "started": "2020-01-01 00:00:00 +0000"}
    (out / LOCK).write_text(json.dumps(lock))
    result = invoke(train_args(tiny_cifar, out, "--epochs", "1"))
    assert result.exit_code == 0, result.output
    assert "stale lock" in result.output and f"pid {dead.pid}" in result.output
    assert not (out / LOCK).exists()


@pytest.mark.subprocess
def test_two_runs_into_one_folder_at_once_one_is_refused(tiny_cifar, tmp_path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-c", "from minifc.cli import main; main()"]
    first = subprocess.Popen([*cmd, *train_args(tiny_cifar, out, "--epochs", "200")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.time() + 120
        while not (out / LOCK).exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()[0]
        second = subprocess.run([*cmd, *train_args(tiny_cifar, out, "--epochs", "1")], env=env,
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.kill()  # SIGKILL: no cleanup, the lock stays behind
        first.wait()
    assert (out / LOCK).exists()
    third = invoke(train_args(tiny_cifar, out, "--epochs", "1", "--force"))
    assert third.exit_code == 0, third.output
    assert "stale lock" in third.output and f"pid {first.pid}" in third.output


# -- item 16: clean one-line errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["meta", "mps", "cuda:99", "nonsense"])
def test_unavailable_devices_are_refused(tiny_cifar, tmp_path, device) -> None:
    if device == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        pytest.skip("mps is available here")
    if device == "cuda:99" and torch.cuda.device_count() > 99:
        pytest.skip("this machine has 100 GPUs")
    result = invoke(train_args(tiny_cifar, tmp_path / "r", "--device", device))
    assert_one_line_error(result, "--device", repr(device))


def test_a_model_too_big_for_memory_names_the_layer(tiny_cifar, tmp_path) -> None:
    result = invoke(train_args(tiny_cifar, tmp_path / "r", "--hidden", "100000000"))
    assert_one_line_error(result, "cannot allocate", "layer 1 (Linear 3072 x 100000000, float32)")


def test_an_allocator_error_names_the_layer(tiny_cifar, tmp_path, monkeypatch) -> None:
    import minifc.models

    def no_memory(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1600 bytes.")

    monkeypatch.setattr(minifc.models, "FullyConnectedNet", no_memory)
    result = invoke(train_args(tiny_cifar, tmp_path / "r", "--hidden", "40,10"))  # 40 x 10 float32 = 1600 bytes
    assert_one_line_error(result, "cannot allocate", "layer 2 (Linear 40 x 10, float32)")


def test_a_full_disk_during_a_checkpoint_save_is_one_line_and_keeps_the_last_one(tiny_cifar, tmp_path, monkeypatch):
    import minifc.io.checkpoint

    out = tmp_path / "r"
    saves = []
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        saves.append(1)
        if len(saves) == 2:
            f.write(b"x" * 1000)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(minifc.io.checkpoint.torch, "save", save)
    result = invoke(train_args(tiny_cifar, out, "--epochs", "3"))
    assert_one_line_error(result, f"{out / 'checkpoint.pt'}", "No space left on device", "unchanged")
    monkeypatch.undo()
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder_is_one_line(tiny_cifar, tmp_path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        result = invoke(train_args(tiny_cifar, parent / "run", "--epochs", "1"))
    finally:
        parent.chmod(0o755)
    assert_one_line_error(result, str(parent / "run"), "Permission denied")


def test_an_unwritable_run_folder_is_one_line(tiny_cifar, tmp_path, monkeypatch) -> None:
    import minifc.cli.commands.train_run as train_run

    def refuse(folder, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(Path(folder) / LOCK))

    monkeypatch.setattr(train_run, "claim", refuse)
    result = invoke(train_args(tiny_cifar, tmp_path / "run", "--epochs", "1"))
    assert_one_line_error(result, "cannot use", str(tmp_path / "run" / LOCK), "Permission denied")


def test_a_stale_checkpoint_temp_file_is_removed_at_start(finished_run) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = finished_run / f".checkpoint.pt.{dead.pid}.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    result = invoke(["train", "--out", str(finished_run), "--resume", "--epochs", "3"])
    assert result.exit_code == 0, result.output
    assert not stale.exists() and stale.name in result.output


# -- links where a run file belongs ---------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--resume", "--force"])
def test_a_link_at_any_run_file_is_refused_naming_it_and_its_target_is_unchanged(
    tiny_cifar, finished_run, tmp_path, option
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"a user's file\n")
    for name in [LOCK, *RUN_FILES]:
        path = finished_run / name
        kept = path.read_bytes() if path.exists() else None
        path.unlink(missing_ok=True)
        path.symlink_to(victim)
        before = snapshot(finished_run)
        result = invoke(train_args(tiny_cifar, finished_run, "--epochs", "3", option))
        assert_one_line_error(result, str(path), "symbolic link")
        assert victim.read_bytes() == b"a user's file\n", name
        assert path.is_symlink() and snapshot(finished_run) == before, name
        path.unlink()
        if kept is not None:
            path.write_bytes(kept)


def test_a_link_at_an_example_output_is_refused_before_the_example_runs(tmp_path) -> None:
    from minifc.testing import invoke_cli

    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").symlink_to(victim)
    result = invoke_cli("example", "two-layer", "--out", str(out), "--device", "cpu", "--force")
    assert_one_line_error(result, str(out / "summary.json"), "symbolic link")
    assert victim.read_text() == "mine" and (out / "summary.json").is_symlink()


# -- options that contradict each other, or are empty ---------------------------------------------------------


def test_resume_and_force_together_are_refused_naming_both(tiny_cifar, finished_run) -> None:
    before = snapshot(finished_run)
    result = invoke(train_args(tiny_cifar, finished_run, "--epochs", "3", "--resume", "--force"))
    assert result.exit_code == 2, result.output
    assert "--resume and --force cannot be used together" in result.output
    assert snapshot(finished_run) == before


@pytest.mark.parametrize("command", ["train", "example"])
def test_an_empty_out_is_refused_naming_the_option(tiny_cifar, tmp_path, monkeypatch, command) -> None:
    monkeypatch.chdir(tmp_path)
    args = train_args(tiny_cifar, Path("x"), "--epochs", "1") if command == "train" else ["example", "two-layer"]
    args = [*args, "--out", ""]
    result = invoke(args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--out': is empty" in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written into the current folder


# -- a --force killed while moving the old run aside; a folder with part of a run; invalid locks -------------------


def test_an_interrupted_force_is_described_and_a_second_force_finishes_it_into_one_folder(
    tiny_cifar, finished_run
) -> None:
    old = snapshot(finished_run)
    pending = finished_run / ".replacing-20200101-000000"  # what a --force killed after its first move leaves
    pending.mkdir()
    (finished_run / "checkpoint.pt").rename(pending / "checkpoint.pt")
    before = snapshot(finished_run)
    for extra in (["--resume"], []):
        result = invoke(train_args(tiny_cifar, finished_run, "--epochs", "3", *extra))
        assert_one_line_error(result, "an earlier --force was interrupted", f"{pending} holds checkpoint.pt",
                              "still holds checkpoint.prev.pt, config.json", "--force to finish")  # fmt: skip
        assert snapshot(finished_run) == before
    result = invoke(train_args(tiny_cifar, finished_run, "--epochs", "1", "--force"))
    assert result.exit_code == 0, result.output
    assert "finishing the move an interrupted --force began" in result.output
    (moved,) = finished_run.glob("replaced-*")
    assert not list(finished_run.glob(".replacing-*"))
    assert snapshot(moved) == old  # the whole old run, in one folder


def test_resume_of_a_folder_without_its_checkpoint_says_what_is_there(finished_run) -> None:
    (finished_run / "checkpoint.pt").unlink()
    result = invoke(["train", "--out", str(finished_run), "--resume", "--epochs", "3"])
    assert_one_line_error(result, "holds checkpoint.prev.pt, config.json, history.json", "but no checkpoint.pt",
                          f"cp {finished_run / 'checkpoint.prev.pt'}")  # fmt: skip
    assert "before its first epoch ended" not in result.output


def test_a_lock_with_an_impossible_pid_is_reported_and_replaced(tiny_cifar, tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": 10**21, "host": os.uname().nodename, "started": "x"}))
    result = invoke(train_args(tiny_cifar, out, "--epochs", "1"))
    assert result.exit_code == 0, result.output
    assert f"replaced an invalid lock file {out / LOCK}" in result.output and "Traceback" not in result.output
