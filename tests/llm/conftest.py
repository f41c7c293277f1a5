"""Fixtures for the Claude tests: the fake Messages API, a ClaudeChat pointed at it,
and small real actions registered for the duration of the tests."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, Field

from engine.actions import ActionResult, UserRef, register
from engine.actions.registry import remove
from tests.llm.fake_anthropic import FakeAnthropic

SYSTEM_USER = UserRef(None, "system", "admin")
TEST_ACTIONS = ("llmtest_add", "llmtest_table", "llmtest_confirm", "llmtest_admin_only")
CONFIRMED_RUNS: list[dict] = []


class AddParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: float = Field(description="First number")
    b: float = Field(description="Second number")


class TableParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: int = Field(100, ge=1, le=100_000)


class GoalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goal: str


def _add(params: AddParams, ctx) -> ActionResult:
    total = params.a + params.b
    return ActionResult(summary=f"{params.a:g} + {params.b:g} = {total:g}", values={"sum": total})


def _table(params: TableParams, ctx) -> ActionResult:
    frame = pd.DataFrame(
        {"close": [100.0 + i / 3 for i in range(params.rows)]},
        index=pd.bdate_range("2020-01-01", periods=params.rows, name="date"),
    )
    return ActionResult(
        summary=f"{params.rows} rows", values={"rows": params.rows}, tables={"prices": frame}
    )


def _confirm(params: GoalParams, ctx) -> ActionResult:
    CONFIRMED_RUNS.append({"goal": params.goal})
    return ActionResult(summary=f"goal set: {params.goal}")


@pytest.fixture(scope="module")
def llm_test_actions():
    """Registers the llmtest_* actions for one test module (removed afterwards)."""
    register(
        "llmtest_add",
        description="Add two numbers a and b; returns their sum.",
        params=AddParams,
        min_role="viewer",
        category="test",
    )(_add)
    register(
        "llmtest_table",
        description="Return a price table with `rows` rows.",
        params=TableParams,
        min_role="viewer",
        category="test",
    )(_table)
    register(
        "llmtest_confirm",
        description="Set a goal (needs the user's confirmation).",
        params=GoalParams,
        needs_confirmation=True,
        category="test",
    )(_confirm)
    register(
        "llmtest_admin_only",
        description="Only admins may run this.",
        params=AddParams,
        min_role="admin",
        category="test",
    )(_add)
    yield
    for name in TEST_ACTIONS:
        remove(name)


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def settings(fake):
    from engine.config import get_settings

    return dataclasses.replace(
        get_settings(),
        anthropic_api_key="sk-ant-test-key",
        anthropic_base_url=fake.url,
        claude_model="claude-sonnet-5-5",
    )


@pytest.fixture
def make_chat(settings):
    """ClaudeChat against the fake server; keyword arguments override ClaudeOptions."""
    from engine.llm.claude import ClaudeChat, ClaudeOptions

    def factory(**overrides):
        base = {"max_retries": 2, "max_retry_delay": 0.01, "timeout": 10.0}
        return ClaudeChat(settings, options=ClaudeOptions(**{**base, **overrides}))

    return factory
