"""The number verifier: what counts as a claim, and when a result backs it."""

from __future__ import annotations

import pytest

from engine.chat.citations import TurnSources
from engine.chat.verify import FROM_REQUEST, UNVERIFIED, VERIFIED, References, verify

RESULT = {
    "result_id": "R7",
    "action": "backtest_strategy",
    "values": {
        "sharpe": 1.4237,
        "total_return": 0.0649,
        "turnover_cost": 0.0012,
        "pnl": 1234.49,
        "max_drawdown": -0.2313,
        "trades": 41,
        "notional": 2_450_000.0,
    },
    "summary": "Sharpe 1.42 over 2010-01-04 .. 2015-12-31",
}


def references(*payloads):
    sources = TurnSources()
    for payload in payloads:
        sources.add_tool_result(payload)
    return sources.references


def verdicts(reply, request="", refs=None):
    found = verify(reply, refs or references(RESULT), request=request)
    return [(c.text, c.status, c.source) for c in found.claims]


@pytest.mark.parametrize(
    "written",
    [
        "1.42",
        "1.4",
        "1.4237",
        "6.49 %",
        "6.5%",
        "0.0649",
        "12 bps",
        "0.12%",
        "1,234.5",
        "$1,234.49",
        "1234",
        "-23.1%",
        "23%",
        "41",
        "2.45M",
        "2.45 million",
    ],
)
def test_a_number_a_result_holds_is_verified_in_any_usual_form(written):
    assert verdicts(f"The figure is {written} here.") == [(written, VERIFIED, "R7")]


@pytest.mark.parametrize("written", ["3.1", "1.43", "6.6%", "13 bps", "1,236", "42", "2.6M"])
def test_a_number_no_result_holds_is_unverified(written):
    assert verdicts(f"The figure is {written} here.") == [(written, UNVERIFIED, None)]


def test_an_invented_sharpe_is_flagged_next_to_quoted_ones():
    reply = "Sharpe 1.42 [R7] and return 6.49% [R7]; a tuned version would reach Sharpe 3.1."
    assert verdicts(reply) == [
        ("1.42", VERIFIED, "R7"),
        ("6.49%", VERIFIED, "R7"),
        ("3.1", UNVERIFIED, None),
    ]


def test_dates_years_times_names_list_numbers_and_code_are_not_claims():
    reply = (
        "1. From 2010-01-04 to 2015-12-31 (2010-2015, Jan 4 and 31 December), at 16:30.\n"
        "2) The S&P 500, Q3 and SPX500 names, R7 and log_vol_next5 are names; 20/50 and "
        "0.5-0.7 are ranges.\n"
        "## 3. Code `window = 77` and\n```\nx = 99.5\n```\n"
    )
    assert verdicts(reply) == []


def test_numbers_the_user_wrote_are_the_request_not_claims():
    reply = "A 20-day versus 50-day crossover with 5 bps costs returned 6.49%."
    request = "Backtest a 20 versus 50 day SMA crossover with 5 bps costs"
    found = verdicts(reply, request=request)
    assert found == [
        ("20", FROM_REQUEST, None),
        ("50", FROM_REQUEST, None),
        ("5 bps", FROM_REQUEST, None),
        ("6.49%", VERIFIED, "R7"),
    ]


def test_a_cited_result_is_preferred_when_two_hold_the_number():
    other = {"result_id": "R9", "values": {"sharpe": 1.42}}
    refs = references(RESULT, other)
    assert verdicts("Sharpe 1.42 [R9]", refs=refs) == [("1.42", VERIFIED, "R9")]
    assert verdicts("Sharpe 1.42 [R7]", refs=refs) == [("1.42", VERIFIED, "R7")]


def test_the_offsets_point_at_the_number_and_the_verdict_round_trips():
    reply = "Sharpe 1.42, and 3.1 too."
    found = verify(reply, references(RESULT))
    assert [reply[c.start : c.end] for c in found.claims] == ["1.42", "3.1"]
    stored = found.to_json()
    assert stored["verified"] == 1 and stored["unverified"] == 1
    assert type(found).from_json(stored).claims == found.claims


def test_numbers_in_the_call_parameters_and_tables_count():
    sources = TurnSources()
    sources.add_tool_result(
        {"result_id": "R3", "tables": {"t": {"columns": ["a"], "rows": [[0.875], [2.5]]}}},
        {"window": 63},
    )
    assert verdicts("Over 63 days the hit rate was 87.5%.", refs=sources.references) == [
        ("63", VERIFIED, "R3"),
        ("87.5%", VERIFIED, "R3"),
    ]


def test_empty_references_flag_everything_and_nothing_crashes():
    assert verdicts("Sharpe 3.1, 4e-5, .7 and 10x", refs=References()) == [
        ("3.1", UNVERIFIED, None),
        ("4e-5", UNVERIFIED, None),
        (".7", UNVERIFIED, None),
        ("10x", UNVERIFIED, None),
    ]
