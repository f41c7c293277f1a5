"""Risk measures: VaR/CVaR (historical, parametric normal, Monte Carlo), EWMA and
GARCH(1,1) volatility, and a full report for a symbol or a portfolio.

Conventions: simple daily returns, 252 trading days a year. A portfolio's daily
return is ``Σ w_i r_i`` (weights rebalanced daily) on the dates where every symbol
has a price. VaR and CVaR are reported as positive fractions of the position's
value lost over ``horizon_days`` at ``confidence`` (e.g. 0.95):

- historical: ``VaR = −q``, the empirical (1 − confidence) quantile (linear
  interpolation) of overlapping compounded ``horizon_days`` returns;
  ``CVaR = −mean(returns ≤ q)``;
- parametric normal: ``μ_h = h μ``, ``σ_h = √h σ`` from daily mean and sample std;
  ``VaR = −(μ_h + σ_h z_{1−c})``, ``CVaR = −(μ_h − σ_h φ(z_c) / (1 − c))``;
- Monte Carlo: daily asset returns drawn from a multivariate normal with the
  sample mean and covariance, compounded over the horizon per asset (buy and hold
  over the horizon), then the same quantile estimators as historical.

EWMA (RiskMetrics): ``σ²_{t+1} = λ σ²_t + (1 − λ) r_t²`` seeded with the mean squared
return of the first 30 days; GARCH(1,1) with a constant mean and normal errors
fitted by the ``arch`` package on returns in percent.
"""

from __future__ import annotations

import numpy as np

from engine.actions.base import ActionError
from engine.finance import TRADING_DAYS, metrics
from engine.lazy import pandas as pd

VAR_METHODS = ("historical", "parametric", "monte_carlo")
MIN_RETURNS = 20
MIN_GARCH_RETURNS = 100


def portfolio_returns(prices: pd.DataFrame, weights: dict[str, float] | None = None) -> pd.Series:
    """Daily returns of a daily-rebalanced portfolio (equal weights by default)."""
    if prices.empty or prices.shape[0] < 2:
        raise ActionError("the price series is empty or has a single date")
    columns = [str(c) for c in prices.columns]
    if weights is None:
        w = pd.Series(1.0 / len(columns), index=columns)
    else:
        missing = [s for s in columns if s not in weights]
        extra = [s for s in weights if s not in columns]
        if missing or extra:
            raise ActionError(
                "weights must name exactly the portfolio's symbols "
                f"(missing: {missing or 'none'}, unknown: {extra or 'none'})"
            )
        w = pd.Series({s: float(weights[s]) for s in columns})
        if not np.isclose(w.sum(), 1.0, atol=1e-6):
            raise ActionError(f"weights must add up to 1 (they add up to {w.sum():.6g})")
    returns = prices.set_axis(columns, axis=1).pct_change(fill_method=None).iloc[1:]
    returns = returns.dropna(how="any")
    if len(returns) < MIN_RETURNS:
        raise ActionError(
            f"only {len(returns)} daily returns where every symbol has a price; "
            f"at least {MIN_RETURNS} are needed"
        )
    portfolio = returns @ w
    if not portfolio.std() > 0:
        raise ActionError("the price series is constant; risk measures are undefined")
    return portfolio.rename("portfolio")


def horizon_returns(returns: pd.Series, horizon: int) -> pd.Series:
    """Overlapping compounded returns over ``horizon`` days."""
    if horizon == 1:
        return returns
    return np.exp(np.log1p(returns).rolling(horizon).sum()).dropna() - 1.0


def tail_measures(sample: np.ndarray, confidence: float) -> tuple[float, float]:
    """(VaR, CVaR) as positive losses from a sample of returns."""
    q = float(np.quantile(sample, 1.0 - confidence))
    tail = sample[sample <= q]
    return -q, -float(tail.mean())


def var_historical(returns: pd.Series, confidence=0.95, horizon=1) -> tuple[float, float]:
    sample = horizon_returns(returns, horizon).to_numpy()
    if sample.size < 2:
        raise ActionError(f"not enough data for a {horizon}-day historical VaR")
    return tail_measures(sample, confidence)


def var_parametric(returns: pd.Series, confidence=0.95, horizon=1) -> tuple[float, float]:
    mu = float(returns.mean()) * horizon
    sigma = float(returns.std(ddof=1)) * np.sqrt(horizon)
    from scipy.special import ndtri  # scipy loads when a risk figure is first computed

    z = float(ndtri(1.0 - confidence))
    density = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    return float(-(mu + sigma * z)), float(-(mu - sigma * density / (1.0 - confidence)))


