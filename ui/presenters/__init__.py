"""Presenters: charts drawn from action results' data, only when a page shows them.

``figures_for(action, result)`` is what :func:`ui.results.render_result` calls. The
finance, data and ML modules register their presenters on import.
"""

from __future__ import annotations

import logging

import plotly.graph_objects as go

from engine.actions.base import ActionResult
from ui.presenters import compare, data, finance, ml  # noqa: F401 - they register presenters
from ui.presenters.registry import PRESENTERS, draw_series, presenter_for, presents

log = logging.getLogger("mltrainer.ui")

__all__ = ["PRESENTERS", "draw_series", "figures_for", "presenter_for", "presents"]


def figures_for(action: str | None, result: ActionResult) -> dict[str, go.Figure]:
    """The charts of ``result`` of ``action`` (none when its data cannot be drawn: the
    numbers and tables still show, so a chart never hides them)."""
    try:
        return presenter_for(action)(result)
    except KeyError as missing:  # a result stored before results were data has no series
        log.info("no chart data %s in a %s result", missing, action)
        return {}
    except Exception:  # noqa: BLE001 - a chart that cannot be drawn must not hide the result
        log.exception("could not draw the charts of a %s result", action)
        return {}
