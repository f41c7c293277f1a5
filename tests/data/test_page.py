"""The Data page, run directly through Streamlit's AppTest with a live session."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "data.py")


def page_for(user) -> AppTest:
    from engine.auth.service import start_session

    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["mlt_session_key"] = start_session(user, 1.0)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def analyst(isolated_db, make_user):
    return make_user("dana", "analyst")


def test_page_shows_sources_keys_and_loads_a_chart(analyst):
    at = page_for(analyst)
    assert [title.value for title in at.title] == ["Data"]
    warnings = " ".join(warning.value for warning in at.warning)
    assert "POLYGON_API_KEY" in warnings and "FRED_API_KEY" in warnings
    catalog = at.dataframe[0].value
    assert {"AAPL", "SPX"} <= set(catalog["symbol"])
    at.multiselect(key="data-symbols-bundled").set_value(["SPX"])
    at.selectbox(key="data-field").set_value("ohlcv")
    at.date_input(key="data-start").set_value(date(2018, 1, 1))
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [error.value for error in at.error]
    assert at.get("plotly_chart")
    assert "Validate and import" in [button.label for button in at.button]
