"""Trials: one evaluated configuration each, and everything the app reads about them.

- :mod:`~engine.trials.record`: the typed trial record (pydantic) the ML pipeline
  writes and every reader parses.
- :mod:`~engine.trials.query`: listing, filters, order and pages, single reads and
  comparisons, with the access filter of :mod:`engine.auth.permissions` applied
  inside the repository's SQL.
- :mod:`~engine.trials.detail`: one trial in detail (splits, summary, provenance,
  event log, re-run).
- :mod:`~engine.trials.figures`: the presenters that draw a trial's Plotly figures
  from the record when a page or report shows them (nothing is stored).
- :mod:`~engine.trials.export`: the table as CSV.
"""
