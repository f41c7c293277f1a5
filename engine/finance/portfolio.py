"""Mean–variance, risk-parity and HRP portfolio optimisation.

Estimators (annualised with 252 trading days, from simple daily returns on the
dates where every symbol has a price):

- expected returns: arithmetic mean of daily returns × 252;
- covariance: sample covariance (ddof=1) × 252, or Ledoit–Wolf shrinkage
  (``sklearn.covariance.LedoitWolf``) × 252.

Objectives (weights sum to one and lie within ``bounds``, default long-only 0..1):

- ``min_variance``: minimise ``wᵀΣw``;
- ``max_sharpe``: maximise ``(wᵀμ − rf) / √(wᵀΣw)``, solved as the convex problem
  ``min yᵀΣy`` s.t. ``(μ − rf)ᵀy = 1``, ``Σy = κ``, ``κ·lb ≤ y ≤ κ·ub`` with
  ``w = y / κ``;
- ``efficient_return``: minimise variance s.t. ``wᵀμ ≥ target_return``;
- ``efficient_risk``: maximise ``wᵀμ`` s.t. ``√(wᵀΣw) ≤ target_volatility``;
- ``risk_parity``: equal risk contributions ``w_i (Σw)_i``, solved as
  ``min ½yᵀΣy − (1/n) Σ ln y_i`` and normalised (bounds are then checked);
- ``hrp``: hierarchical risk parity (López de Prado 2016): single-linkage
  clustering on the correlation distance ``√((1 − ρ)/2)``, quasi-diagonal order,
  recursive bisection with inverse-variance cluster weights (bounds not applied).

The quadratic programmes are solved with SciPy's SLSQP with analytic gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.actions.base import ActionError
from engine.finance import TRADING_DAYS
from engine.lazy import pandas as pd

OBJECTIVES = (
    "min_variance",
    "max_sharpe",
    "efficient_return",
    "efficient_risk",
    "risk_parity",
    "hrp",
)
COVARIANCES = ("sample", "ledoit_wolf")
_SLSQP = {"ftol": 1e-15, "maxiter": 2000}


@dataclass
class Estimates:
    mu: pd.Series
    cov: pd.DataFrame
    returns: pd.DataFrame
    covariance: str = "sample"


@dataclass
class PortfolioResult:
    weights: pd.Series
    expected_return: float
    volatility: float
    sharpe: float
    objective: str
    extras: dict = field(default_factory=dict)

    def values(self) -> dict:
        return {
            "weights": {str(k): float(v) for k, v in self.weights.items()},
            "expected_return": self.expected_return,
            "volatility": self.volatility,
            "sharpe": self.sharpe,
            "objective": self.objective,
            **self.extras,
        }


def estimate(
    prices: pd.DataFrame, covariance: str = "sample", periods: int = TRADING_DAYS
) -> Estimates:
    """Annualised mean returns and covariance from prices (see module docstring)."""
    if covariance not in COVARIANCES:
        raise ActionError(f"covariance must be one of {', '.join(COVARIANCES)}")
    if prices.shape[1] == 0:
        raise ActionError("no symbols to optimise")
    returns = prices.pct_change(fill_method=None).iloc[1:].dropna(how="any")
    if len(returns) < 2:
        raise ActionError("fewer than two dates on which every symbol has a return")
    std = returns.std(ddof=1)
    flat = std.index[~(std > 0)].tolist()
    if flat:
        raise ActionError(f"price series with no variation: {', '.join(map(str, flat))}")
    mu = returns.mean() * periods
    if covariance == "ledoit_wolf":
        from sklearn.covariance import LedoitWolf

        matrix = LedoitWolf().fit(returns.to_numpy()).covariance_ * periods
        cov = pd.DataFrame(matrix, index=returns.columns, columns=returns.columns)
    else:
        cov = returns.cov(ddof=1) * periods
    return Estimates(mu=mu, cov=cov, returns=returns, covariance=covariance)


def _check_bounds(n: int, bounds: tuple[float, float]) -> tuple[float, float]:
    lo, hi = float(bounds[0]), float(bounds[1])
    if lo > hi:
        raise ActionError(f"weight bounds are reversed: ({lo}, {hi})")
    if n * lo > 1.0 + 1e-12 or n * hi < 1.0 - 1e-12:
        raise ActionError(
            f"weights in [{lo}, {hi}] for {n} symbols cannot add up to one; widen the bounds"
        )
    return lo, hi


def _start(n: int, lo: float, hi: float) -> np.ndarray:
    return np.clip(np.full(n, 1.0 / n), lo, hi)


def _solve(fun, jac, x0, bounds, constraints, what: str) -> np.ndarray:
    from scipy.optimize import minimize  # ~0.4 s to import: loads when first used

    res = minimize(
        fun, x0, jac=jac, bounds=bounds, constraints=constraints, method="SLSQP", options=_SLSQP
    )
    if not res.success and res.status != 8:  # 8: positive directional derivative at optimum
        raise ActionError(f"{what}: the optimiser did not converge ({res.message})")
    return res.x


def _sum_to_one(n: int) -> dict:
    return {"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(n)}


def min_variance(cov: np.ndarray, bounds=(0.0, 1.0)) -> np.ndarray:
    n = cov.shape[0]
    lo, hi = _check_bounds(n, bounds)
    return _solve(
        lambda w: w @ cov @ w,
        lambda w: 2.0 * cov @ w,
        _start(n, lo, hi),
        [(lo, hi)] * n,
        [_sum_to_one(n)],
        "min_variance",
    )


def max_sharpe(mu: np.ndarray, cov: np.ndarray, risk_free_rate=0.0, bounds=(0.0, 1.0)):
    n = cov.shape[0]
    lo, hi = _check_bounds(n, bounds)
    excess = mu - risk_free_rate
    if excess.max() <= 0:
        raise ActionError(
            "no asset has an expected return above the risk-free rate, so the maximum "
            "Sharpe portfolio is undefined; lower risk_free_rate or use min_variance"
        )
    # variables x = (y_1..y_n, kappa)
    w0 = _start(n, lo, hi)
    scale = w0 @ excess
    x0 = np.append(w0 / scale, 1.0 / scale) if scale > 0 else np.append(w0, 1.0)
    eye = np.eye(n)
    constraints = [
        {
            "type": "eq",
            "fun": lambda x: x[:n] @ excess - 1.0,
            "jac": lambda x: np.append(excess, 0.0),
        },
        {
            "type": "eq",
            "fun": lambda x: x[:n].sum() - x[n],
            "jac": lambda x: np.append(np.ones(n), -1.0),
        },
    ]
    if np.isfinite(lo):
        constraints.append(
            {
                "type": "ineq",
                "fun": lambda x: x[:n] - lo * x[n],
                "jac": lambda x: np.hstack([eye, np.full((n, 1), -lo)]),
            }
        )
    if np.isfinite(hi):
        constraints.append(
            {
                "type": "ineq",
                "fun": lambda x: hi * x[n] - x[:n],
                "jac": lambda x: np.hstack([-eye, np.full((n, 1), hi)]),
            }
        )
    x = _solve(
        lambda x: x[:n] @ cov @ x[:n],
        lambda x: np.append(2.0 * cov @ x[:n], 0.0),
        x0,
        [(None, None)] * n + [(0.0, None)],
        constraints,
        "max_sharpe",
    )
    if not x[n] > 0:
        raise ActionError("max_sharpe: the optimiser found no portfolio with positive excess")
    return x[:n] / x[n]


def return_range(mu: np.ndarray, cov: np.ndarray, bounds=(0.0, 1.0)) -> tuple[float, float]:
    """(return of the min-variance portfolio, highest achievable return)."""
    n = mu.shape[0]
    lo, hi = _check_bounds(n, bounds)
    from scipy.optimize import linprog

    res = linprog(-mu, A_eq=np.ones((1, n)), b_eq=[1.0], bounds=[(lo, hi)] * n, method="highs")
    if not res.success:
        raise ActionError(f"cannot find the highest achievable return ({res.message})")
    return float(min_variance(cov, bounds) @ mu), float(-res.fun)


def efficient_return(mu, cov, target_return: float, bounds=(0.0, 1.0)) -> np.ndarray:
    n = mu.shape[0]
    lo, hi = _check_bounds(n, bounds)
    _, highest = return_range(mu, cov, bounds)
    if target_return > highest + 1e-12:
        raise ActionError(
            f"target_return {target_return:.4g} is above the highest achievable expected "
            f"return {highest:.4g} within the weight bounds"
        )
    target = min(target_return, highest)
    return _solve(
        lambda w: w @ cov @ w,
        lambda w: 2.0 * cov @ w,
        _start(n, lo, hi),
        [(lo, hi)] * n,
        [
            _sum_to_one(n),
            {"type": "ineq", "fun": lambda w: w @ mu - target, "jac": lambda w: mu},
        ],
        "efficient_return",
    )


def efficient_risk(mu, cov, target_volatility: float, bounds=(0.0, 1.0)) -> np.ndarray:
    n = mu.shape[0]
    lo, hi = _check_bounds(n, bounds)
    w_min = min_variance(cov, bounds)
    lowest = float(np.sqrt(w_min @ cov @ w_min))
    if target_volatility < lowest - 1e-10:
        raise ActionError(
            f"target_volatility {target_volatility:.4g} is below the lowest achievable "
            f"volatility {lowest:.4g} (the minimum-variance portfolio)"
        )
    variance = max(target_volatility, lowest) ** 2
    return _solve(
        lambda w: -(w @ mu),
        lambda w: -mu,
        w_min,
        [(lo, hi)] * n,
        [
            _sum_to_one(n),
            {
                "type": "ineq",
                "fun": lambda w: variance - w @ cov @ w,
                "jac": lambda w: -2.0 * cov @ w,
            },
        ],
        "efficient_risk",
    )


def risk_contributions(weights: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Fractions of portfolio variance: ``w_i (Σw)_i / wᵀΣw`` (they add up to one)."""
    marginal = cov @ weights
    return weights * marginal / (weights @ marginal)


