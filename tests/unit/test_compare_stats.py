"""minifc.compare.stats: Student's t tails against closed forms and table values, Welch's test against values
worked by hand, and the edge cases (identical samples, too few values)."""

from __future__ import annotations

import math

import pytest

from minifc.compare.stats import ALPHA, spread, student_t_sf2, welch, within_noise


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0, 3.0, 20.0])
def test_t_tails_match_the_closed_forms_for_one_and_two_degrees_of_freedom(t):
    # df = 1 is the Cauchy distribution; df = 2 has P(|T| >= t) = 1 - t / sqrt(2 + t^2)
    assert student_t_sf2(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), abs=1e-12)
    assert student_t_sf2(-t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-12)


@pytest.mark.parametrize(("t", "df"), [(12.706, 1), (4.303, 2), (2.571, 5), (2.228, 10), (2.042, 30), (1.960, 1e6)])
def test_t_tails_match_the_tables_two_sided_five_percent_points(t, df):
    assert student_t_sf2(t, df) == pytest.approx(0.05, abs=2e-4)


def test_welch_statistic_and_degrees_of_freedom_match_the_worked_example():
    # means 3 and 6, variances 2.5 and 10, n = 5: se^2 = 0.5 + 2 = 2.5, df = 6.25 / (0.0625 + 1)
    result = welch([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert result.t == pytest.approx(-3 / math.sqrt(2.5), rel=1e-12)
    assert result.df == pytest.approx(6.25 / 1.0625, rel=1e-12)
    assert result.p == pytest.approx(0.1075, abs=5e-4)
    assert result.within_noise


def test_welch_finds_a_clear_difference_and_is_symmetric():
    a, b = [0.50, 0.51, 0.49, 0.50, 0.52], [0.40, 0.41, 0.39, 0.42, 0.40]
    ab, ba = welch(a, b), welch(b, a)
    assert ab.p < ALPHA and not ab.within_noise
    assert ab.t == pytest.approx(-ba.t) and ab.p == pytest.approx(ba.p)


def test_identical_samples_are_within_noise_and_distinct_constants_are_not():
    assert welch([0.3, 0.3], [0.3, 0.3]).p == 1.0
    assert welch([0.3, 0.3], [0.4, 0.4]).p == 0.0
    assert within_noise([0.1], [0.1, 0.2]) is None
    with pytest.raises(ValueError, match="at least 2"):
        welch([1.0], [1.0, 2.0])


def test_spread_is_the_sample_standard_deviation():
    s = spread([1.0, 2.0, 3.0, 4.0])
    assert (s.n, s.mean, s.low, s.high) == (4, 2.5, 1.0, 4.0)
    assert s.std == pytest.approx(math.sqrt(5 / 3))
    assert spread([2.0]).std == 0.0 and spread([]) is None
