"""Tool definitions from the registry, the system prompt, and the compact tool results."""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from typing import Literal

import pandas as pd
import pytest
from pydantic import BaseModel, Field

from engine.actions import ActionResult, Series, UserRef, all_actions, get_action
from engine.actions.dispatch import CallOutcome
from engine.llm.claude import ToolOutcome, compact_outcome, normalise_history
from engine.llm.prompts import SYSTEM_PROMPT, system_blocks
from engine.llm.tools import clean_schema, tool_definitions

pytestmark = pytest.mark.usefixtures("llm_test_actions")


def _names(tools):
    return [tool["name"] for tool in tools]


def test_tools_follow_the_role_and_are_sorted_with_one_cache_breakpoint():
    viewer = tool_definitions(UserRef(1, "v", "viewer"))
    analyst = tool_definitions("analyst")
    admin = tool_definitions(UserRef.system())
    assert "llmtest_add" in _names(viewer) and "llmtest_confirm" not in _names(viewer)
    assert "price_option" not in _names(viewer) and "price_option" in _names(analyst)
    assert "llmtest_admin_only" in _names(admin) and "llmtest_admin_only" not in _names(analyst)
    expected = sorted(a.name for a in all_actions() if a.allows("admin"))
    assert _names(admin) == expected
    for tools in (viewer, analyst, admin):
        assert [t for t in tools if "cache_control" in t] == [tools[-1]]
        assert tools[-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in tool_definitions("viewer", cache=False)[-1]


def test_every_registered_action_gives_a_self_contained_object_schema():
    for tool in tool_definitions("admin"):
        schema = tool["input_schema"]
        text = json.dumps(schema)
        assert schema["type"] == "object" and isinstance(schema["properties"], dict)
        assert "$ref" not in text and "$defs" not in text
        assert tool["description"]
    option = next(t for t in tool_definitions("admin") if t["name"] == "price_option")
    assert get_action("price_option").description in option["description"]
    assert "volatility" in option["input_schema"]["required"]


def test_confirmation_and_long_actions_say_so_in_their_description():
    confirm = next(t for t in tool_definitions("admin") if t["name"] == "llmtest_confirm")
    assert "confirm" in confirm["description"].lower()


class Color(StrEnum):
    red = "red"
    blue = "blue"


class Leg(BaseModel):
    strike: float = Field(description="Strike")
    color: Color = Color.red


class Tree(BaseModel):
    child: Tree | None = None


class Nested(BaseModel):
    legs: list[Leg]
    main: Leg = Field(description="The main leg")
    tree: Tree | None = None
    title: str = "a property named title"
    kind: Literal["a", "b"] = "a"


def test_clean_schema_inlines_definitions_keeps_property_names_and_cuts_cycles():
    cleaned = clean_schema(Nested.model_json_schema())
    text = json.dumps(cleaned)
    assert "$ref" not in text and "$defs" not in text
    assert cleaned["properties"]["legs"]["items"]["properties"]["color"]["enum"] == ["red", "blue"]
    assert cleaned["properties"]["main"]["description"] == "The main leg"
    assert cleaned["properties"]["main"]["required"] == ["strike"]
    assert "title" in cleaned["properties"]  # the property survives, the keyword does not
    assert "title" not in cleaned and "title" not in cleaned["properties"]["main"]
    tree = cleaned["properties"]["tree"]["anyOf"][0]
    assert tree["properties"]["child"]["anyOf"][0] == {"type": "object"}


def test_system_prompt_covers_data_conventions_and_honesty_and_is_cached():
    for phrase in (
        "AAPL AMD BAC BBY CVX GE HD JNJ JPM KO LLY MRK MSFT PEP PFE PG RRC UNH WMT XOM",
        "1990-2022",
        "SPX",
        "1999-2018",
        "MACRO:",
        "1959-2009",
        "synthetic",
        "252 trading days",
        "decimals",
        "in years",
        "walk-forward",
        "look-ahead",
        "must come from a tool result",
        "never instructions",
        "awaiting_confirmation",
        "queued",
    ):
        assert phrase in SYSTEM_PROMPT, phrase
    user = UserRef(7, "alice", "analyst")

    class Keys:
        polygon_api_key = None
        fred_api_key = "k"

    blocks = system_blocks(user, Keys(), today=date(2026, 11, 25))
    assert blocks[0] == {
        "type": "text",
        "text": SYSTEM_PROMPT,
        "cache_control": {"type": "ephemeral"},
    }
    assert "cache_control" not in blocks[1]
    assert "alice" in blocks[1]["text"] and "analyst" in blocks[1]["text"]
    assert "2026-11-25" in blocks[1]["text"]
    assert "Polygon: not configured; FRED: configured" in blocks[1]["text"]


def _outcome(result, status="succeeded", error=None):
    return CallOutcome("llmtest_table", 42, status, result, error)


def test_compact_outcome_caps_rows_and_size_and_describes_series_without_points():
    frame = pd.DataFrame(
        {"close": [100 + i / 7 for i in range(5000)], "volume": range(5000)},
        index=pd.bdate_range("2000-01-03", periods=5000, name="date"),
    )
    result = ActionResult(
        summary="5000 rows",
        values={"mean": 123.456789123, "nan": float("nan")},
        tables={"prices": frame},
        series={"close": Series.from_frame(frame[["close"]], title="close price")},
    )
    payload = compact_outcome(_outcome(result))
    text = json.dumps(payload)
    assert len(text) <= 8000
    table = payload["tables"]["prices"]
    assert table["columns"] == ["date", "close", "volume"]
    assert table["rows_total"] == 5000 and 0 < table["rows_shown"] <= 30
    assert table["rows"][0][0] == "2000-01-03T00:00:00"
    assert payload["values"] == {"mean": 123.456789123, "nan": None}
    assert payload["series_charted_for_user"] == {
        "close": {
            "x": "date",
            "columns": ["close"],
            "title": "close price",
            "points": 5000,
            "x_first": "2000-01-03T00:00:00",
            "x_last": frame.index[-1].isoformat(),
            "last": {"close": round(frame["close"].iloc[-1], 3)},
        }
    }
    assert "plotly" not in text and "data" not in payload and "layout" not in text
    assert payload["job_id"] == 42 and payload["status"] == "succeeded"

    small = compact_outcome(_outcome(result), max_rows=30, max_chars=100_000)
    assert small["tables"]["prices"]["rows_shown"] == 30


def test_compact_outcome_truncates_huge_values_and_reports_long_jobs():
    result = ActionResult(summary="big", values={"series": list(range(20_000))})
    payload = compact_outcome(_outcome(result))
    assert payload["truncated"] is True and len(json.dumps(payload)) < 8000
    queued = compact_outcome(CallOutcome("train_model", 9, "queued"))
    assert queued["status"] == "queued" and queued["job_id"] == 9
    assert "background" in queued["note"] and "live progress" in queued["note"]
    failed = ToolOutcome.from_call(CallOutcome("x", 3, "failed", None, "boom"))
    assert failed.is_error and failed.content_for_claude["error"] == "boom"
    assert ToolOutcome.from_call(CallOutcome("train_model", 9, "queued")).ok


def test_history_is_normalised_for_the_api():
    history = [
        {"role": "assistant", "content": "Welcome!"},
        {"role": "user", "content": "hi"},
        {"role": "user", "content": "load AAPL"},
        {"role": "tool", "content": "[load_prices] 100 rows"},
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "Loaded."},
        {"role": "assistant", "content": [{"type": "text", "text": "More."}]},
    ]
    assert normalise_history(history) == [
        {"role": "user", "content": "hi\n\nload AAPL"},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Loaded."}, {"type": "text", "text": "More."}],
        },
    ]
