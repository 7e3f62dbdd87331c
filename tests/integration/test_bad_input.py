"""Bad input at the Trainer level: each case is refused with an error naming the culprit (the data key,
the option, the component), before anything runs. Every test fails if its protection is removed."""

from __future__ import annotations

import pytest
import torch
from small_runs import C, D, N, make_data, make_model, make_trainer, user_sgd, with_data

from minifc.errors import LabelError, ShapeError, UnknownComponentError


@pytest.mark.parametrize(
    ("changes", "key", "pattern"),
    [
        ({"y_train": torch.full((N,), -1)}, "y_train", "negative"),
        ({"y_train": torch.full((N,), C)}, "y_train", r"labels up to 3 .* 3 classes"),
        ({"y_val": torch.full((10,), 7)}, "y_val", r"labels up to 7 .* 3 classes"),
        ({"y_train": torch.zeros(N)}, "y_train", "integer"),
        ({"y_val": torch.zeros(10, dtype=torch.bool)}, "y_val", "integer"),
        ({"y_train": torch.zeros(N - 1, dtype=torch.long)}, "y_train", r"shape \(39,\); expected \(40,\)"),
        ({"y_val": torch.zeros(10, 1, dtype=torch.long)}, "y_val", r"shape \(10, 1\)"),
    ],
    ids=["negative", "too-large-train", "too-large-val", "float", "bool", "wrong-length", "2d"],
)
def test_bad_labels_name_the_data_key(changes, key, pattern):
    with pytest.raises(LabelError, match=rf"data\['{key}'\].*{pattern}"):
        make_trainer(data=with_data(**changes)).train()


@pytest.mark.parametrize("key", ["X_train", "X_val"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_inputs_are_refused(key, bad):
    data = make_data()
    data[key] = data[key].clone()
    data[key][3, 1] = bad
    with pytest.raises(ValueError, match=rf"data\['{key}'\] contains NaN or Inf .* 1 sample\(s\), first at row 3"):
        make_trainer(data=data)


def test_values_that_overflow_the_model_dtype_are_refused():
    data = make_data()
    data["X_train"] = data["X_train"].double()
    data["X_train"][5, 0] = 1e300  # finite in float64, Inf once cast to the model's float32
    with pytest.raises(ValueError, match=r"data\['X_train'\] contains NaN or Inf \(as torch.float32\)"):
        make_trainer(data=data)


@pytest.mark.parametrize("split", ["train", "val"])
def test_empty_dataset(split):
    data = with_data(**{f"X_{split}": torch.zeros(0, D), f"y_{split}": torch.zeros(0, dtype=torch.long)})
    with pytest.raises(ValueError, match=rf"data\['X_{split}'\] is empty"):
        make_trainer(data=data)


def test_missing_or_wrong_type_data():
    data = make_data()
    del data["y_val"]
    with pytest.raises(KeyError, match="y_val"):
        make_trainer(data=data)
    with pytest.raises(TypeError, match=r"data\['X_train'\] must be a torch.Tensor, got list"):
        make_trainer(data=with_data(X_train=[[0.0] * D] * N))


def test_wrong_feature_count_names_the_split():
    with pytest.raises(
        ShapeError, match=r"data\['X_val'\] \(shape \(10, 6\)\) does not fit the model.*5 input features"
    ):
        make_trainer(data=with_data(X_val=torch.randn(10, 6)))


@pytest.mark.parametrize("batch_size", [0, -3, N + 1, 2.5, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        make_trainer(batch_size=batch_size)


@pytest.mark.parametrize("rule", ["sgd", "adam", user_sgd], ids=["sgd", "adam", "user-function"])
@pytest.mark.parametrize("lr", [-1e-3, float("nan"), float("inf"), "0.1", None])
def test_bad_learning_rate(rule, lr):
    with pytest.raises(ValueError, match="learning_rate"):
        make_trainer(update_rule=rule, optim_config={"learning_rate": lr})


def test_malformed_optim_config():
    with pytest.raises(ValueError, match=r"unknown optim_config key\(s\) \['learnin_rate'\]"):
        make_trainer(optim_config={"learnin_rate": 1e-3})
    with pytest.raises(TypeError, match="optim_config must be a dict"):
        make_trainer(optim_config=[("learning_rate", 1e-3)])
    with pytest.raises(ValueError, match="optim_config keys must be names"):
        make_trainer(update_rule=user_sgd, optim_config={1: 1e-3})


def test_unknown_update_rule_lists_known_names_and_closest():
    with pytest.raises(UnknownComponentError, match=r"unknown update rule 'adamm'; did you mean 'adam'\?") as info:
        make_trainer(update_rule="adamm")
    for name in ("sgd", "sgd_momentum", "rmsprop", "adam"):
        assert name in str(info.value)


def test_unknown_regularizer_lists_known_names_and_closest():
    with pytest.raises(UnknownComponentError, match=r"unknown regularizer 'l3'; did you mean 'l2'\?.*l2"):
        make_trainer(regularizers=["l3"])
    with pytest.raises(ValueError, match=r"regularizer 'l2' .*unknown option\(s\) \['rge'\]"):
        make_trainer(regularizers=["l2:rge=0.1"])


def test_data_is_cast_once_to_the_model_dtype():
    model = make_model(dtype=torch.float64)
    data = {
        "X_train": make_data()["X_train"].float(),
        "y_train": make_data()["y_train"].int(),
        "X_val": (make_data()["X_val"] * 10).long(),
        "y_val": make_data()["y_val"].to(torch.uint8),
    }
    trainer = make_trainer(model=model, data=data).train()
    assert {k: v.dtype for k, v in trainer.data.items()} == {
        "X_train": torch.float64,
        "y_train": torch.int64,
        "X_val": torch.float64,
        "y_val": torch.int64,
    }
    assert all(v.device == torch.device("cpu") for v in trainer.data.values())
    assert all(torch.isfinite(torch.tensor(trainer.loss_history)))


@pytest.mark.cuda
def test_mixed_devices_are_moved_once():
    if not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    data = make_data()
    data["X_train"] = data["X_train"].cuda()
    data["y_val"] = data["y_val"].cuda()
    trainer = make_trainer(data=data, device="cuda").train()
    assert all(v.device.type == "cuda" for v in trainer.data.values())
    assert all(p.device.type == "cuda" for p in trainer.model.params.values())
    back = make_trainer(data=data, device="cpu").train()  # and back to the CPU
    assert all(v.device.type == "cpu" for v in back.data.values())
