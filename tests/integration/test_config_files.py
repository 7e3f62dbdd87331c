"""Hostile or odd configuration files given to `minifc train --config`: named pipes, devices, huge or
deeply nested files, duplicated or aliased keys, a byte-order mark; and component specs that give a key
twice. Each is refused in one line naming the file (or option) and the key, or read as intended."""

from __future__ import annotations

import json
import os

import pytest

from minifc.registry.specs import parse_spec, split_spec
from minifc.testing import invoke_cli


def print_config(*args: str):
    return invoke_cli("train", *args, "--print-config", "json")


def refused(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "run.toml"
    os.mkfifo(fifo)
    refused(print_config("--config", str(fifo)), f"{fifo} is not a regular file")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused(tmp_path, device):
    link = tmp_path / "run.json"
    link.symlink_to(device)
    refused(print_config("--config", str(link)), f"{link} is not a regular file")


def test_a_huge_file_is_refused_unread(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(17 * 2**20)  # sparse: no disk used
    refused(print_config("--config", str(big)), f"{big} is larger than 16 MiB")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", '{"hidden": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("deep.toml", "hidden = " + "[" * 5_000 + "]" * 5_000 + "\n"),
        ("tables.toml", "norm = " + "{a = " * 5_000 + "1" + "}" * 5_000 + "\n"),
    ],
)
def test_deeply_nested_values_are_a_config_error(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    refused(print_config("--config", str(path)), f"{path}: values nested too deeply")


def test_data_and_its_old_name_together_are_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"data_root": str(tmp_path), "data": str(tmp_path)}))
    refused(print_config("--config", str(path)), f"{path}: keys 'data_root' and 'data' are one setting")


def test_a_json_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"epochs": 3, "epochs": 4}')
    refused(print_config("--config", str(path)), f"{path}: key 'epochs' is given twice")


def test_a_toml_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "run.toml"
    path.write_bytes(b"\xef\xbb\xbfepochs = 3\n")
    result = print_config("--config", str(path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs"] == 3


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--update-rule", "adam:beta1=0.9,beta1=0.5"], "--update-rule: spec 'adam:beta1=0.9,beta1=0.5': beta1 is"),
        (["--regularizer", "l2:reg=1,reg=2"], "spec 'l2:reg=1,reg=2': reg is given twice"),
    ],
)
def test_a_spec_key_given_twice_is_refused(args, needle):
    refused(print_config(*args), needle)


def test_spec_parsing_refuses_a_key_given_twice():
    with pytest.raises(ValueError, match="beta1 is given twice"):
        split_spec("adam:beta1=0.9,beta1=0.5")
    with pytest.raises(ValueError, match="reg is given twice"):
        parse_spec("l2:reg=1,reg=2")
    assert parse_spec("l2:reg=1,x=2") == ("l2", {"reg": 1, "x": 2})
