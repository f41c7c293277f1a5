"""What runs cost: CPU seconds and Claude tokens measured on the server, their price,
daily budgets per user and goal, and estimates of a run's cost before it starts.

- :mod:`engine.usage.prices`: the price table (``prices.toml``, the one place prices live).
- :mod:`engine.usage.meter`: CPU clocks of a worker and the records of what was spent.
- :mod:`engine.usage.budgets`: limits, what is spent today, the checks before and during a run.
- :mod:`engine.usage.estimate`: the fitted cost model and the estimators of long actions.
- :mod:`engine.usage.admission`: the check ``engine.actions.call`` makes before a long run.
- :mod:`engine.usage.actions`: ``usage_report`` (everyone, their own) and ``set_budget``
  (admins).

The executor uses only the meter and the budget guard, which import neither the action
registry nor a domain package; the domain packages register their estimators here.
docs/budgets.md describes the whole.
"""
