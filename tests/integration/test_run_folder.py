"""minifc.io.run_folder: one process per run folder (an O_EXCL lock file held with flock), stale locks of
dead processes taken over with a message, and --force's moving aside of an earlier run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import minifc
from minifc.errors import UnsafePathError
from minifc.io import set_aside
from minifc.io.checkpoint import atomic_save, pid_alive
from minifc.io.run_folder import (
    CHECKPOINT,
    LOCK,
    PREV_CHECKPOINT,
    RUN_FILES,
    FolderLocked,
    claim,
    holds_run,
    move_aside,
    stale_lock_message,
)
from minifc.io.safe_files import write_text


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_claim_writes_pid_host_and_time_and_release_removes_it(tmp_path) -> None:
    folder = tmp_path / "a" / "b"
    with claim(folder) as lock:
        info = json.loads((folder / LOCK).read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname() and info["started"]
        assert stale_lock_message(lock) is None
    assert not (folder / LOCK).exists()


def test_a_held_lock_refuses_a_second_claim_naming_the_holder(tmp_path) -> None:
    with claim(tmp_path):
        with pytest.raises(FolderLocked, match=f"pid {os.getpid()} on host"):
            claim(tmp_path)
    claim(tmp_path).release()  # free again


@pytest.mark.subprocess
def test_a_lock_held_by_another_process_is_refused(tmp_path) -> None:
    code = f"from minifc.io.run_folder import claim; claim({str(tmp_path)!r}); print('held', flush=True); input()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderLocked, match=f"pid {holder.pid}"):
            claim(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    with claim(tmp_path) as lock:  # killed: its lock is stale now
        assert f"pid {holder.pid}" in stale_lock_message(lock)


@pytest.mark.parametrize("content", ["dead", "empty", "garbage"])
def test_stale_or_unreadable_locks_are_replaced_with_a_message(tmp_path, content) -> None:
    text = {
        "dead": json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "started": "2020-01-01 00:00:00 +0000"}),
        "empty": "",
        "garbage": "\x00\x01{",
    }[content]
    (tmp_path / LOCK).write_text(text)
    with claim(tmp_path) as lock:
        message = stale_lock_message(lock)
        assert message and ("no longer running" in message or "unreadable" in message)
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()


def test_a_lock_naming_a_running_process_without_flock_is_respected(tmp_path) -> None:
    """A lock file of a process that is alive and started before it (another tool's, or one from a file
    system without flock) is not taken over; a pid reused by a later process is."""
    parent = os.getppid()
    now = time.strftime("%Y-%m-%d %H:%M:%S %z")
    (tmp_path / LOCK).write_text(json.dumps({"pid": parent, "host": socket.gethostname(), "started": now}))
    with pytest.raises(FolderLocked, match=f"pid {parent}"):
        claim(tmp_path)
    if not os.path.exists(f"/proc/{os.getpid()}/stat"):
        pytest.skip("process start times come from /proc")
    old = {"pid": os.getpid() + 0, "host": socket.gethostname(), "started": "2000-01-01 00:00:00 +0000"}
    child = subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE)
    try:
        (tmp_path / LOCK).write_text(json.dumps({**old, "pid": child.pid}))
        with claim(tmp_path) as lock:  # child started long after 2000: the pid was reused
            assert stale_lock_message(lock)
    finally:
        child.kill()
        child.wait()


def test_a_lock_from_another_host_is_respected(tmp_path) -> None:
    (tmp_path / LOCK).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "2020-01-01 00:00:00 +0000"}))
    with pytest.raises(FolderLocked, match="host elsewhere.*delete"):
        claim(tmp_path)


def test_move_aside_moves_only_run_files_and_loses_nothing(tmp_path) -> None:
    assert move_aside(tmp_path) is None and not holds_run(tmp_path)
    for name in RUN_FILES:
        (tmp_path / name).write_text(name)
    (tmp_path / "notes.txt").write_text("mine")
    assert holds_run(tmp_path)
    target = move_aside(tmp_path)
    assert target.parent == tmp_path and target.name.startswith("replaced-")
    assert sorted(p.name for p in target.iterdir()) == sorted(RUN_FILES)
    assert all((target / name).read_text() == name for name in RUN_FILES)
    assert not holds_run(tmp_path) and (tmp_path / "notes.txt").exists()
    (tmp_path / "config.json").write_text("{}")
    assert move_aside(tmp_path) != target  # a second one in the same second gets its own folder


# -- links where a run file belongs: refused, naming the link; the link's target is never written ------------


@pytest.mark.parametrize("name", [LOCK, *RUN_FILES])
def test_a_link_at_a_run_file_is_refused_and_its_target_untouched(tmp_path, name) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"the user's own file\n")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / name).symlink_to(victim)
    with pytest.raises(UnsafePathError, match=f"{folder / name}.*symbolic link"):
        claim(folder)
    assert victim.read_bytes() == b"the user's own file\n"
    assert (folder / name).is_symlink()
    assert name == LOCK or not os.path.lexists(folder / LOCK)  # refused before the lock was taken


@pytest.mark.parametrize("kind", ["dangling", "fifo", "devnull", "folder"])
def test_a_lock_that_is_not_a_regular_file_is_refused_naming_it(tmp_path, kind) -> None:
    path = tmp_path / LOCK
    if kind == "dangling":
        path.symlink_to(tmp_path / "nowhere")
    elif kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block forever
    elif kind == "devnull":
        path.symlink_to(os.devnull)
    else:
        path.mkdir()
    with pytest.raises(UnsafePathError, match=str(path)):
        claim(tmp_path)
    assert os.path.lexists(path)  # left as it was
    assert not (tmp_path / "nowhere").exists()


def test_the_safe_writers_refuse_a_link_and_leave_its_target(tmp_path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    link = tmp_path / "config.json"
    link.symlink_to(victim)
    with pytest.raises(UnsafePathError, match=str(link)):
        write_text(link, "{}")
    with pytest.raises(UnsafePathError, match=str(link)):
        atomic_save({"a": 1}, link)
    real = tmp_path / "checkpoint.pt"
    atomic_save({"a": 1}, real)
    with pytest.raises(UnsafePathError, match=str(link)):  # the older checkpoint's name is a link
        atomic_save({"a": 2}, real, keep_previous=link)
    assert victim.read_text() == "mine" and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "config.json", "victim.txt"]  # no temps


# -- lock files that no process could have written --------------------------------------------------------------


@pytest.mark.parametrize(
    ("pid", "host", "problem"),
    [
        (10**21, None, "pid 1000000000000000000000 is not a process id"),
        (True, None, "pid true is not a process id"),
        ("123", None, 'pid "123" is not a process id'),
        (-5, None, "pid -5 is not a process id"),
        (None, 7, "host 7 is not a host name"),
    ],
)
def test_an_invalid_lock_is_reported_and_replaced_without_a_traceback(tmp_path, pid, host, problem) -> None:
    info = {"pid": os.getppid() if pid is None else pid, "host": socket.gethostname() if host is None else host,
            "started": "2020-01-01 00:00:00 +0000"}  # fmt: skip
    (tmp_path / LOCK).write_text(json.dumps(info))
    with claim(tmp_path) as lock:
        message = stale_lock_message(lock)
        assert f"invalid lock file {tmp_path / LOCK}" in message and problem in message
    assert not pid_alive(10**21) and not pid_alive(True) and not pid_alive(-1)


# -- moving an earlier run aside is one step, or finished as one --------------------------------------------------


def test_a_move_aside_killed_half_way_is_described_and_finished_into_one_folder(tmp_path, monkeypatch) -> None:
    for name in RUN_FILES:
        (tmp_path / name).write_text(name)
    real_replace, moved = os.replace, []

    def killed_after_two(src, dst):
        if len(moved) == 2:
            raise KeyboardInterrupt  # what a kill leaves: two files moved, the rest not
        moved.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(set_aside.os, "replace", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        move_aside(tmp_path)
    monkeypatch.undo()
    (pending,) = set_aside.interrupted_moves(tmp_path)
    assert pending.name.startswith(".replacing-") and not list(tmp_path.glob("replaced-*"))
    message = set_aside.interrupted_message(tmp_path, RUN_FILES)
    assert f"{pending} holds checkpoint.prev.pt, checkpoint.pt" in message
    assert f"{tmp_path} still holds config.json" in message and "--force" in message
    target = move_aside(tmp_path)  # a second --force finishes the first one's move
    assert sorted(p.name for p in target.iterdir()) == sorted(RUN_FILES)
    assert all((target / name).read_text() == name for name in RUN_FILES)
    assert set_aside.interrupted_moves(tmp_path) == [] and len(list(tmp_path.glob("replaced-*"))) == 1
    assert set_aside.interrupted_message(tmp_path, RUN_FILES) is None


def test_run_file_names_are_spelled_once_in_the_run_folder_table() -> None:
    """Commands name run files through minifc.io.run_folder's constants; the older checkpoint's name is the one
    a Trainer's save keeps beside its checkpoint."""
    root = Path(minifc.__file__).parent
    spelled = {
        f"{path.relative_to(root)}: {name}"
        for path in root.rglob("*.py")
        if path.name != "run_folder.py"
        for name in RUN_FILES
        if f'"{name}"' in path.read_text()
    }
    assert not spelled
    assert PREV_CHECKPOINT == Path(CHECKPOINT).with_name(f"{Path(CHECKPOINT).stem}.prev.pt").name
    assert RUN_FILES[:2] == (CHECKPOINT, PREV_CHECKPOINT)
