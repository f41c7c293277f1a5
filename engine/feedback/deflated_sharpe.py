"""The deflated Sharpe ratio (Bailey & López de Prado, 2014).

The probability that the best strategy's true Sharpe ratio is above zero once we
account for having tried N strategies (selection bias) and for non-normal returns
(skewness and kurtosis). Sharpe ratios here are per period (not annualised), as
the formulas require; callers annualise for display only.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

EULER_MASCHERONI = 0.5772156649015329


def expected_max_sharpe(trial_sharpes_variance: float, n_trials: int) -> float:
    """E[max SR] under the null of zero true Sharpe, from the trials' SR variance."""
    if n_trials < 2:
        return 0.0
    sigma = math.sqrt(max(trial_sharpes_variance, 0.0))
    first = (1 - EULER_MASCHERONI) * stats.norm.ppf(1 - 1 / n_trials)
    second = EULER_MASCHERONI * stats.norm.ppf(1 - 1 / (n_trials * math.e))
    return sigma * (first + second)


def probabilistic_sharpe(
    sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """PSR: P(true SR > benchmark) given the estimate's sampling error (kurtosis not excess)."""
    denominator = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if n_obs < 2 or denominator <= 0:
        return float("nan")
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denominator)
    return float(stats.norm.cdf(z))


def deflated_sharpe_from_moments(
    sharpe: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
    trial_sharpes: list[float],
    n_trials: int | None = None,
) -> dict[str, float]:
    """DSR from the best strategy's per-period Sharpe and return moments (kurtosis not
    excess), given the per-period Sharpe ratios of the trials tried; ``n_trials`` (when
    larger) is how many were tried in all on the same data, some without a Sharpe ratio
    here: the variance comes from those that have one, the count from every try."""
    trial_sharpes = [s for s in trial_sharpes if s is not None and math.isfinite(s)]
    count = max(len(trial_sharpes), int(n_trials or 0))
    if not trial_sharpes or not math.isfinite(sharpe) or n_obs < 2:
        return {
            "deflated_sharpe": float("nan"),
            "sharpe": float(sharpe),
            "expected_max_sharpe": float("nan"),
            "n_trials": count,
        }
    variance = float(np.var(trial_sharpes, ddof=1)) if len(trial_sharpes) > 1 else 0.0
    benchmark = expected_max_sharpe(variance, count)
    probability = probabilistic_sharpe(sharpe, benchmark, n_obs, skew, kurtosis)
    return {
        "deflated_sharpe": probability,
        "sharpe": float(sharpe),
        "expected_max_sharpe": benchmark,
        "n_trials": count,
    }


def deflated_sharpe(best_returns: np.ndarray, trial_sharpes: list[float]) -> dict[str, float]:
    """DSR of the best strategy's returns, given the per-period Sharpe ratios of all trials."""
    returns = np.asarray(best_returns, dtype=float)
    returns = returns[np.isfinite(returns)]
    std = returns.std(ddof=1) if len(returns) > 1 else 0.0
    if std == 0:
        return {
            "deflated_sharpe": float("nan"),
            "sharpe": float("nan"),
            "expected_max_sharpe": float("nan"),
            "n_trials": len(trial_sharpes),
        }
    return deflated_sharpe_from_moments(
        float(returns.mean() / std),
        len(returns),
        float(stats.skew(returns)),
        float(stats.kurtosis(returns, fisher=False)),
        trial_sharpes,
    )