def risk_parity(cov: np.ndarray, bounds=(0.0, 1.0)) -> np.ndarray:
    n = cov.shape[0]
    lo, hi = _check_bounds(n, bounds)
    y0 = 1.0 / np.sqrt(np.diag(cov))
    from scipy.optimize import minimize

    res = minimize(
        lambda y: 0.5 * y @ cov @ y - np.log(y).sum() / n,
        y0,
        jac=lambda y: cov @ y - 1.0 / (n * y),
        bounds=[(1e-12, None)] * n,
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )
    weights = res.x / res.x.sum()
    if weights.min() >= lo - 1e-9 and weights.max() <= hi + 1e-9:
        return weights
    # The equal-risk portfolio violates the bounds: equalise contributions within them.
    return _solve(
        lambda w: np.sum((risk_contributions(w, cov) - 1.0 / n) ** 2),
        None,
        np.clip(weights, lo, hi),
        [(max(lo, 1e-9), hi)] * n,
        [_sum_to_one(n)],
        "risk_parity",
    )


def hrp(returns: pd.DataFrame, cov: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    n = cov.shape[0]
    if n == 1:
        return np.ones(1)
    corr = returns.corr().to_numpy()
    dist = np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, None))
    np.fill_diagonal(dist, 0.0)
    order = leaves_list(linkage(squareform(dist, checks=False), "single"))
    weights = np.ones(n)
    clusters = [order]
    while clusters:
        split = []
        for cluster in clusters:
            if len(cluster) > 1:
                half = len(cluster) // 2
                split.extend([cluster[:half], cluster[half:]])
        clusters = split
        for left, right in zip(split[::2], split[1::2], strict=True):
            var_left, var_right = _cluster_variance(cov, left), _cluster_variance(cov, right)
            alpha = 1.0 - var_left / (var_left + var_right)
            weights[left] *= alpha
            weights[right] *= 1.0 - alpha
    return weights


