"""The offline planner's work is bounded by the length of what it reads (attack
regressions, session G): a 20,000-character request ran every intent's patterns over it
(some cost time quadratic in a run of digits: seconds of CPU per message), and a long
conversation of follow-ups planned over the whole chain of its requests."""

from __future__ import annotations

import pytest

from engine.llm import planner


@pytest.mark.parametrize(
    "text", ["9" * 20_000, "a" * 20_000, "1 " * 5_000, "(" * 3_000 + ")" * 3_000]
)
def test_an_overlong_request_is_refused_before_any_pattern_runs(text, monkeypatch):
    def no_scoring(*args, **kwargs):
        raise AssertionError("the intents were scored over an overlong request")

    monkeypatch.setattr(planner, "score", no_scoring)
    monkeypatch.setattr(planner.extract, "repair_typos", no_scoring)
    result = planner.plan(text)
    assert not result.calls
    assert f"{planner.MAX_REQUEST_CHARS:,} characters" in result.message
    assert len(result.message) < 300
    assert len(result.request) <= planner.MAX_REQUEST_CHARS


def test_a_request_at_the_limit_is_still_planned():
    text = "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"
    padded = text + " " + "please " * ((planner.MAX_REQUEST_CHARS - len(text)) // 7 - 1)
    assert len(padded.strip()) <= planner.MAX_REQUEST_CHARS
    assert [c.action for c in planner.plan(padded).calls] == ["price_option"]


def test_a_chain_of_follow_ups_longer_than_the_bound_is_refused_not_cut():
    result = planner.plan("Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%")
    assert result.calls
    padding = "really " * 200
    refused = None
    for step in range(40):
        vol = 10 + step
        follow = planner.plan(f"and with vol {vol}%? {padding}", previous=result)
        if not follow.calls:
            refused = follow
            break
        # every value not changed still comes from the first request
        assert follow.calls[0].params["strike"] == 105
        assert follow.calls[0].params["volatility"] == pytest.approx(vol / 100)
        assert len(follow.request) <= planner.MAX_CHAIN_CHARS
        result = follow
    assert refused is not None, "the chain grew without bound"
    assert "Write the whole request again" in refused.message


def test_a_number_too_long_for_any_parameter_is_refused_before_the_builders_run(monkeypatch):
    def no_scoring(*args, **kwargs):
        raise AssertionError("the intents were scored over a 1,900-digit number")

    monkeypatch.setattr(planner, "score", no_scoring)
    result = planner.plan("Price a call with spot 1" + "0" * 1900 + ", strike 105, vol 20%")
    assert not result.calls
    assert "1,901 digits long" in result.message


def test_long_but_ordinary_numbers_are_still_read():
    result = planner.plan(
        "Price a call with spot 100.000000000000000000001, strike 105, 6 months, vol 20%"
    )
    assert [c.action for c in result.calls] == ["price_option"]
    assert result.calls[0].params["strike"] == 105
