"""Cross-asset analytics: correlation of returns, rolling beta to a benchmark and the
risk contributions of a portfolio.

Conventions (as the rest of :mod:`engine.finance`): simple daily returns
``p_t / p_{t-1} - 1``, 252 trading days a year.

- **Correlation**: Pearson (or Spearman rank) correlation of daily returns on the
  dates where every symbol has a return (one common sample, so the matrix is positive
  semi-definite).
- **Rolling beta** of an asset to a benchmark over ``window`` days ending at t:
  ``β_t = cov(r_a, r_b) / var(r_b)`` with both moments on the same ``window`` days
  (ddof = 1), from returns up to and including day t only. The full-period beta,
  alpha (annualised intercept ``252 × (mean(r_a) − β mean(r_b))``), correlation and
  R² are computed on all the common days.
- **Risk contributions** of weights ``w`` with annualised covariance ``Σ`` (sample,
  ddof = 1, × 252): portfolio volatility ``σ = √(wᵀΣw)``; marginal contribution
  ``∂σ/∂w_i = (Σw)_i / σ``; contribution ``w_i (Σw)_i / σ`` (they add up to ``σ``);
  percent contribution = contribution / σ (they add up to one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.actions.base import ActionError
from engine.finance import TRADING_DAYS
from engine.lazy import pandas as pd

MIN_COMMON_RETURNS = 20
# Daily returns that vary by less than this (largest minus smallest) are treated as not
# varying: a series growing at a constant rate has exactly constant returns, but their
# computed variance is rounding noise (~1e-35; a rolling variance keeps ~1e-19 of the
# values that left its window), and a beta or correlation divided by it is a meaningless
# huge number rather than an error. The range is exact where a variance is not.
MIN_RETURN_RANGE = 1e-10


def _flat(returns: pd.Series | np.ndarray) -> bool:
    values = np.asarray(returns, dtype=float)
    return not float(np.ptp(values)) > MIN_RETURN_RANGE


def _distinct(returns: pd.DataFrame, what: str) -> None:
    if returns.shape[1] < 2:
        raise ActionError(
            f"{what} needs at least two different symbols "
            f"(got {', '.join(map(str, returns.columns))})"
        )


def daily_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Simple daily returns on the dates where every column has a return."""
    returns = prices.pct_change(fill_method=None).iloc[1:].dropna(how="any")
    if len(returns) < MIN_COMMON_RETURNS:
        raise ActionError(
            f"only {len(returns)} dates on which every symbol has a return; at least "
            f"{MIN_COMMON_RETURNS} are needed (choose symbols with overlapping histories or "
            "a longer date range)"
        )
    return returns


def correlation_matrix(prices: pd.DataFrame, method: str = "pearson") -> pd.DataFrame:
    """Correlation of daily returns (Pearson or Spearman) on the common dates."""
    if method not in ("pearson", "spearman"):
        raise ActionError("method must be 'pearson' or 'spearman'")
    returns = daily_returns(prices)
    _distinct(returns, "a correlation matrix")
    flat = [str(c) for c in returns.columns if _flat(returns[c])]
    if flat:
        raise ActionError(f"returns with no variation: {', '.join(flat)}")
    values = returns.to_numpy(dtype=float)
    if method == "spearman":
        values = returns.rank(axis=0).to_numpy(dtype=float)
    matrix = np.corrcoef(values, rowvar=False)
    symbols = [str(c) for c in returns.columns]
    return pd.DataFrame(np.atleast_2d(matrix), index=symbols, columns=symbols)


@dataclass
class BetaResult:
    rolling: pd.DataFrame  # date -> beta, correlation (NaN until a full window)
    beta: float
    alpha: float  # annualised
    correlation: float
    r_squared: float
    days: int


