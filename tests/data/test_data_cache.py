"""minifc.data: the cache of decoded image folders, and the message of a first decode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from synthetic import KEYS, make_image_folder, snapshot

from minifc.data import cache_dir, load_cifar10


def the_cache_file() -> Path:
    (path,) = (cache_dir() / "decoded").iterdir()
    return path


def test_image_folder_is_deterministic_and_cached(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=6, n_test=2)
    first = load_cifar10(data)
    cached = the_cache_file()
    assert cached.name.startswith("imagefolder-data-") and cached.suffix == ".pt"
    message = f"minifc: decoding 80 images from {data} into the cache {cached} (once; about 1 s)\n"
    assert capsys.readouterr().err == message
    blob = torch.load(cached, weights_only=True)
    assert blob["x_train"].shape == (60, 3, 32, 32) and blob["x_train"].dtype == torch.uint8
    assert blob["y_test"].dtype == torch.int64

    mtime = cached.stat().st_mtime_ns
    second = load_cifar10(data)
    assert capsys.readouterr().err == ""  # not decoded again
    assert cached.stat().st_mtime_ns == mtime
    for k in KEYS:
        assert torch.equal(first[k], second[k]), k


def test_cache_is_refreshed_when_the_folder_changes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=4, n_test=1)
    load_cifar10(data)
    (data / "test" / "cat" / "0000.png").rename(data / "test" / "cat" / "0001.png")
    make_image_folder(tmp_path / "more", n_train=1, n_test=1)
    (tmp_path / "more" / "test" / "cat" / "0000.png").rename(data / "test" / "cat" / "0000.png")
    capsys.readouterr()
    d = load_cifar10(data)
    assert "decoding 51 images" in capsys.readouterr().err
    assert d["X_test"].shape == (11, 3072)
    assert torch.load(the_cache_file(), weights_only=True)["x_test"].shape == (11, 3, 32, 32)


def test_corrupt_cache_file_is_only_a_miss(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=4, n_test=1)
    first = load_cifar10(data)
    cache_file = the_cache_file()
    cache_file.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable cache"):
        second = load_cifar10(data)
    assert torch.equal(first["X_train"], second["X_train"])
    assert torch.load(cache_file, weights_only=True)["x_train"].shape == (40, 3, 32, 32)


def test_nothing_is_written_into_the_data_folder(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=4, n_test=1)
    before = snapshot(data)
    dirs = [data, *(p for p in data.rglob("*") if p.is_dir())]
    for p in dirs:
        p.chmod(0o555)
    try:
        load_cifar10(data)
        load_cifar10(data)
    finally:
        for p in dirs:
            p.chmod(0o755)
    assert snapshot(data) == before  # checked by listing too: chmod does not stop root
    assert [p.suffix for p in (cache_dir() / "decoded").iterdir()] == [".pt"]  # and no temporary file left


def test_cache_inside_the_data_folder_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = make_image_folder(tmp_path / "data", n_train=2, n_test=1)
    monkeypatch.setenv("MINIFC_CACHE", str(data / "cache"))
    with pytest.warns(UserWarning, match="inside the data folder"):
        load_cifar10(data)
    assert not (data / "cache").exists()
    err = capsys.readouterr().err
    assert f"decoding 30 images from {data} (about 1 s; not cached" in err


def test_unwritable_cache_is_only_a_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", n_train=2, n_test=1)
    (tmp_path / "cache_is_a_file").write_text("")
    monkeypatch.setenv("MINIFC_CACHE", str(tmp_path / "cache_is_a_file"))
    with pytest.warns(UserWarning, match="could not write the decoded-image cache"):
        d = load_cifar10(data)
    assert d["X_test"].shape == (10, 3072)