def _cluster_variance(cov: np.ndarray, items: np.ndarray) -> float:
    sub = cov[np.ix_(items, items)]
    inverse_variance = 1.0 / np.diag(sub)
    w = inverse_variance / inverse_variance.sum()
    return float(w @ sub @ w)


def optimize(
    estimates: Estimates,
    objective: str = "max_sharpe",
    risk_free_rate: float = 0.0,
    bounds: tuple[float, float] = (0.0, 1.0),
    target_return: float | None = None,
    target_volatility: float | None = None,
) -> PortfolioResult:
    """Optimise and report weights, expected return, volatility and Sharpe ratio."""
    mu, cov = estimates.mu.to_numpy(), estimates.cov.to_numpy()
    if objective == "min_variance":
        w = min_variance(cov, bounds)
    elif objective == "max_sharpe":
        w = max_sharpe(mu, cov, risk_free_rate, bounds)
    elif objective == "efficient_return":
        if target_return is None:
            raise ActionError("efficient_return needs target_return")
        w = efficient_return(mu, cov, target_return, bounds)
    elif objective == "efficient_risk":
        if target_volatility is None or target_volatility <= 0:
            raise ActionError("efficient_risk needs a positive target_volatility")
        w = efficient_risk(mu, cov, target_volatility, bounds)
    elif objective == "risk_parity":
        w = risk_parity(cov, bounds)
    elif objective == "hrp":
        w = hrp(estimates.returns, cov)
    else:
        raise ActionError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
    w = np.where(np.abs(w) < 1e-12, 0.0, w)
    if abs(w.sum() - 1.0) > 1e-6:
        raise ActionError(f"{objective}: the optimiser returned weights that do not add up to one")
    if objective != "hrp" and (w.min() < bounds[0] - 1e-6 or w.max() > bounds[1] + 1e-6):
        raise ActionError(f"{objective}: the optimiser returned weights outside the bounds")
    result = summarise(w, estimates, objective, risk_free_rate)
    if objective == "hrp" and tuple(bounds) != (0.0, 1.0):
        result.extras["note"] = "hrp is long-only by construction; weight_bounds were not applied"
    return result


