"""Financial models: options, portfolios, risk, indicators and backtests.

Pure numpy/scipy/pandas, vectorised; no Streamlit, no SQL. Conventions used
throughout the package (and in ``docs/finance.md``):

- returns are **simple daily returns** ``p_t / p_{t-1} - 1``;
- a year has **252 trading days** (``TRADING_DAYS``) for annualising;
- rates, yields, volatilities and returns are **decimals** (0.05 means 5 %);
- option maturities are in **years**.

Modules: :mod:`~engine.finance.options`, :mod:`~engine.finance.portfolio`,
:mod:`~engine.finance.risk`, :mod:`~engine.finance.indicators`,
:mod:`~engine.finance.backtest`, :mod:`~engine.finance.metrics`,
:mod:`~engine.finance.analytics` (correlation, rolling beta, risk contributions),
:mod:`~engine.finance.walkforward` (walk-forward backtest of an optimised portfolio);
the actions live in :mod:`~engine.finance.actions`, their offline-planner intents in
:mod:`~engine.finance.intents`.
"""

TRADING_DAYS = 252
