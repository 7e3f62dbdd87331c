"""The files behind a checkpoint: temporary files of killed writers are found and removed, the ``.prev``
rotation survives a kill between its link and its rename, and a failed write names the file."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import minifc.io.checkpoint
from minifc.io.checkpoint import atomic_save, clean_stale_temps, pid_alive


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_temporary_files_carry_the_writers_pid(tmp_path, monkeypatch) -> None:
    seen = []
    real_save = torch.save

    def spy(obj, f, *args, **kwargs):
        seen.extend(temps(tmp_path))  # the file being written
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(minifc.io.checkpoint.torch, "save", spy)
    atomic_save({"a": torch.zeros(2)}, tmp_path / "ck.pt")
    assert len(seen) == 1 and seen[0].startswith(f".ck.pt.{os.getpid()}.") and seen[0].endswith(".tmp")
    assert temps(tmp_path) == []


def test_clean_stale_temps_removes_only_those_of_dead_writers(tmp_path) -> None:
    path = tmp_path / "checkpoint.pt"
    dead = tmp_path / f".checkpoint.pt.{dead_pid()}.k2j4h1.tmp"
    live = tmp_path / f".checkpoint.pt.{os.getppid()}.a8d7s6.tmp"
    untagged = tmp_path / ".checkpoint.pt.x8d7s6q2.tmp"
    other = tmp_path / f".other.pt.{dead_pid()}.q1w2e3.tmp"
    for p in (dead, live, untagged, other):
        p.write_bytes(b"partial")
    assert clean_stale_temps(path) == [dead]
    assert clean_stale_temps(path, untagged=True) == [untagged]
    assert temps(tmp_path) == sorted([live.name, other.name])
    assert pid_alive(os.getpid()) and not pid_alive(dead_pid())


def test_rotation_after_a_kill_between_link_and_rename(tmp_path) -> None:
    """A kill after ``prev`` became a hard link of ``path`` but before the new file replaced ``path``
    leaves both names on one inode; the next save must still rotate and leave no temporary link."""
    path, prev = tmp_path / "checkpoint.pt", tmp_path / "checkpoint.prev.pt"
    atomic_save({"epoch": 1}, path)
    os.link(path, prev)  # the state the kill leaves
    atomic_save({"epoch": 2}, path, keep_previous=prev)
    assert temps(tmp_path) == []
    assert torch.load(prev, weights_only=True) == {"epoch": 1}
    assert torch.load(path, weights_only=True) == {"epoch": 2}
    assert not os.path.samefile(path, prev)
    atomic_save({"epoch": 3}, path, keep_previous=prev)
    assert temps(tmp_path) == []
    assert torch.load(prev, weights_only=True) == {"epoch": 2}


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch) -> None:
    path = tmp_path / "checkpoint.pt"
    atomic_save({"epoch": 1}, path)

    def full(obj, f, *args, **kwargs):
        f.write(b"x" * 4096)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(minifc.io.checkpoint.torch, "save", full)
    with pytest.raises(OSError) as info:
        atomic_save({"epoch": 2}, path, keep_previous=tmp_path / "checkpoint.prev.pt")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert temps(tmp_path) == []
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1}


def test_an_unwritable_folder_names_the_file(tmp_path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(minifc.io.checkpoint.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as info:
        atomic_save({"epoch": 1}, tmp_path / "checkpoint.pt")
    assert info.value.filename == str(tmp_path / "checkpoint.pt")