def summarise(w: np.ndarray, estimates: Estimates, objective: str, rf: float) -> PortfolioResult:
    mu, cov = estimates.mu.to_numpy(), estimates.cov.to_numpy()
    ret = float(w @ mu)
    vol = float(np.sqrt(max(w @ cov @ w, 0.0)))
    contributions = risk_contributions(w, cov) if vol > 0 else np.full(w.shape, np.nan)
    symbols = [str(s) for s in estimates.mu.index]
    return PortfolioResult(
        weights=pd.Series(w, index=symbols),
        expected_return=ret,
        volatility=vol,
        sharpe=(ret - rf) / vol if vol > 0 else float("nan"),
        objective=objective,
        extras={"risk_contributions": dict(zip(symbols, contributions.tolist(), strict=True))},
    )


def frontier(
    estimates: Estimates, n_points: int = 30, bounds: tuple[float, float] = (0.0, 1.0), rf=0.0
) -> pd.DataFrame:
    """Efficient frontier: minimum volatility for evenly spaced target returns."""
    mu, cov = estimates.mu.to_numpy(), estimates.cov.to_numpy()
    low, high = return_range(mu, cov, bounds)
    rows = []
    for target in np.linspace(low, high, n_points):
        w = efficient_return(mu, cov, float(target), bounds)
        ret, vol = float(w @ mu), float(np.sqrt(max(w @ cov @ w, 0.0)))
        rows.append({"expected_return": ret, "volatility": vol, "sharpe": (ret - rf) / vol})
        rows[-1].update({f"w_{s}": float(x) for s, x in zip(estimates.mu.index, w, strict=True)})
    return pd.DataFrame(rows)
