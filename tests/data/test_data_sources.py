"""minifc.data: where the data is looked for, the download, and the errors when nothing is found."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from synthetic import block_torchvision, make_batches, numpy_or_skip

import minifc.data
from minifc.data import DataError, DataNotFoundError, cache_dir, default_root, load_cifar10, sources
from minifc.errors import MinifcError

REAL_DOWNLOAD = sources.download_cifar10


def test_cache_dir_and_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_dir() == tmp_path / "cache"
    assert default_root() == tmp_path / "cache" / "cifar10"
    monkeypatch.delenv("MINIFC_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "minifc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "minifc"
    assert default_root() == tmp_path / "home" / ".cache" / "minifc" / "cifar10"


def test_root_precedence_argument_then_env_then_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    make_batches(tmp_path / "arg", per_batch=2)
    make_batches(tmp_path / "env", per_batch=3)
    make_batches(default_root(), per_batch=4)
    monkeypatch.setenv("MINIFC_DATA", str(tmp_path / "env"))

    def n(d: dict[str, torch.Tensor]) -> int:
        return d["X_train"].shape[0] + d["X_val"].shape[0]

    assert n(load_cifar10(tmp_path / "arg")) == 10
    assert n(load_cifar10()) == 15
    monkeypatch.setenv("MINIFC_DATA", "")  # empty counts as unset
    assert n(load_cifar10()) == 20


def test_package_does_not_import_torchvision_at_top_level() -> None:
    files = sorted(Path(minifc.data.__file__).parent.glob("*.py"))
    assert len(files) > 5
    for path in files:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "torchvision" for a in node.names), path
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "torchvision", path


def test_missing_root_lists_where_it_looked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as info:
        load_cifar10(missing)
    assert isinstance(info.value, DataError) and isinstance(info.value, MinifcError)
    assert isinstance(info.value, FileNotFoundError)
    msg = str(info.value)
    assert msg.startswith(f"no CIFAR-10 found at {missing} (given by the root= argument)")
    assert f"{missing}: does not exist" in msg
    assert "MINIFC_DATA" in msg and "cifar-10-batches-py" in msg and "train/ and test/" in msg and "download" in msg
    assert "load_cifar10(root=...)" in msg

    monkeypatch.setenv("MINIFC_DATA", str(missing))
    with pytest.raises(DataError, match="given by the environment variable MINIFC_DATA"):
        load_cifar10()


def test_error_phrased_for_a_command_line_option(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as info:
        load_cifar10(missing)
    msg = info.value.message(option="--data")
    assert msg.startswith(f"no CIFAR-10 found at {missing} (given by the --data option)")
    assert "as --data FOLDER" in msg and "with neither --data nor MINIFC_DATA" in msg
    assert "root=" not in msg
    assert info.value.message() == str(info.value)


def test_cli_names_its_data_option(tmp_path: Path) -> None:
    from minifc.cli import main

    missing = tmp_path / "nowhere"
    args = ["example", "two-layer", "--data", str(missing), "--out", str(tmp_path / "out"), "--device", "cpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert f"no CIFAR-10 found at {missing} (given by the --data option)" in result.output
    assert "--data FOLDER" in result.output and "root=" not in result.output
    assert "Traceback" not in result.output


def test_cli_malformed_folder_names_its_data_option(tmp_path: Path) -> None:
    from minifc.cli import main

    (tmp_path / "data" / "train").mkdir(parents=True)
    args = ["example", "two-layer", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "has train/ but no test/" in result.output and "--data FOLDER" in result.output
    assert "root=" not in result.output


def test_empty_folder_lists_every_layout_tried(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path)
    msg = str(info.value)
    assert f"{tmp_path / 'cifar-10-batches-py'}: not found" in msg
    assert f"{tmp_path / 'train'} and {tmp_path / 'test'}: not found" in msg
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(DataError, match="cifar-10-batches-py: holds neither data_batch_1 nor test_batch"):
        load_cifar10(tmp_path)


def test_default_root_tries_download_and_reports_its_failure() -> None:
    with pytest.raises(DataError) as info:
        load_cifar10()
    msg = str(info.value)
    assert str(default_root()) in msg and "the default root, as neither root= nor MINIFC_DATA was given" in msg
    assert "downloading with torchvision" in msg and "network disabled in tests" in msg
    assert "MINIFC_DATA" in msg


def test_download_into_the_default_root(monkeypatch: pytest.MonkeyPatch) -> None:
    numpy_or_skip()
    calls = []
    monkeypatch.setattr(sources, "download_cifar10", lambda root: calls.append(root) or make_batches(root))
    assert load_cifar10()["X_test"].shape == (6, 3072)
    assert calls == [default_root()]
    load_cifar10()
    assert len(calls) == 1  # found there the second time


def test_no_download_for_an_explicit_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sources, "download_cifar10", lambda root: pytest.fail("download attempted"))
    with pytest.raises(DataError):
        load_cifar10(tmp_path / "nowhere")
    monkeypatch.setenv("MINIFC_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError):
        load_cifar10()


def test_real_download_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real download, without torchvision, fails with the install hint, which the error passes on.
    monkeypatch.setattr(sources, "download_cifar10", REAL_DOWNLOAD)
    block_torchvision(monkeypatch)
    with pytest.raises(DataError, match=r"downloading CIFAR-10 needs torchvision.*pip install 'minifc\[vision\]'"):
        load_cifar10()
