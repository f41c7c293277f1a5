"""The Finance page through Streamlit's AppTest: log in through app.py, switch to the
page, fill the action forms, and read what an analyst (or a viewer) sees."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from engine.finance.options import price_options
from tests.foundation.apptest_helpers import errors, log_in, new_app

PAGE = "pages/finance.py"


def finance_page(username: str):
    at = log_in(new_app(), username)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert [title.value for title in at.title] == ["Finance"]
    return at


def submit(at, action: str, label: str, **fields):
    """Type into the action form's widgets (text inputs, areas, dates, numbers, selects)."""
    for name, value in fields.items():
        key = f"fin-{action}-{name}"
        try:
            at.date_input(key=key).set_value(date.fromisoformat(value) if value else None)
            continue
        except KeyError:
            pass
        for finder in (at.text_area, at.text_input):
            try:
                finder(key=key).input(value)
                break
            except KeyError:
                continue
        else:
            try:
                widget = at.number_input(key=key)
                widget.set_value(float(value) if isinstance(value, str) else value)
            except KeyError:
                at.selectbox(key=key).set_value(value)
    at.button(key=f"FormSubmitter:fin-{action}-{label}").click().run()
    assert not at.exception, at.exception
    return at


def charts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def trace_names(at) -> list[set[str]]:
    return [{trace.get("name") for trace in spec["data"]} for spec in charts(at)]


@pytest.fixture
def people(fresh_db, make_user):
    return make_user("alice", "analyst"), make_user("vic", "viewer")


def test_analyst_prices_an_option_and_sees_its_profile(people):
    at = finance_page("alice")
    assert not charts(at)
    submit(at, "price_option", "Price", strike="110", volatility="0.25", option_type="put")
    assert not errors(at), errors(at)
    expected = price_options(100, 110, 0.5, 0.03, 0.25, 0.0, "put").price[0]
    # labels are Markdown-escaped (ui.text.md_escape): compare them unescaped
    metrics = {metric.label.replace("\\", ""): metric.value for metric in at.metric}
    assert float(metrics["price"]) == pytest.approx(expected, abs=1e-4)
    quoted = {"vega (per vol point)", "theta (per calendar day)", "rho (per rate point)"}
    assert quoted <= set(metrics)
    assert {"delta (per 1.00 of spot)", "gamma (per 1.00 of spot, squared)"} <= set(metrics)
    assert "count" not in metrics and "seed" not in metrics
    names = trace_names(at)
    assert names == [{"payoff at expiry", "value today", "delta", "gamma", "vega", "theta"}]
    # The result stays through later reruns (tab switches are reruns of the same page).
    at.run()
    assert {"payoff at expiry", "value today"} <= trace_names(at)[0]


def test_backtest_draws_the_equity_curve(people):
    at = finance_page("alice")
    submit(at, "backtest_strategy", "Backtest", start="2015-01-01")
    assert not errors(at), errors(at)
    assert {"strategy", "buy and hold", "drawdown"} <= trace_names(at)[0]
    assert any("sma crossover" in text.value for text in at.text)


def test_bad_input_shows_a_clear_message_and_no_traceback(people):
    at = finance_page("alice")
    cases = [
        (
            "price_option",
            "Price",
            {"volatility": "-0.2"},
            "volatility: Input should be greater than 0",
        ),
        (
            "price_option",
            "Price",
            {"volatility": "0.2", "maturity_years": "0"},
            "^Invalid parameters — maturity_years: Input should be greater than 0$",
        ),
        ("risk_report", "Run risk report", {"symbols": "AAPL, ZZZZ"}, "Unknown symbol .*ZZZZ"),
        (
            "optimize_portfolio",
            "Optimise",
            {"objective": "efficient_return", "target_return": 5.0},
            "above the highest achievable",
        ),
        ("backtest_strategy", "Backtest", {"symbols": ""}, "symbols: List should have at least"),
    ]
    for action, label, fields, message in cases:
        submit(at, action, label, **fields)
        # errors are Markdown-escaped (ui.text.md_escape): shown literally, so compare unescaped
        shown = [text.replace("\\", "") for text in errors(at)]
        assert len(shown) == 1 and re.search(message, shown[0]), (action, shown)
        assert "Traceback" not in shown[0] and not at.exception
        assert not charts(at)


