"""minifc_recipes.saved: the trained model a ``best`` run writes beside its summary, read back."""

from __future__ import annotations

import time

import pytest
import torch
from minifc_recipes.best import best
from minifc_recipes.saved import MODEL_FILE, load_model, save_model
from minifc_recipes.views import accuracy_by_views

from minifc.errors import CheckpointError
from minifc.experiments.example_options import ExampleOptions
from minifc.testing import synthetic_data

pytest.importorskip("minifc_norm", reason="the best recipe needs pip install -e plugins/minifc-norm")
pytest.importorskip("minifc_optim_extra", reason="the best recipe needs pip install -e plugins/minifc-optim-extra")

SETTINGS = {
    "zca": {"pca_dims": None, "zca_samples": 200},
    "pca": {"pca_dims": 12, "pca_samples": 200, "padding": 1, "tta_shift": 1},
    "none": {"zca_eps": None},
}


@pytest.mark.parametrize("kind", list(SETTINGS))
def test_a_run_saves_the_model_it_scored_and_it_loads_back(tmp_path, kind):
    data = synthetic_data(num_train=256, num_val=64, num_test=64)
    recipe = {"width": 16, "batch_size": 64, **SETTINGS[kind]}
    options = ExampleOptions(out=tmp_path, epochs=2, verbose=False, extra={"recipe": recipe, "started_at": time.time()})
    row = best(data, options)["rows"][0]
    assert row["model"] == str(tmp_path / MODEL_FILE)

    saved = load_model(tmp_path / MODEL_FILE)
    assert saved.recipe.width == 16 and (saved.preprocessing is None) == (kind == "none")
    X = saved.inputs(data["X_val"])
    assert X.shape[1] == (12 if kind == "pca" else data["X_val"].shape[1])
    again = accuracy_by_views(saved.model, X, data["y_val"])
    assert again == row["val_acc_by_views"]  # the same parameters, buffers, preprocessing and views


def test_a_bad_model_file_is_named(tmp_path):
    path = tmp_path / MODEL_FILE
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(path)
    torch.save({"format": "something else"}, path)
    with pytest.raises(CheckpointError, match=r"not a model saved by `minifc example best`"):
        load_model(path)


def test_a_model_that_does_not_fit_its_recipe_is_named(tmp_path):
    from minifc_recipes.recipe import Recipe
    from minifc_recipes.views import ViewAveraged

    from minifc.builder import build_net

    recipe = Recipe(width=8, depth=1, zca_eps=None)
    model = ViewAveraged(build_net(recipe.layers(), 20, 3), "softmax")
    path = save_model(tmp_path / MODEL_FILE, recipe, model, None)
    state = torch.load(path, weights_only=True)
    state["recipe"]["width"] = 9
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="does not fit the net"):
        load_model(path)
