"""Monte Carlo pricing of European options under geometric Brownian motion.

Terminal spot ``S_T = S exp((r − q − σ²/2)T + σ√T Z)`` sampled exactly (no time
stepping is needed for European payoffs), with antithetic variates: each normal
draw ``Z`` is used as ``+Z`` and ``−Z`` and the pair is averaged. The standard
error is ``std(pair averages) / √(pairs)``. The same draws are reused for every
option in the call (common random numbers), so results are reproducible per
``seed``.

Greeks are unbiased pathwise estimators (delta, vega, rho, theta) and the
pathwise/likelihood-ratio estimator for gamma.
"""

from __future__ import annotations

import numpy as np

from engine.actions.base import ActionError
from engine.finance.options import OptionInputs, OptionResult

MAX_PATHS = 20_000_000
CHUNK_ELEMENTS = 1_000_000


def monte_carlo(inputs: OptionInputs, paths: int = 100_000, seed: int | None = 0) -> OptionResult:
    if not 2 <= paths <= MAX_PATHS:
        raise ActionError(f"paths must be between 2 and {MAX_PATHS:,}; got {paths}")
    pairs = (paths + 1) // 2
    if inputs.n * pairs > 2e9:
        raise ActionError("too many options × paths for one call; reduce paths")
    z = np.random.default_rng(seed).standard_normal(pairs)
    names = ("price", "std_error", "delta", "gamma", "vega", "theta", "rho")
    out = {name: np.empty(inputs.n) for name in names}
    size = max(1, CHUNK_ELEMENTS // pairs)
    for start in range(0, inputs.n, size):
        chunk = slice(start, min(inputs.n, start + size))
        for name, values in _chunk(inputs.take(chunk), z).items():
            out[name][chunk] = values
    return OptionResult(
        price=out["price"],
        delta=out["delta"],
        gamma=out["gamma"],
        vega=out["vega"],
        theta=out["theta"],
        rho=out["rho"],
        std_error=out["std_error"],
    )


def _chunk(inputs: OptionInputs, z: np.ndarray) -> dict[str, np.ndarray]:
    col = {name: getattr(inputs, name)[:, None] for name in ("spot", "strike", "sign")}
    s, k, w = col["spot"], col["strike"], col["sign"]
    t, r, q, sigma = inputs.maturity, inputs.rate, inputs.dividend_yield, inputs.volatility
    sqrt_t = np.sqrt(t)
    drift = ((r - q - 0.5 * sigma * sigma) * t)[:, None]
    diffusion = (sigma * sqrt_t)[:, None]
    disc = np.exp(-r * t)
    sums = {name: 0.0 for name in ("delta", "gamma", "vega", "theta_term", "rho_term")}
    pair_payoff = np.zeros((drift.shape[0], z.shape[0]))  # options × antithetic pairs
    for zs in (z, -z):
        zs = zs[None, :]
        s_t = s * np.exp(drift + diffusion * zs)
        itm = w * (s_t - k) > 0.0
        payoff = np.where(itm, w * (s_t - k), 0.0)
        pair_payoff = pair_payoff + 0.5 * payoff
        weighted = np.where(itm, w * s_t, 0.0)  # d payoff / d S_T × S_T
        sums["delta"] += weighted.mean(axis=1)
        sums["gamma"] += (weighted * (zs / diffusion - 1.0)).mean(axis=1)
        sums["vega"] += (weighted * (sqrt_t[:, None] * zs - (sigma * t)[:, None])).mean(axis=1)
        sums["theta_term"] += (
            weighted * ((r - q - 0.5 * sigma * sigma)[:, None] + diffusion * zs / (2 * t[:, None]))
        ).mean(axis=1)
        sums["rho_term"] += weighted.mean(axis=1)
    price = disc * pair_payoff.mean(axis=1)
    pairs = z.shape[0]
    std_error = disc * pair_payoff.std(axis=1, ddof=1) / np.sqrt(pairs) if pairs > 1 else price * 0
    half = {name: 0.5 * value for name, value in sums.items()}
    return {
        "price": price,
        "std_error": std_error,
        "delta": disc * half["delta"] / inputs.spot,
        "gamma": disc * half["gamma"] / inputs.spot**2,
        "vega": disc * half["vega"],
        "theta": r * price - disc * half["theta_term"],
        "rho": -t * price + disc * t * half["rho_term"],
    }