def rolling_beta(asset: pd.Series, benchmark: pd.Series, window: int = 126) -> BetaResult:
    """Rolling and full-period beta of ``asset`` prices to ``benchmark`` prices."""
    joined = pd.concat([asset.rename("asset"), benchmark.rename("benchmark")], axis=1)
    returns = daily_returns(joined)
    if window < 2:
        raise ActionError("the beta window must be at least 2 days")
    if len(returns) < window:
        raise ActionError(
            f"only {len(returns)} common daily returns for a {window}-day window; choose a "
            "shorter window or a longer date range"
        )
    a, b = returns["asset"], returns["benchmark"]
    if _flat(b):
        raise ActionError("the benchmark's returns have no variation; beta is undefined")
    if _flat(a):
        raise ActionError(
            f"the returns of {asset.name} have no variation; its correlation with the "
            "benchmark is undefined"
        )
    cov = a.rolling(window).cov(b, ddof=1)
    var = b.rolling(window).var(ddof=1)
    # windows where either series is flat have no beta or correlation (NaN, not noise)
    b_moves = (b.rolling(window).max() - b.rolling(window).min()) > MIN_RETURN_RANGE
    a_moves = (a.rolling(window).max() - a.rolling(window).min()) > MIN_RETURN_RANGE
    rolling_corr = a.rolling(window).corr(b).where(b_moves & a_moves)
    beta_t = (cov / var).where(b_moves)
    rolling = pd.DataFrame({"beta": beta_t, "correlation": rolling_corr}).rename_axis("date")
    if rolling["beta"].isna().all():
        raise ActionError(
            f"the benchmark's returns have no variation in any {window}-day window; the "
            "rolling beta is undefined"
        )
    a_values, b_values = a.to_numpy(), b.to_numpy()
    covariance = np.cov(a_values, b_values, ddof=1)
    beta = float(covariance[0, 1] / covariance[1, 1])
    corr = float(covariance[0, 1] / np.sqrt(covariance[0, 0] * covariance[1, 1]))
    alpha = float((a_values.mean() - beta * b_values.mean()) * TRADING_DAYS)
    return BetaResult(
        rolling=rolling,
        beta=beta,
        alpha=alpha,
        correlation=corr,
        r_squared=corr**2,
        days=len(returns),
    )


@dataclass
class RiskContributions:
    table: pd.DataFrame  # symbol -> weight, volatility, marginal, contribution, percent
    volatility: float
    diversification_ratio: float
    start: pd.Timestamp
    end: pd.Timestamp
    days: int


def risk_contributions(
    prices: pd.DataFrame, weights: dict[str, float] | None = None
) -> RiskContributions:
    """Marginal, absolute and percent contributions of each symbol to the volatility of
    the portfolio ``weights`` (equal weights if omitted; they must add up to one)."""
    symbols = [str(c) for c in prices.columns]
    if weights is None:
        w = np.full(len(symbols), 1.0 / len(symbols))
    else:
        missing = [s for s in symbols if s not in weights]
        extra = [s for s in weights if s not in symbols]
        if missing or extra:
            raise ActionError(
                "weights must name exactly the portfolio's symbols "
                f"(missing: {', '.join(missing) or 'none'}; unknown: {', '.join(extra) or 'none'})"
            )
        w = np.array([float(weights[s]) for s in symbols])
        if not np.isclose(w.sum(), 1.0, atol=1e-6):
            raise ActionError(
                f"weights must add up to 1 (they add up to {w.sum():.6g}); e.g. 0.4 for 40 %"
            )
    returns = daily_returns(prices.set_axis(symbols, axis=1))
    _distinct(returns, "risk contributions")
    cov = returns.cov(ddof=1).to_numpy() * TRADING_DAYS
    variance = float(w @ cov @ w)
    if not variance > 0:
        raise ActionError("the portfolio has no variance; risk contributions are undefined")
    sigma = float(np.sqrt(variance))
    marginal = cov @ w / sigma
    contribution = w * marginal
    standalone = np.sqrt(np.diag(cov))
    table = pd.DataFrame(
        {
            "weight": w,
            "volatility": standalone,
            "marginal_contribution": marginal,
            "contribution": contribution,
            "percent_contribution": contribution / sigma,
        },
        index=pd.Index(symbols, name="symbol"),
    )
    return RiskContributions(
        table=table,
        volatility=sigma,
        diversification_ratio=float(np.abs(w) @ standalone / sigma),
        start=returns.index[0],
        end=returns.index[-1],
        days=len(returns),
    )