def test_a_viewer_sees_the_page_but_no_runnable_form(people):
    at = finance_page("vic")
    assert not [b for b in at.button if b.key and b.key.startswith("FormSubmitter:")]
    assert not at.text_area and not at.number_input and not at.toggle
    notes = [info.value for info in at.info]
    assert len(notes) == 11 and all("needs the 'analyst' role" in note for note in notes)


def test_every_parameter_is_reachable_with_all_parameters_on(people):
    from engine.actions import get_action

    at = finance_page("alice")
    actions = [key[len("fin-") : -len("-advanced")] for key in (t.key for t in at.toggle)]
    assert len(actions) == 11
    for action in actions:
        at.toggle(key=f"fin-{action}-advanced").set_value(True)
    at.run()
    finders = (
        at.text_area,
        at.text_input,
        at.number_input,
        at.selectbox,
        at.checkbox,
        at.date_input,
        at.multiselect,
    )
    drawn = {widget.key for finder in finders for widget in finder}
    for action in actions:
        expected = {
            f"fin-{action}-{name}" for name in get_action(action).parameter_schema()["properties"]
        }
        # weight bounds are drawn as fields: long-only and a cap per symbol
        expected = {f"{k}-max" if k.endswith("-weight_bounds") else k for k in expected}
        assert expected <= drawn, (action, expected - drawn)
    # the indicator windows are filled with their defaults, so the full form runs as it is
    submit(at, "compute_indicators", "Compute")
    assert not errors(at), errors(at)
    assert trace_names(at) and "sma_20" in trace_names(at)[0]


def test_weight_cap_and_long_only_are_fields_not_json(people):
    at = finance_page("alice")
    assert not [a for a in at.text_area if a.key == "fin-optimize_portfolio-weight_bounds"]
    assert at.checkbox(key="fin-optimize_portfolio-weight_bounds-long_only").value is True
    at.number_input(key="fin-optimize_portfolio-weight_bounds-max").set_value(0.3)
    at.date_input(key="fin-optimize_portfolio-start").set_value(date(2010, 1, 1))
    at.button(key="FormSubmitter:fin-optimize_portfolio-Optimise").click().run()
    assert not errors(at), errors(at)
    result = at.session_state["finance-last-optimize_portfolio"].result
    weights = result.values["weights"]
    assert max(weights.values()) <= 0.3 + 1e-6 and min(weights.values()) >= -1e-9
    assert str(result.values["estimation_start"])[:4] == "2010"
    # shorting opens a minimum weight
    at.checkbox(key="fin-optimize_portfolio-weight_bounds-long_only").uncheck()
    at.number_input(key="fin-optimize_portfolio-weight_bounds-min").set_value(-0.2)
    at.button(key="FormSubmitter:fin-optimize_portfolio-Optimise").click().run()
    assert not errors(at), errors(at)
    weights = at.session_state["finance-last-optimize_portfolio"].result.values["weights"]
    assert min(weights.values()) >= -0.2 - 1e-6 and max(weights.values()) <= 0.3 + 1e-6


def test_new_finance_panels_run_from_their_forms(people):
    at = finance_page("alice")
    submit(at, "correlation_matrix", "Correlate", start="2010-01-01")
    assert not errors(at), errors(at)
    submit(
        at, "risk_contributions", "Decompose risk", weights="AAPL 40%, MSFT 30%, JPM 20%, XOM 10%"
    )
    assert not errors(at), errors(at)
    contributions = at.session_state["finance-last-risk_contributions"].result
    assert contributions.values["weights"] == pytest.approx(
        {"AAPL": 0.4, "MSFT": 0.3, "JPM": 0.2, "XOM": 0.1}
    )
    submit(at, "rolling_beta", "Measure beta")
    assert not errors(at), errors(at)
    submit(at, "backtest_portfolio", "Backtest portfolio", start="2012-01-01", end="2016-12-31")
    assert not errors(at), errors(at)
    names = set().union(*trace_names(at))
    assert {"optimised", "equal weight", "share of volatility", "AAPL"} <= names
    headings = " ".join(metric.label for metric in at.metric)
    assert "count" not in headings and "seed" not in headings
    shown = [m.value for m in at.metric if m.label.startswith("total return")]
    assert shown and shown[0].endswith(" %")
    # tables show dates without times
    dated = [frame.value for frame in at.dataframe if "date" in frame.value.columns]
    assert dated and all(str(f["date"].iloc[0]) == str(f["date"].iloc[0])[:10] for f in dated)
