"""`minifc train --config FILE` (TOML or JSON), command-line overrides, `--print-config`, and the errors
a configuration file gets (naming the file, the key and the expected type)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from minifc.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, ["train", *args])


def printed(*args: str, fmt: str = "json") -> dict:
    result = invoke(*args, "--print-config", fmt)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


RUN_TOML = """
hidden = [32, 16]
dropout = 0.1
update_rule = "adam"
update_rule_options = { beta1 = 0.85 }
lr = 2e-3
schedule = { name = "warmup_cosine", warmup_fraction = 0.2 }
regularizers = ["l2:reg=0.0001"]
epochs = 3
batch_size = 40
device = "cpu"
seed = 7
quiet = true
"""


def test_train_from_a_toml_file_with_command_line_overrides(tiny_cifar, tmp_path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(RUN_TOML + f'data = "{tiny_cifar}"\n')
    out = tmp_path / "run"
    result = invoke("--config", str(config), "--out", str(out), "--epochs", "1", "--seed", "3", "--ema", "0.9")
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "config.json").read_text())
    assert saved["ema"] == 0.9
    assert saved["epochs"] == 1 and saved["seed"] == 3  # the command line wins
    assert saved["hidden"] == [32, 16] and saved["update_rule"] == "adam" and saved["lr"] == 2e-3
    assert saved["update_rule_options"] == {"beta1": 0.85}
    assert saved["schedule"] == {"name": "warmup_cosine", "warmup_fraction": 0.2}
    assert saved["regularizers"] == [{"name": "l2", "reg": 0.0001}]
    assert len(json.loads((out / "history.json").read_text())["val_acc_history"]) == 1
    # the saved configuration is itself a configuration file
    again = tmp_path / "again"
    result = invoke("--config", str(out / "config.json"), "--out", str(again), "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads((again / "config.json").read_text()) == saved


def test_print_config_round_trips_through_toml_and_json_and_trains_nothing(tmp_path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(RUN_TOML)
    out = tmp_path / "never"
    args = ("--config", str(config), "--out", str(out), "--hidden", "64,64", "--regularizer", "l2:reg=0.001")
    resolved = printed(*args)
    assert resolved["hidden"] == [64, 64] and resolved["regularizers"] == [{"name": "l2", "reg": 0.001}]
    assert resolved["update_rule_options"] == {"beta1": 0.85} and resolved["norm"] is None
    toml = invoke(*args, "--print-config")
    assert toml.exit_code == 0 and toml.stdout.startswith("# minifc train configuration")
    (tmp_path / "printed.toml").write_text(toml.stdout)
    (tmp_path / "printed.json").write_text(json.dumps(resolved))
    assert printed("--config", str(tmp_path / "printed.toml")) == resolved
    assert printed("--config", str(tmp_path / "printed.json")) == resolved
    assert not out.exists()


def test_defaults_resolve_the_update_rules_learning_rate() -> None:
    resolved = printed("--update-rule", "adam")
    assert resolved["lr"] == 1e-3 and resolved["epochs"] == 10 and resolved["hidden"] == [100]
    assert printed("--update-rule", "sgd_momentum:momentum=0.5")["update_rule_options"] == {"momentum": 0.5}


def test_a_different_update_rule_on_the_command_line_drops_the_files_rule_options(tmp_path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('update_rule = "adam"\nupdate_rule_options = { beta1 = 0.85 }\n')
    assert printed("--config", str(config), "--update-rule", "sgd")["update_rule_options"] == {}
    assert printed("--config", str(config), "--update-rule", "adam")["update_rule_options"] == {"beta1": 0.85}


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ('dropout = "half"\n', ["'dropout'", "must be a number in [0, 1)", "'half' (a string)"]),
        ("dropout = 1.5\n", ["'dropout'", "[0, 1)"]),
        ("epochs = 2.5\n", ["'epochs'", "an integer >= 1", "(a number)"]),
        ("hidden = [10, -1]\n", ["'hidden'", "positive integers"]),
        ("bach_size = 10\n", ["unknown key 'bach_size'", "did you mean 'batch_size'"]),
        ("[model]\nhidden = [10]\n", ["unknown key 'model'", "top level"]),
        ('dtype = "float16"\n', ["'dtype'", "'float32', 'float64'"]),
        ("epochs = \n", ["not valid TOML"]),
        ('schedule = "warmup_cosin"\n', ["'schedule'", "did you mean 'warmup_cosine'"]),
        ("regularizers = [3]\n", ["'regularizers'[0]"]),
        ("update_rule_options = { learning_rate = 0.1 }\n", ["as lr"]),
        ('update_rule = "adam"\nupdate_rule_options = { bta1 = 0.9 }\n', ["'bta1'", "did you mean 'beta1'"]),
    ],
)
def test_config_file_errors_name_the_file_the_key_and_the_expected_type(tmp_path, text, needles) -> None:
    config = tmp_path / "run.toml"
    config.write_text(text)
    result = invoke("--config", str(config), "--print-config")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert str(config) in result.output or "update_rule_options" in result.output
    for needle in needles:
        assert needle in result.output, result.output


def test_config_file_format_comes_from_its_suffix(tmp_path) -> None:
    (tmp_path / "run.yaml").write_text("epochs: 3\n")
    result = invoke("--config", str(tmp_path / "run.yaml"), "--print-config")
    assert result.exit_code == 2 and ".toml or .json" in result.output
    (tmp_path / "run.json").write_text("[1, 2]")
    result = invoke("--config", str(tmp_path / "run.json"), "--print-config")
    assert result.exit_code == 2 and "JSON object" in result.output
    result = invoke("--config", str(tmp_path / "missing.toml"), "--print-config")
    assert result.exit_code == 2 and "missing.toml" in result.output


def test_command_line_values_are_checked_like_file_values() -> None:
    for args, needle in [
        (["--dropout", "1.5"], "--dropout must be a number in [0, 1)"),
        (["--ema", "1"], "--ema must be a number in [0, 1)"),
        (["--dtype", "float16"], "'float16' is not one of 'float32', 'float64'"),
        (["--hidden", "10,x"], "--hidden must be a list of positive integers"),
        (["--schedule", "cosine"], "--schedule: unknown schedule 'cosine'"),
        (["--schedule", "warmup_cosine:final_factor=-1"], "final_factor must be a finite number >= 0"),
        (["--schedule", "warmup_cosine:warmup=0.1"], "did you mean 'warmup_fraction'"),
        (["--update-rule", "adam:bta1=0.9"], "--update-rule: update rule 'adam' has no option 'bta1'"),
    ]:
        result = invoke(*args, "--print-config")
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output, (args, result.output)


def test_resume_print_config_shows_the_saved_run_with_allowed_changes(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    base = printed("--hidden", "20")
    (out / "config.json").write_text(json.dumps({**base, "epochs": 2}))
    resumed = printed("--out", str(out), "--resume", "--epochs", "5")
    assert resumed == {**base, "epochs": 5}


def test_an_older_config_json_still_resumes(tmp_path) -> None:
    """config.json as written before configuration files (hidden as text, data_root, out, quiet)."""
    out = tmp_path / "run"
    out.mkdir()
    old = {
        "hidden": "100", "dropout": 0.0, "norm": None, "update_rule": "sgd", "lr": None, "lr_decay": 1.0,
        "reg": 0.0, "regularizers": [], "weight_scale": 0.01, "epochs": 1, "batch_size": 100, "num_train": None,
        "device": "cpu", "dtype": "float32", "seed": 0, "data_root": None, "out": str(out), "quiet": True,
    }  # fmt: skip
    (out / "config.json").write_text(json.dumps(old))
    resumed = printed("--out", str(out), "--resume")
    assert resumed["hidden"] == [100] and resumed["lr"] == 0.01 and resumed["schedule"] is None


def test_help_shows_the_config_options() -> None:
    result = CliRunner().invoke(main, ["train", "--help"])
    assert "--config" in result.output and "--print-config" in result.output and "--schedule" in result.output


def test_the_documented_configuration_example_resolves(tmp_path) -> None:
    from pathlib import Path

    from minifc.registry.core import default_registry

    if "batchnorm1d" not in default_registry().names("layer"):
        pytest.skip("the documented example uses batchnorm1d from the minifc-norm plugin package")
    page = (Path(__file__).resolve().parents[2] / "docs" / "command-line.md").read_text()
    toml = page.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "readme.toml").write_text(toml)
    resolved = printed("--config", str(tmp_path / "readme.toml"))
    assert resolved["norm"] == "batchnorm1d" and resolved["regularizers"][1] == {"name": "l2", "reg": 1e-4}


@pytest.mark.parametrize("seed", [str(2**64), "-1"])
def test_a_seed_train_refuses_is_refused_by_print_config_too_naming_the_option(seed, tmp_path) -> None:
    result = invoke("--seed", seed, "--print-config")
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.output and "seed =" not in result.output
    config = tmp_path / "run.toml"
    config.write_text(f"seed = {seed}\n")
    result = invoke("--config", str(config), "--print-config")
    assert result.exit_code == 2 and "key 'seed' must be an integer >= 0 and <= 18446744073709551615" in result.output
