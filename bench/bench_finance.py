"""Benchmarks of the finance layer; prints a markdown table.

    .venv/bin/python bench/bench_finance.py            # full run
    .venv/bin/python bench/bench_finance.py --quick    # smaller sizes, for a smoke test

Runs on one core (CPU affinity pinned, BLAS/OpenMP threads set to 1). Each figure is
the best of several repeats. The QuantLib baseline is a per-option loop (quotes and
term structures reused, one VanillaOption per option, NPV and all Greeks) timed on
a subsample and scaled per option, on the same inputs as the vectorised run.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.finance.backtest import run_strategy  # noqa: E402
from engine.finance.implied_vol import implied_volatility  # noqa: E402
from engine.finance.options import price_options  # noqa: E402


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def random_book(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    days = rng.integers(7, 730, n)
    return {
        "spot": rng.uniform(50, 150, n),
        "strike": rng.uniform(50, 150, n),
        "days": days,
        "maturity": days / 365.0,
        "rate": rng.uniform(0.0, 0.06, n),
        "vol": rng.uniform(0.1, 0.6, n),
        "div": rng.uniform(0.0, 0.03, n),
        "kind": np.where(rng.random(n) < 0.5, "call", "put"),
    }


def liquid_book(n: int) -> dict:
    """Options whose time value exceeds 1e-6 × spot (so a volatility is identifiable)."""
    book = random_book(int(n * 1.3), seed=1)
    result = price_options(
        book["spot"],
        book["strike"],
        book["maturity"],
        book["rate"],
        book["vol"],
        book["div"],
        list(book["kind"]),
    )
    forward = book["spot"] * np.exp(-book["div"] * book["maturity"]) - book["strike"] * np.exp(
        -book["rate"] * book["maturity"]
    )
    sign = np.where(book["kind"] == "call", 1.0, -1.0)
    time_value = result.price - np.maximum(sign * forward, 0.0)
    keep = np.flatnonzero(time_value > 1e-6 * book["spot"])[:n]
    book = {name: values[keep] for name, values in book.items()}
    book["price"] = result.price[keep]
    return book


def quantlib_loop(book: dict, count: int) -> float:
    """Seconds per option for NPV + five Greeks with QuantLib's analytic engine."""
    import QuantLib as ql

    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot, rate, div, vol = (ql.SimpleQuote(0.0) for _ in range(4))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(div), dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(rate), dc)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vol), dc)
        ),
    )
    engine = ql.AnalyticEuropeanEngine(process)
    checksum = 0.0
    start = time.perf_counter()
    for i in range(count):
        spot.setValue(float(book["spot"][i]))
        rate.setValue(float(book["rate"][i]))
        div.setValue(float(book["div"][i]))
        vol.setValue(float(book["vol"][i]))
        kind = ql.Option.Call if book["kind"][i] == "call" else ql.Option.Put
        option = ql.VanillaOption(
            ql.PlainVanillaPayoff(kind, float(book["strike"][i])),
            ql.EuropeanExercise(today + int(book["days"][i])),
        )
        option.setPricingEngine(engine)
        checksum += option.NPV() + option.delta() + option.gamma()
        checksum += option.vega() + option.theta() + option.rho()
    elapsed = time.perf_counter() - start
    assert np.isfinite(checksum)
    return elapsed / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    pinned = pin_one_core()
    rows: list[tuple[str, str, str, str]] = []

    n_options = 1_000_000 // scale
    book = random_book(n_options)
    kinds = book["kind"]  # a numpy array of "call"/"put" (a list of 10⁶ str adds ~0.4 s)

    def price_all():
        return price_options(
            book["spot"],
            book["strike"],
            book["maturity"],
            book["rate"],
            book["vol"],
            book["div"],
            kinds,
        )

    price_all()  # warm-up
    t_bs = best_of(price_all, 3)
    rows.append(
        (
            f"Black–Scholes price + 5 Greeks, {n_options:,} options",
            f"{t_bs * 1e3:.0f} ms",
            "< 1 s",
            "yes" if t_bs < 1 else "NO",
        )
    )
    as_list = list(kinds)
    t_list = best_of(
        lambda: price_options(
            book["spot"],
            book["strike"],
            book["maturity"],
            book["rate"],
            book["vol"],
            book["div"],
            as_list,
        ),
        2,
    )
    rows.append(
        (
            "  same, option_type given as a Python list of str (conversion included)",
            f"{t_list * 1e3:.0f} ms",
            "",
            "",
        )
    )
    sample = 2_000 // scale
    per_option_ql = quantlib_loop(book, sample)
    ql_total = per_option_ql * n_options
    speedup = ql_total / t_bs
    rows.append(
        (
            f"QuantLib per-option loop (timed on {sample:,}, scaled to {n_options:,})",
            f"{ql_total:.1f} s ({per_option_ql * 1e6:.1f} µs/option)",
            "",
            "",
        )
    )
    rows.append(
        (
            "Speed-up vs QuantLib loop",
            f"{speedup:.0f}×",
            "≥ 100×",
            "yes" if speedup >= 100 else "NO",
        )
    )

    n_iv = 100_000 // scale
    iv_book = liquid_book(n_iv)
    iv_prices = iv_book["price"]
    iv_kinds = iv_book["kind"]

    def solve_all():
        return implied_volatility(
            iv_prices,
            iv_book["spot"],
            iv_book["strike"],
            iv_book["maturity"],
            iv_book["rate"],
            iv_book["div"],
            iv_kinds,
        )

    result = solve_all()
    t_iv = best_of(solve_all, 3)
    err = np.max(np.abs(result.volatility - iv_book["vol"]))
    rows.append(
        (
            f"Implied volatility, {n_iv:,} options (max abs error {err:.1e}, "
            f"{result.iterations} iterations)",
            f"{t_iv * 1e3:.0f} ms",
            "< 1 s",
            "yes" if t_iv < 1 else "NO",
        )
    )

    from engine.data.bundled import sp500_stocks

    prices = sp500_stocks().iloc[-8000:]

    def backtest():
        return run_strategy(prices, "sma_crossover", {"fast": 20, "slow": 100}, cost_bps=5)

    backtest()
    t_bt = best_of(backtest, 20)
    rows.append(
        (
            f"sma_crossover backtest, {prices.shape[1]} symbols × {prices.shape[0]:,} days "
            "(signals, P&L, costs, stats)",
            f"{t_bt * 1e3:.1f} ms",
            "< 50 ms",
            "yes" if t_bt < 0.05 else "NO",
        )
    )

    from engine.actions import ActionContext, UserRef, get_action

    action = get_action("backtest_strategy")
    params = action.params_model(
        symbols=list(prices.columns), strategy="sma_crossover", fast=20, slow=100, cost_bps=5
    )
    context = ActionContext(user=UserRef.system())
    action.run(params, context)
    t_action = best_of(lambda: action.run(params, context), 3)
    rows.append(
        (
            "  same through the backtest_strategy action (bundled data load, buy-and-hold "
            "comparison, equity series)",
            f"{t_action * 1e3:.0f} ms",
            "",
            "",
        )
    )

    def american():
        return price_options(
            100.0, 105.0, 1.0, 0.05, 0.25, 0.0, "put", "american", "binomial", 2000
        )

    american()
    t_am = best_of(american, 3)
    rows.append(
        ("American put, CRR 2,000 steps, price + Greeks (9 trees)", f"{t_am * 1e3:.0f} ms", "", "")
    )

    def monte_carlo():
        return price_options(
            100.0,
            105.0,
            1.0,
            0.05,
            0.25,
            0.0,
            "call",
            method="monte_carlo",
            paths=1_000_000 // scale,
        )

    monte_carlo()
    t_mc = best_of(monte_carlo, 3)
    rows.append(
        (
            f"Monte Carlo, 1 option × {1_000_000 // scale:,} antithetic paths + Greeks",
            f"{t_mc * 1e3:.0f} ms",
            "",
            "",
        )
    )

    print(
        f"Finance benchmarks ({'quick' if args.quick else 'full'} run; {pinned}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()})\n"
    )
    print("| Benchmark | Measured | Target | Met |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