def var_monte_carlo(
    asset_returns: pd.DataFrame,
    weights: np.ndarray,
    confidence=0.95,
    horizon=1,
    paths=100_000,
    seed: int | None = 0,
) -> tuple[float, float]:
    mean = asset_returns.mean().to_numpy()
    cov = np.atleast_2d(asset_returns.cov(ddof=1).to_numpy())
    rng = np.random.default_rng(seed)
    eigval, eigvec = np.linalg.eigh(cov)
    root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))  # cov = root @ root.T
    outcomes = np.empty(paths)
    chunk = max(1, 2_000_000 // (horizon * len(mean)))
    for start in range(0, paths, chunk):
        stop = min(paths, start + chunk)
        draws = rng.standard_normal((stop - start, horizon, len(mean))) @ root.T + mean
        growth = np.prod(1.0 + draws, axis=1)
        outcomes[start:stop] = (growth - 1.0) @ weights
    return tail_measures(outcomes, confidence)


def ewma_volatility(returns: pd.Series, lam: float = 0.94, seed_days: int = 30) -> pd.Series:
    """Annualised EWMA volatility forecast for the day after each date."""
    if not 0 < lam < 1:
        raise ActionError("ewma_lambda must be between 0 and 1")
    squared = returns.to_numpy() ** 2
    seed = squared[: min(seed_days, squared.size)].mean()
    from scipy.signal import lfilter

    variance, _ = lfilter([1.0 - lam], [1.0, -lam], squared, zi=[lam * seed])
    return pd.Series(np.sqrt(variance * TRADING_DAYS), index=returns.index, name="ewma_vol")


def garch_forecast(returns: pd.Series, horizon: int = 1) -> dict:
    """GARCH(1,1) parameters and volatility forecasts (annualised and over the horizon)."""
    if len(returns) < MIN_GARCH_RETURNS:
        raise ActionError(f"GARCH needs at least {MIN_GARCH_RETURNS} daily returns")
    from arch import arch_model

    model = arch_model(
        returns.to_numpy() * 100.0, mean="Constant", vol="GARCH", p=1, q=1, rescale=False
    )
    fit = model.fit(disp="off", show_warning=False)
    variance = fit.forecast(horizon=horizon, reindex=False).variance.to_numpy()[-1] / 1e4
    omega, alpha, beta = (float(fit.params[k]) for k in ("omega", "alpha[1]", "beta[1]"))
    persistence = alpha + beta
    long_run = (
        float(np.sqrt(omega / 1e4 / (1.0 - persistence) * TRADING_DAYS))
        if persistence < 1
        else float("nan")
    )
    return {
        "next_day_volatility": float(np.sqrt(variance[0] * TRADING_DAYS)),
        "horizon_volatility": float(np.sqrt(variance.sum())),
        "horizon_average_annual_volatility": float(np.sqrt(variance.mean() * TRADING_DAYS)),
        "long_run_volatility": long_run,
        "omega": omega / 1e4,
        "alpha": alpha,
        "beta": beta,
        "persistence": persistence,
        "converged": bool(fit.convergence_flag == 0),
    }


def report(
    prices: pd.DataFrame,
    weights: dict[str, float] | None = None,
    benchmark: pd.Series | None = None,
    confidence: float = 0.95,
    horizon_days: int = 1,
    risk_free_rate: float = 0.0,
    mc_paths: int = 100_000,
    seed: int | None = 0,
    ewma_lambda: float = 0.94,
    garch: bool = True,
) -> dict:
    """Every risk measure of the module for one symbol or a portfolio."""
    if not 0.5 <= confidence < 1:
        raise ActionError("confidence must be in [0.5, 1), e.g. 0.95 or 0.99")
    if horizon_days < 1:
        raise ActionError("horizon_days must be at least 1")
    returns = portfolio_returns(prices, weights)
    asset_returns = (
        prices.set_axis([str(c) for c in prices.columns], axis=1)
        .pct_change(fill_method=None)
        .loc[returns.index]
    )
    w = (
        np.full(prices.shape[1], 1.0 / prices.shape[1])
        if weights is None
        else np.array([weights[str(c)] for c in prices.columns], dtype=float)
    )
    start = prices.index[prices.index.get_loc(returns.index[0]) - 1]
    equity = pd.concat([pd.Series([1.0], index=[start]), metrics.equity_curve(returns)])
    dd = metrics.max_drawdown(equity)
    cagr = metrics.cagr(returns)
    var = {
        "historical": var_historical(returns, confidence, horizon_days),
        "parametric": var_parametric(returns, confidence, horizon_days),
        "monte_carlo": var_monte_carlo(asset_returns, w, confidence, horizon_days, mc_paths, seed),
    }
    ewma = ewma_volatility(returns, ewma_lambda)
    values: dict = {
        "start": returns.index[0],
        "end": returns.index[-1],
        "days": len(returns),
        "annual_return": metrics.annual_return(returns),
        "cagr": cagr,
        "volatility": metrics.volatility(returns),
        "sharpe": metrics.sharpe(returns, risk_free_rate),
        "sortino": metrics.sortino(returns, risk_free_rate),
        "max_drawdown": dd.depth,
        "max_drawdown_peak": dd.peak,
        "max_drawdown_trough": dd.trough,
        "max_drawdown_recovery": dd.recovery,
        "calmar": cagr / abs(dd.depth) if dd.depth < 0 else float("nan"),
        "confidence": confidence,
        "horizon_days": horizon_days,
        "var": {method: {"var": v, "cvar": c} for method, (v, c) in var.items()},
        "ewma_volatility": float(ewma.iloc[-1]),
    }
    if benchmark is not None:
        bench = benchmark.pct_change(fill_method=None).iloc[1:]
        values["beta"] = metrics.beta(returns, bench)
        values["correlation"] = metrics.correlation(returns, bench)
    if garch:
        values["garch"] = garch_forecast(returns, horizon_days)
    return {"values": values, "returns": returns, "equity": equity, "ewma": ewma}
