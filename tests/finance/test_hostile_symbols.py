"""An uploaded file's column names are its symbols: hostile ones reach the new
cross-asset charts as text, never as Plotly markup (attack regression, session G)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.actions import call
from ui.presenters import finance as presenters

EVIL = '<a href="https://evil.example">x</a>'
BOLD = "<b>B</b>"


def _upload(user) -> str:
    from engine.data.upload import import_upload

    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2020-01-01", periods=200)
    frame = pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            EVIL: 100 * np.cumprod(1 + rng.normal(0, 0.01, 200)),
            BOLD: 100 * np.cumprod(1 + rng.normal(0, 0.01, 200)),
            "CCC": 100 * np.cumprod(1 + rng.normal(0, 0.01, 200)),
        }
    )
    dataset = import_upload(frame.to_csv(index=False).encode(), "evil.csv", user=user)
    return f"upload:{dataset.dataset_id}"


def _texts(fig) -> str:
    return repr(fig.to_plotly_json())  # the strings as Plotly gets them (to_json escapes <)


def test_hostile_symbols_are_escaped_in_the_cross_asset_charts(fresh_db, make_user):
    alice = make_user("alice", "analyst")
    source = _upload(alice)
    runs = {
        "correlation_matrix": {"symbols": [EVIL, BOLD, "CCC"]},
        "rolling_beta": {"symbols": [EVIL], "benchmark": BOLD, "window": 20},
        "risk_contributions": {"symbols": [EVIL, BOLD]},
        "backtest_portfolio": {"symbols": [EVIL, BOLD], "lookback_days": 20},
    }
    for name, params in runs.items():
        outcome = call(name, {**params, "source": source}, alice, wait=120)
        assert outcome.status == "succeeded", (name, outcome.error)
        figures = getattr(presenters, name)(outcome.result)
        assert figures, name
        for key, fig in figures.items():
            text = _texts(fig)
            assert "<a href" not in text and "<b>" not in text, (name, key)
        assert any("&lt;a href" in _texts(fig) for fig in figures.values()), name
