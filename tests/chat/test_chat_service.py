"""Chat turns in offline mode, conversation permissions, memory and script export."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scipy.stats import norm

from engine.actions import PermissionDenied
from engine.chat import conversations, turn
from engine.chat.export import export_script
from engine.memory import build_context
from storage.repositories import conversations as repo

ROOT = Path(__file__).resolve().parents[2]
OPTION_REQUEST = "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"


def black_scholes_call(spot, strike, years, rate, vol):
    d1 = (math.log(spot / strike) + (rate + vol**2 / 2) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    return spot * norm.cdf(d1) - strike * math.exp(-rate * years) * norm.cdf(d2)


def test_offline_turn_runs_the_action_and_persists_everything(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, OPTION_REQUEST)
    events = list(turn.send(alice, conversation.id, OPTION_REQUEST, mode="offline"))
    kinds = [event.kind for event in events]
    assert kinds == ["text", "tool_start", "tool", "done"]
    assert "price_option" in events[0].text and "strike=105.0" in events[0].text
    assert events[1].action == "price_option"
    outcome = events[2].outcome
    assert outcome.status == "succeeded"
    assert outcome.result.values["price"] == pytest.approx(
        black_scholes_call(100, 105, 0.5, 0.05, 0.2)
    )
    roles = [m.role for m in repo.list_messages(conversation.id)]
    assert roles == ["user", "assistant", "tool"]


def test_unmappable_request_gets_help_with_examples(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "hello")
    events = list(turn.send(alice, conversation.id, "tell me a joke", mode="offline"))
    # a short answer with a few close actions, not the whole list (issue 21)
    assert events[0].kind == "text" and "could not map" in events[0].text
    assert 1 <= events[0].text.count("\n- ") <= 3
    assert [e.kind for e in events] == ["text", "done"]


def test_missing_values_are_asked_for_not_guessed(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    events = list(
        turn.send(alice, conversation.id, "price a call option with spot 100", mode="offline")
    )
    assert "I need" in events[0].text and "strike" in events[0].text


def test_viewers_read_but_cannot_post(fresh_db, make_user):
    alice, vic = make_user("alice"), make_user("vic", "viewer")
    conversation = conversations.start(alice, OPTION_REQUEST)
    list(turn.send(alice, conversation.id, OPTION_REQUEST, mode="offline"))
    assert len(conversations.messages(vic, conversation.id)) == 3
    with pytest.raises(PermissionDenied, match="Viewers can read"):
        list(turn.send(vic, conversation.id, OPTION_REQUEST, mode="offline"))
    with pytest.raises(PermissionDenied):
        conversations.start(vic, "hi")


def test_analysts_cannot_open_each_others_conversations(fresh_db, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    conversation = conversations.start(alice, "private")
    with pytest.raises(PermissionDenied):
        conversations.get(bob, conversation.id)
    with pytest.raises(PermissionDenied):
        conversations.delete(bob, conversation.id)
    assert conversations.listing(bob) == []


def test_search_finds_titles_and_message_text(fresh_db, make_user):
    alice = make_user("alice")
    first = conversations.start(alice, "Options desk")
    second = conversations.start(alice, "Portfolio")
    repo.add_message(second.id, "user", "what about the Ledoit-Wolf shrinkage?")
    assert [c.id for c in conversations.listing(alice, "options")] == [first.id]
    assert [c.id for c in conversations.listing(alice, "ledoit")] == [second.id]


def test_memory_retrieves_a_long_gone_fact_when_relevant(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "long chat")
    repo.add_message(
        conversation.id,
        "user",
        "Our fund's benchmark is the XOM energy sleeve with a tracking error budget of 3.5%",
    )
    for index in range(60):
        repo.add_message(conversation.id, "user", f"routine question number {index} about dates")
        repo.add_message(conversation.id, "assistant", f"routine answer {index}")
    window = build_context(conversation.id, "what was our tracking error budget?")
    assert all("tracking error" not in m.content for m in window.recent)
    assert any("3.5%" in m.content for m in window.retrieved)
    assert window.tokens() <= 6000
    messages = window.as_messages()
    assert messages[0]["role"] == "user" and "3.5%" in messages[0]["content"]
    assert all(a["role"] != b["role"] for a, b in zip(messages, messages[1:]))


def test_context_respects_the_token_budget(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "big")
    for index in range(40):
        repo.add_message(conversation.id, "user", f"message {index} " + "word " * 300)
    window = build_context(conversation.id, "message", budget_tokens=1500)
    assert window.tokens() <= 1500 and window.recent


def test_exported_script_reproduces_the_numbers(fresh_db, make_user, tmp_path):
    alice = make_user("alice")
    conversation = conversations.start(alice, OPTION_REQUEST)
    list(turn.send(alice, conversation.id, OPTION_REQUEST, mode="offline"))
    list(
        turn.send(
            alice,
            conversation.id,
            "Backtest a 20/50 SMA crossover on AAPL with 5 bps costs from 2010 to 2015",
            mode="offline",
        )
    )
    stored = [m.payload for m in repo.list_messages(conversation.id) if m.role == "tool"]
    script = tmp_path / "rerun.py"
    script.write_text(export_script(alice, conversation.id))
    env = dict(
        os.environ,
        MLTRAINER_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'rerun.db'}",
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reruns = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [r["action"] for r in reruns] == [p["action"] for p in stored]
    from engine.actions.dispatch import outcome_for

    for payload, rerun in zip(stored, reruns):
        original = outcome_for(payload["job_id"]).result.values
        for name, value in original.items():
            if isinstance(value, float):
                assert rerun["values"][name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
