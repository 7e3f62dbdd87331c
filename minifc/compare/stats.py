"""Statistics over seeds, in plain Python (no scipy): mean, sample standard deviation, range, and Welch's
unequal-variances t-test, whose two-sided p-value comes from Student's t distribution through the regularized
incomplete beta function (Lentz's continued fraction, as in Numerical Recipes' ``betacf``).

Two candidates are *within noise* of each other when Welch's test over their per-seed values does not reject
equal means at :data:`ALPHA` (two-sided). Identical samples (zero variance on both sides, equal means) give
p = 1; distinct constant samples give p = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ALPHA", "Spread", "WelchResult", "spread", "student_t_sf2", "welch", "within_noise"]

ALPHA = 0.05
_EPS = 1e-15
_TINY = 1e-300


@dataclass(frozen=True)
class Spread:
    """``n`` values summarized: mean, sample standard deviation (0 for one value), minimum and maximum."""

    n: int
    mean: float
    std: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "mean": self.mean, "std": self.std, "min": self.low, "max": self.high}


def spread(values: Sequence[float]) -> Spread | None:
    """Mean, sample std (ddof 1), min and max of ``values``; None when empty."""
    xs = [float(v) for v in values]
    if not xs:
        return None
    mean = math.fsum(xs) / len(xs)
    var = math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
    return Spread(len(xs), mean, math.sqrt(var), min(xs), max(xs))


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) for x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def student_t_sf2(t: float, df: float) -> float:
    """Two-sided tail probability P(|T| >= |t|) of Student's t with ``df`` > 0 degrees of freedom."""
    if math.isnan(t) or not df > 0:
        return math.nan
    if math.isinf(t):
        return 0.0
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


@dataclass(frozen=True)
class WelchResult:
    """Welch's t statistic (mean a - mean b over its standard error), its degrees of freedom
    (Welch-Satterthwaite) and the two-sided p-value."""

    t: float
    df: float
    p: float

    @property
    def within_noise(self) -> bool:
        return not self.p < ALPHA


def welch(a: Sequence[float], b: Sequence[float]) -> WelchResult:
    """Welch's unequal-variances t-test of ``a`` against ``b`` (each at least 2 values).

    Raises:
        ValueError: a sample with fewer than 2 values.
    """
    sa, sb = spread(a), spread(b)
    if sa is None or sb is None or sa.n < 2 or sb.n < 2:
        raise ValueError(f"Welch's test needs at least 2 values on each side, got {len(a)} and {len(b)}")
    va, vb = sa.std**2 / sa.n, sb.std**2 / sb.n
    diff = sa.mean - sb.mean
    se2 = va + vb
    if se2 == 0.0:
        same = math.isclose(sa.mean, sb.mean, rel_tol=1e-12, abs_tol=1e-12)
        return WelchResult(0.0 if same else math.copysign(math.inf, diff), math.nan, 1.0 if same else 0.0)
    t = diff / math.sqrt(se2)
    df = se2**2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1))
    return WelchResult(t, df, student_t_sf2(t, df))


def within_noise(a: Sequence[float], b: Sequence[float]) -> bool | None:
    """Whether Welch's test finds no difference at :data:`ALPHA`; None when a side has fewer than 2 values."""
    if len(a) < 2 or len(b) < 2:
        return None
    return welch(a, b).within_noise
