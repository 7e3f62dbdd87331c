"""Larger nets on a fast CPU: the climb up the tiers from measured step times, and the measurement."""

from __future__ import annotations

import pytest
import torch
from minifc_recipes.recipe import CPU_LARGEST, LONGEST, STEP_UP, TIERS, Recipe, tier_for
from minifc_recipes.speed import TRAIN_SHARE, measure_step_seconds, step_up

CPU = torch.device("cpu")
LARGEST = CPU_LARGEST[0]
N_TRAIN = 40_000  # 156 steps of 256 per epoch
# seconds per step of 256 images of each net on the 2-core machine the tiers were tuned on (from the epochs per
# second its runs reached), and on one about 3.3 times as fast; a batch of B takes B / 256 times as long
SLOW = {"pca384-1x2048": 0.015, "pca512-2x1024": 0.031, LARGEST: 0.115}
FAST = {net: seconds / 3.3 for net, seconds in SLOW.items()}


def _timer(seconds_by_net: dict[str, float]):
    measured: list[str] = []

    def measure(recipe: Recipe, num_classes: int, device: torch.device) -> float:
        assert num_classes == 10 and device == CPU
        net = {384: "pca384-1x2048", 512: "pca512-2x1024", 1024: LARGEST}[recipe.pca_dims]
        measured.append(f"{net} at batch {recipe.batch_size}")
        return seconds_by_net[net] * recipe.batch_size / 256

    return measure, measured


def _climb(budget: float, seconds_by_net: dict[str, float], extra: dict | None = None, n_train: int = N_TRAIN):
    extra = extra or {}
    measure, measured = _timer(seconds_by_net)
    recipe, checks = step_up(Recipe.from_options(extra, budget), extra, 0.95 * budget, n_train, 10, CPU, measure)
    return recipe, checks, measured


def test_the_ladder_goes_up_one_tier_at_a_time_to_the_largest_net():
    names = [name for _, name, _ in TIERS] + [LONGEST]
    assert [STEP_UP[name][0] for name in names] == names[1:] + [LARGEST]
    assert LARGEST not in STEP_UP


@pytest.mark.parametrize("budget", [20, 60, 120, 300, 900])
def test_on_the_machine_the_tiers_were_tuned_on_every_budget_keeps_its_tier(budget):
    recipe, checks, measured = _climb(budget, SLOW)
    assert recipe.tier == tier_for(budget)[0] and len(checks) == 1 and len(measured) == 1
    (c,) = checks
    assert c.tier == STEP_UP[recipe.tier][0] and c.epochs < 0.6 * c.needed  # well below the threshold
    batch = Recipe.from_options({"recipe": {"tier": c.tier}}).batch_size
    assert c.epochs == pytest.approx(TRAIN_SHARE * 0.95 * budget / (c.step_seconds * (N_TRAIN // batch)))


@pytest.mark.parametrize(
    ("budget", "tier"),
    [(20, "pca384-1x2048"), (60, "pca384-1x2048-views18"), (120, "pca512-2x1024"), (300, LONGEST), (900, LARGEST)],
)
def test_a_fast_machine_trains_the_tier_of_a_longer_budget(budget, tier):
    recipe, checks, measured = _climb(budget, FAST)
    assert recipe.tier == tier and [c.epochs >= c.needed for c in checks][:-1] == [True] * (len(checks) - 1)
    assert len(measured) == len(set(measured))  # a net two tiers share is measured once
    if tier != LARGEST:
        assert checks[-1].epochs < checks[-1].needed  # the climb stopped at the first tier that does not fit


def test_explicit_settings_apply_to_the_tier_climbed_to():
    extra = {"recipe": {"weight_decay": 0.3, "val_samples": "none"}}
    recipe, _, _ = _climb(900, FAST, extra)
    assert (recipe.tier, recipe.width, recipe.pca_dims, recipe.depth) == (LARGEST, 2048, 1024, 2)
    assert recipe.weight_decay == 0.3 and recipe.val_samples is None and recipe.budget_s == 900


def test_no_climb_for_a_named_tier_a_sized_net_or_past_the_training_images():
    assert _climb(900, {}, {"recipe": {"tier": LONGEST}})[1:] == ([], [])
    for key, value in (("width", 512), ("pca_dims", 256), ("depth", 3), ("batch_size", 128), ("zca_eps", "none")):
        recipe, checks, measured = _climb(900, {}, {"recipe": {key: value}})
        assert (recipe.tier, checks, measured) == (LONGEST, [], [])
    recipe, checks, _ = _climb(900, {n: 1e-4 for n in SLOW}, n_train=1000)  # PCA to 1024 needs more rows
    assert recipe.tier == LONGEST and LARGEST not in [c.tier for c in checks]


def test_measure_step_seconds_times_a_real_step_and_leaves_the_global_rng_alone():
    pytest.importorskip("minifc_norm")
    pytest.importorskip("minifc_optim_extra")
    small = Recipe(width=16, depth=1, pca_dims=24, batch_size=8)
    state = torch.get_rng_state()
    seconds = measure_step_seconds(small, 10, CPU, steps=2, warmup=1)
    assert 0.0 < seconds < 5.0
    assert torch.equal(torch.get_rng_state(), state)
    no_projection = Recipe(width=8, depth=1, pca_dims=None, padding=1, batch_size=4)
    assert measure_step_seconds(no_projection, 3, CPU, steps=1, warmup=0) > 0.0
    # the budget's climb measures in the run's precision (minifc example best --precision)
    assert measure_step_seconds(small, 10, CPU, steps=1, warmup=0, precision="bf16-mixed") > 0.0
