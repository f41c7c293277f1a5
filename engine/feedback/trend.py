"""Is a goal's metric improving, stable or declining? A statistical answer.

Mann–Kendall's S statistic with the tie-corrected variance gives a two-sided
p-value for a monotonic trend; the Theil–Sen slope (scipy.stats.theilslopes) and
its confidence interval give its size. 'improving' needs both a significant
Mann–Kendall test and a slope interval that excludes zero in the good direction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trend:
    label: str  # improving | stable | declining | insufficient data
    p_value: float | None
    slope: float | None
    slope_low: float | None
    slope_high: float | None
    n: int


def mann_kendall(values: np.ndarray) -> tuple[float, float]:
    """(S, two-sided p-value) with the variance corrected for ties."""
    n = len(values)
    diffs = np.sign(values[None, :] - values[:, None])
    s = float(np.triu(diffs, k=1).sum())
    ties = Counter(values.tolist()).values()
    variance = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties)) / 18
    if variance <= 0:
        return s, 1.0
    z = (s - np.sign(s)) / np.sqrt(variance)  # continuity correction
    from scipy import stats  # ~0.6 s to import; loads when a trend is first computed

    return s, float(2 * stats.norm.sf(abs(z)))


def detect_trend(
    values: Sequence[float | None],
    *,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    min_points: int = 6,
) -> Trend:
    series = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(series) < min_points:
        return Trend("insufficient data", None, None, None, None, len(series))
    _, p_value = mann_kendall(series)
    from scipy import stats

    slope, _, low, high = stats.theilslopes(series, np.arange(len(series)), alpha=1 - alpha)
    sign = 1 if higher_is_better else -1
    if p_value < alpha and sign * low > 0:
        label = "improving"
    elif p_value < alpha and sign * high < 0:
        label = "declining"
    else:
        label = "stable"
    return Trend(label, p_value, float(slope), float(low), float(high), len(series))
