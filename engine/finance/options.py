"""Vanilla option pricing: Black–Scholes–Merton, CRR binomial trees, Monte Carlo.

Conventions: maturities in years, the risk-free rate and the dividend yield are
continuously compounded decimals, volatility is an annual decimal. Greeks are
plain partial derivatives per unit:

- ``delta`` = dV/dS, ``gamma`` = d²V/dS²,
- ``vega`` = dV/dσ per 1.00 of volatility (divide by 100 for "per vol point"),
- ``theta`` = dV/dt per year of calendar time (= -dV/dT; divide by 365 or 252
  for a per-day figure),
- ``rho`` = dV/dr per 1.00 of rate.

Every numeric input accepts a scalar or a sequence; sequences of equal length (and
scalars, which broadcast) price many options in one vectorised call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.actions.base import ActionError

INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
OPTION_TYPES = ("call", "put")
STYLES = ("european", "american")
METHODS = ("black_scholes", "binomial", "monte_carlo")
GREEKS = ("delta", "gamma", "vega", "theta", "rho")
# How desks quote the Greeks the pricer returns as plain derivatives: vega per volatility
# point (+0.01), theta per calendar day (a year is 365 of them), rho per rate point (+0.01).
DESK_SCALE = {"vega": 0.01, "theta": 1.0 / 365.0, "rho": 0.01}
DESK_UNITS = {"vega": "per vol point", "theta": "per calendar day", "rho": "per rate point"}


def desk_greeks(greeks: dict) -> dict:
    """Plain derivatives (vega per 1.00 of volatility, theta per year, rho per 1.00 of
    rate) as desks quote them (see ``DESK_SCALE``); other entries unchanged."""
    return {
        name: np.asarray(values, dtype=float) * DESK_SCALE[name] if name in DESK_SCALE else values
        for name, values in greeks.items()
    }


ArrayLike = float | Sequence[float] | np.ndarray


@dataclass
class OptionInputs:
    """Broadcast, validated inputs (all float64 arrays of one length ``n``)."""

    spot: np.ndarray
    strike: np.ndarray
    maturity: np.ndarray
    rate: np.ndarray
    volatility: np.ndarray
    dividend_yield: np.ndarray
    sign: np.ndarray  # +1 call, -1 put

    @property
    def n(self) -> int:
        return int(self.spot.shape[0])

    def take(self, index: np.ndarray | slice) -> OptionInputs:
        return OptionInputs(**{name: getattr(self, name)[index] for name in _FIELDS})


_FIELDS = ("spot", "strike", "maturity", "rate", "volatility", "dividend_yield", "sign")


@dataclass
class OptionResult:
    """Prices and Greeks as float64 arrays; ``std_error`` only for Monte Carlo."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho: np.ndarray
    std_error: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def as_dict(self, scalar: bool = False) -> dict[str, float | list[float]]:
        names = ("price", *GREEKS) + (("std_error",) if self.std_error is not None else ())
        out = {}
        for name in names:
            values = getattr(self, name)
            out[name] = float(values[0]) if scalar else values.tolist()
        return out


def _to_array(name: str, value: ArrayLike) -> np.ndarray:
    try:
        array = np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise ActionError(f"{name} must be a number or a list of numbers") from None
    if array.ndim != 1:
        raise ActionError(f"{name} must be a number or a flat list of numbers")
    if array.size == 0:
        raise ActionError(f"{name} must not be an empty list")
    if not np.all(np.isfinite(array)):
        raise ActionError(f"{name} contains a non-finite value")
    return array


def option_signs(option_type: str | Sequence[str] | np.ndarray) -> np.ndarray:
    """+1 for calls, -1 for puts (one name, or a sequence/array of names; vectorised)."""
    names = np.atleast_1d(np.asarray(option_type))
    if names.size == 0:
        raise ActionError("option_type must not be an empty list")
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise ActionError("option_type must be 'call', 'put' or a list of them")
    calls = names == "call"
    puts = names == "put"
    unknown = ~(calls | puts)
    if unknown.any():  # slow path: tolerate case and surrounding spaces
        cleaned = np.char.lower(np.char.strip(names.astype(str)))
        calls, puts = cleaned == "call", cleaned == "put"
        unknown = ~(calls | puts)
        if unknown.any():
            bad = names[int(np.argmax(unknown))]
            raise ActionError(f"option_type must be 'call' or 'put', got {str(bad)!r}")
    return np.where(calls, 1.0, -1.0)


def _check_positive(name: str, array: np.ndarray, allow_zero: bool = False) -> None:
    bad = array < 0 if allow_zero else array <= 0
    if bad.any():
        i = int(np.argmax(bad))
        relation = ">= 0" if allow_zero else "> 0"
        where = f" at position {i}" if array.size > 1 else ""
        raise ActionError(f"{name} must be {relation}; got {array[i]:g}{where}")


