"""Chat turns run to their end even when the page stops reading them (a Streamlit rerun
stops the script at any drawing call): the reply and the action are still stored."""

from __future__ import annotations

import threading

import pytest

from engine.actions import ActionError
from engine.chat import background, conversations, turn
from storage.repositories import conversations as repo

OPTION_REQUEST = "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"


def test_a_turn_whose_reader_stops_early_still_stores_reply_and_action(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, OPTION_REQUEST)
    running = background.start_turn(alice, conversation.id, OPTION_REQUEST, mode="offline")
    events = running.events()
    assert next(events).kind == "text"
    events.close()  # what a rerun does to the page's stream

    assert running.wait(60)
    messages = repo.list_messages(conversation.id)
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[-1].payload["action"] == "price_option"
    assert messages[-1].payload["status"] == "succeeded"
    assert not background.in_progress(conversation.id)


def test_the_turns_error_reaches_the_reader(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    running = background.start_turn(alice, conversation.id, "   ", mode="offline")
    with pytest.raises(ActionError, match="Type a request first"):
        list(running.events())
    assert running.wait(10) and not background.in_progress(conversation.id)


def test_in_progress_while_the_turn_runs(fresh_db, make_user, monkeypatch):
    release = threading.Event()

    def slow_send(user, conversation_id, text, mode="auto"):
        yield turn.TurnEvent("text", "thinking")
        release.wait(30)
        yield turn.TurnEvent("done")

    monkeypatch.setattr(turn, "send", slow_send)
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    running = background.start_turn(alice, conversation.id, "x")
    assert background.in_progress(conversation.id)
    release.set()
    assert [e.kind for e in running.events()] == ["text", "done"]
    assert not background.in_progress(conversation.id)
