"""Implied volatility, vectorised over many options.

European options: safeguarded Newton on the Black–Scholes–Merton price. Each option
keeps a bracket ``[lo, hi]`` that always contains the root; a Newton step that
leaves the bracket (or has no usable vega) is replaced by bisection, so every
option converges. The start is the inflection point ``σ* = √(2|ln(F/K)|/T)`` of
the price as a function of σ (from which Newton converges monotonically), and
in-the-money options are converted to the out-of-the-money option by put–call
parity so the solver works on time value only.

American options: vectorised bisection on the CRR binomial price.

Prices outside the no-arbitrage bounds raise :class:`ActionError`:
call ``max(S e^{-qT} − K e^{-rT}, 0) < C < S e^{-qT}``,
put ``max(K e^{-rT} − S e^{-qT}, 0) < P < K e^{-rT}`` (American: intrinsic value
``< V <`` spot for calls, strike for puts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.actions.base import ActionError
from engine.finance.options import INV_SQRT_2PI, ArrayLike, OptionInputs, prepare_inputs

MAX_SIGMA = 10.0
MIN_SIGMA_AMERICAN = 1e-4


@dataclass
class ImpliedVolResult:
    volatility: np.ndarray  # NaN where no volatility reproduces the price
    iterations: int
    converged: np.ndarray
    # per option: None when solved, else why not (a batch answers row by row)
    reasons: list[str | None] = field(default_factory=list)


def _price_and_vega(inputs: OptionInputs, sigma: np.ndarray, sign: np.ndarray):
    from scipy.special import ndtr  # imported on first use, not with the catalogue

    s, k, t = inputs.spot, inputs.strike, inputs.maturity
    r, q = inputs.rate, inputs.dividend_yield
    sqrt_t = np.sqrt(t)
    vol_sqrt_t = sigma * sqrt_t
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(s / k) + (r - q) * t) / vol_sqrt_t + 0.5 * vol_sqrt_t
    d2 = d1 - vol_sqrt_t
    s_disc = s * np.exp(-q * t)
    price = sign * (s_disc * ndtr(sign * d1) - k * np.exp(-r * t) * ndtr(sign * d2))
    vega = s_disc * np.exp(-0.5 * d1 * d1) * INV_SQRT_2PI * sqrt_t
    return price, vega


def _broadcast_price(price: ArrayLike, inputs: OptionInputs) -> tuple[np.ndarray, OptionInputs]:
    target = np.atleast_1d(np.asarray(price, dtype=np.float64))
    if target.ndim != 1 or target.size == 0 or not np.all(np.isfinite(target)):
        raise ActionError("price must be a finite number or a non-empty list of numbers")
    if target.size == inputs.n:
        return target, inputs
    if target.size == 1:
        return np.full(inputs.n, target[0]), inputs
    if inputs.n == 1:
        return target, inputs.take(np.zeros(target.size, dtype=int))
    raise ActionError(
        f"price has {target.size} entries but the other lists have {inputs.n}; "
        "lists must have equal lengths"
    )


def _bound_reasons(target, lower, upper) -> list[str | None]:
    """Per option: why its price cannot be inverted (outside or at a no-arbitrage
    bound), or None."""
    low = target <= lower
    high = target >= upper
    reasons: list[str | None] = []
    for i in range(target.size):
        if low[i] or high[i]:
            side = "at or below the lower" if low[i] else "at or above the upper"
            reasons.append(
                f"price {target[i]:.6g} is {side} no-arbitrage bound "
                f"[{lower[i]:.6g}, {upper[i]:.6g}]; no volatility reproduces it"
            )
        else:
            reasons.append(None)
    return reasons


def _solve_rows(target, inputs: OptionInputs, reasons: list[str | None], solve) -> ImpliedVolResult:
    """Solve the options without a reason; the others get NaN and keep their reason. A
    single option that cannot be solved is an error (there is nothing else to return)."""
    ok = np.array([r is None for r in reasons], dtype=bool)
    if target.size == 1 and not ok[0]:
        raise ActionError(str(reasons[0]))
    if not ok.any():
        raise ActionError(f"No option can be inverted; option 0: {reasons[0]}.")
    rows = np.flatnonzero(ok)
    solved = solve(target[rows], inputs.take(rows))
    volatility = np.full(target.size, np.nan)
    converged = np.zeros(target.size, dtype=bool)
    volatility[rows] = solved.volatility
    converged[rows] = solved.converged
    merged = list(reasons)
    for position, reason in zip(rows, solved.reasons or [None] * rows.size, strict=True):
        merged[int(position)] = reason
    return ImpliedVolResult(volatility, solved.iterations, converged, merged)


def implied_volatility(
    price: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    maturity_years: ArrayLike,
    rate: ArrayLike,
    dividend_yield: ArrayLike = 0.0,
    option_type: str | Sequence[str] = "call",
    style: str = "european",
    steps: int = 200,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> ImpliedVolResult:
    """Volatility that reproduces ``price`` (see module docstring)."""
    inputs = prepare_inputs(spot, strike, maturity_years, rate, 1.0, dividend_yield, option_type)
    target, inputs = _broadcast_price(price, inputs)
    style = style.strip().lower()
    w = inputs.sign
    if style == "american":
        lower = np.maximum(w * (inputs.spot - inputs.strike), 0.0)
        upper = np.where(w > 0, inputs.spot, inputs.strike)
        reasons = _bound_reasons(target, lower, upper)
        return _solve_rows(
            target, inputs, reasons, lambda p, sub: _american(p, sub, steps, max_iter)
        )
    if style != "european":
        raise ActionError(f"style must be 'european' or 'american'; got {style!r}")
    t = inputs.maturity
    s_disc = inputs.spot * np.exp(-inputs.dividend_yield * t)
    k_disc = inputs.strike * np.exp(-inputs.rate * t)
    lower = np.maximum(w * (s_disc - k_disc), 0.0)
    upper = np.where(w > 0, s_disc, k_disc)
    reasons = _bound_reasons(target, lower, upper)
    return _solve_rows(target, inputs, reasons, lambda p, sub: _european(p, sub, tol, max_iter))


def _european(target, inputs: OptionInputs, tol: float, max_iter: int) -> ImpliedVolResult:
    """Prices strictly inside their no-arbitrage bounds (checked by the caller)."""
    t, w = inputs.maturity, inputs.sign
    s_disc = inputs.spot * np.exp(-inputs.dividend_yield * t)
    k_disc = inputs.strike * np.exp(-inputs.rate * t)
    forward_value = s_disc - k_disc
    # Work on the out-of-the-money option (time value only) via put-call parity.
    itm = w * forward_value > 0
    sign = np.where(itm, -w, w)
    otm_target = np.where(itm, target - w * forward_value, target)
    n = inputs.n
    lo = np.zeros(n)
    hi = np.full(n, MAX_SIGMA)
    log_moneyness = np.abs(np.log(s_disc / k_disc))
    sigma = np.sqrt(2.0 * log_moneyness / t)
    atm = sigma < 1e-8
    sigma[atm] = np.sqrt(2 * np.pi / t[atm]) * otm_target[atm] / s_disc[atm]
    sigma = np.clip(sigma, 1e-8, MAX_SIGMA)
    hi_price, _ = _price_and_vega(inputs, hi, sign)
    too_high = hi_price < otm_target
    reasons: list[str | None] = [
        f"the implied volatility is above {MAX_SIGMA:g} (1000 %); the price is too close "
        "to its upper no-arbitrage bound"
        if high
        else None
        for high in too_high
    ]
    if n == 1 and too_high[0]:
        raise ActionError(
            f"the implied volatility of option 0 is above {MAX_SIGMA:g} (1000 %); "
            "the price is too close to its upper no-arbitrage bound"
        )
    sigma[too_high] = np.nan
    active = np.flatnonzero(~too_high)
    converged = np.zeros(n, dtype=bool)
    iterations = 0
    while active.size and iterations < max_iter:
        iterations += 1
        sub = inputs.take(active)
        sig = sigma[active]
        model, vega = _price_and_vega(sub, sig, sign[active])
        f = model - otm_target[active]
        lo_a = np.where(f < 0, sig, lo[active])
        hi_a = np.where(f > 0, sig, hi[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / vega
        newton = sig - step
        done = (np.abs(step) <= tol * (1.0 + sig)) | (f == 0) | (hi_a - lo_a <= tol)
        outside = ~np.isfinite(newton) | (newton <= lo_a) | (newton >= hi_a)
        new = np.where(outside, np.where(done, sig, 0.5 * (lo_a + hi_a)), newton)
        sigma[active] = new
        lo[active], hi[active] = lo_a, hi_a
        converged[active[done]] = True
        active = active[~done]
    return ImpliedVolResult(sigma, iterations, converged, reasons)


def _american(target, inputs: OptionInputs, steps: int, max_iter: int) -> ImpliedVolResult:
    from engine.finance.lattice import binomial_price

    dt = inputs.maturity / steps
    # the CRR tree needs sigma * sqrt(dt) > |r - q| dt
    lo = np.maximum(2.0 * np.abs(inputs.rate - inputs.dividend_yield) * np.sqrt(dt), 1e-4)
    hi = np.full(inputs.n, MAX_SIGMA)

    def price_at(sigma: np.ndarray) -> np.ndarray:
        trial = inputs.take(slice(None))
        trial.volatility = sigma
        return binomial_price(trial, steps, american=True)

    if np.any(price_at(lo) > target):
        i = int(np.argmax(price_at(lo) > target))
        raise ActionError(
            f"price {target[i]:.6g} of option {i} is below the American value at the "
            "smallest volatility the tree supports; no volatility reproduces it"
        )
    if np.any(price_at(hi) < target):
        raise ActionError(f"an implied volatility is above {MAX_SIGMA:g} (1000 %)")
    iterations = min(max_iter, 60)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = price_at(mid) > target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return ImpliedVolResult(
        volatility=0.5 * (lo + hi), iterations=iterations, converged=np.ones(inputs.n, bool)
    )