def prepare_inputs(
    spot: ArrayLike,
    strike: ArrayLike,
    maturity_years: ArrayLike,
    rate: ArrayLike,
    volatility: ArrayLike,
    dividend_yield: ArrayLike = 0.0,
    option_type: str | Sequence[str] = "call",
) -> OptionInputs:
    """Validate and broadcast inputs; raises :class:`ActionError` on bad values."""
    raw = {
        "spot": _to_array("spot", spot),
        "strike": _to_array("strike", strike),
        "maturity": _to_array("maturity_years", maturity_years),
        "rate": _to_array("rate", rate),
        "volatility": _to_array("volatility", volatility),
        "dividend_yield": _to_array("dividend_yield", dividend_yield),
        "sign": option_signs(option_type),
    }
    lengths = {name: a.size for name, a in raw.items() if a.size != 1}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ActionError(f"list parameters must have equal lengths (got {detail})")
    n = max(lengths.values(), default=1)
    arrays = {name: a if a.size == n else np.full(n, a[0]) for name, a in raw.items()}
    _check_positive("spot", arrays["spot"])
    _check_positive("strike", arrays["strike"])
    _check_positive("maturity_years", arrays["maturity"])
    _check_positive("volatility", arrays["volatility"])
    return OptionInputs(**arrays)


BLOCK = 16_384  # elements per block: temporaries stay in cache


def black_scholes(inputs: OptionInputs) -> OptionResult:
    """Black–Scholes–Merton price and analytic Greeks with continuous dividend yield.

    Large books are processed in blocks of :data:`BLOCK` options so the dozen
    temporaries of the formulas stay in cache (about 25 % faster at 10⁶ options).
    """
    if inputs.n <= 4 * BLOCK:
        return _black_scholes_block(inputs)
    names = ("price", *GREEKS)
    out = {name: np.empty(inputs.n) for name in names}
    for start in range(0, inputs.n, BLOCK):
        block = slice(start, start + BLOCK)
        part = _black_scholes_block(inputs.take(block))
        for name in names:
            out[name][block] = getattr(part, name)
    return OptionResult(
        price=out["price"],
        delta=out["delta"],
        gamma=out["gamma"],
        vega=out["vega"],
        theta=out["theta"],
        rho=out["rho"],
    )


def _black_scholes_block(inputs: OptionInputs) -> OptionResult:
    s, k, t = inputs.spot, inputs.strike, inputs.maturity
    r, q, sigma, w = inputs.rate, inputs.dividend_yield, inputs.volatility, inputs.sign
    from scipy.special import ndtr  # imported on first pricing, not with the catalogue

    sqrt_t = np.sqrt(t)
    vol_sqrt_t = sigma * sqrt_t
    disc_r = np.exp(-r * t)
    disc_q = np.exp(-q * t)
    d1 = (np.log(s / k) + (r - q + 0.5 * sigma * sigma) * t) / vol_sqrt_t
    d2 = d1 - vol_sqrt_t
    n_d1 = ndtr(w * d1)
    n_d2 = ndtr(w * d2)
    pdf = np.exp(-0.5 * d1 * d1) * INV_SQRT_2PI
    s_disc = s * disc_q
    k_disc = k * disc_r
    price = w * (s_disc * n_d1 - k_disc * n_d2)
    s_pdf = s_disc * pdf
    return OptionResult(
        price=price,
        delta=w * disc_q * n_d1,
        gamma=s_pdf / (s * s * vol_sqrt_t),
        vega=s_pdf * sqrt_t,
        theta=-s_pdf * sigma / (2.0 * sqrt_t) + w * (q * s_disc * n_d1 - r * k_disc * n_d2),
        rho=w * t * k_disc * n_d2,
    )


def black_scholes_price(inputs: OptionInputs) -> np.ndarray:
    """Price only (cheaper than :func:`black_scholes`)."""
    from scipy.special import ndtr

    s, k, t = inputs.spot, inputs.strike, inputs.maturity
    r, q, sigma, w = inputs.rate, inputs.dividend_yield, inputs.volatility, inputs.sign
    vol_sqrt_t = sigma * np.sqrt(t)
    d1 = (np.log(s / k) + (r - q + 0.5 * sigma * sigma) * t) / vol_sqrt_t
    d2 = d1 - vol_sqrt_t
    return w * (s * np.exp(-q * t) * ndtr(w * d1) - k * np.exp(-r * t) * ndtr(w * d2))


def price_options(
    spot: ArrayLike,
    strike: ArrayLike,
    maturity_years: ArrayLike,
    rate: ArrayLike,
    volatility: ArrayLike,
    dividend_yield: ArrayLike = 0.0,
    option_type: str | Sequence[str] = "call",
    style: str = "european",
    method: str = "black_scholes",
    steps: int = 500,
    paths: int = 100_000,
    seed: int | None = 0,
) -> OptionResult:
    """Price vanilla options and compute their Greeks (see module docstring).

    ``method``: ``black_scholes`` (European only, analytic), ``binomial``
    (Cox–Ross–Rubinstein with ``steps`` steps, European or American) or
    ``monte_carlo`` (European only, ``paths`` antithetic paths, ``seed``).
    """
    style = style.strip().lower()
    method = method.strip().lower()
    if style not in STYLES:
        raise ActionError(f"style must be one of {', '.join(STYLES)}; got {style!r}")
    if method not in METHODS:
        raise ActionError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    inputs = prepare_inputs(
        spot, strike, maturity_years, rate, volatility, dividend_yield, option_type
    )
    if method == "black_scholes":
        if style == "american":
            raise ActionError(
                "Black–Scholes prices European options only; use method='binomial' "
                "for American options"
            )
        return black_scholes(inputs)
    if method == "binomial":
        from engine.finance.lattice import binomial_crr

        return binomial_crr(inputs, steps=steps, american=style == "american")
    if style == "american":
        raise ActionError(
            "Monte Carlo prices European options only; use method='binomial' for American options"
        )
    from engine.finance.montecarlo import monte_carlo

    return monte_carlo(inputs, paths=paths, seed=seed)
