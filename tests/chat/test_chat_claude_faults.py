"""Claude's failures in a chat turn and on the chat page: a reply the SDK cannot read
still answers the user's message with a clear error (the spinner stops), and an empty
reply is never stored as an empty bubble. Through the real SDK and the fake API."""

from __future__ import annotations

import threading

import pytest

from engine.chat import background, conversations, turn
from storage.repositories import conversations as repo
from tests.chat.test_chat_page import open_chat
from tests.llm.fake_anthropic import Reply, claude_on_fake, text_reply, tool_reply

MALFORMED = [("message_start", '{"type": "message_start", "message": {"id"')]
OPTION = {"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}


@pytest.fixture
def claude(monkeypatch, fresh_db):
    with claude_on_fake(monkeypatch) as server:
        yield server


def test_a_malformed_stream_answers_the_message_with_a_clear_error(claude, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    claude.enqueue(Reply(raw_events=MALFORMED), Reply(raw_events=MALFORMED))
    with pytest.raises(turn.ClaudeUnavailableForChat, match="could not be read"):
        list(turn.send(alice, conversation.id, "hello"))
    stored = repo.list_messages(conversation.id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert "could not be read" in stored[-1].content


def test_an_unexpected_failure_in_the_turn_still_answers(claude, make_user, monkeypatch):
    from engine.llm.claude import ClaudeChat

    def broken(*args, **kwargs):
        raise AssertionError("an SDK invariant")
        yield  # a generator, like the real run_turn

    monkeypatch.setattr(ClaudeChat, "run_turn", broken)
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    with pytest.raises(turn.ClaudeUnavailableForChat, match="AssertionError"):
        list(turn.send(alice, conversation.id, "hello"))
    assert [m.role for m in repo.list_messages(conversation.id)] == ["user", "assistant"]


def test_an_empty_reply_is_not_stored_as_an_empty_bubble(claude, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    claude.enqueue(Reply(content=[]))
    events = list(turn.send(alice, conversation.id, "hello"))
    stored = repo.list_messages(conversation.id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert "empty reply" in stored[-1].content
    assert "empty reply" in "".join(e.text for e in events if e.kind == "text")


def test_an_empty_reply_after_a_tool_call_leaves_the_result_as_the_answer(claude, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    claude.enqueue(tool_reply(("price_option", OPTION)), text_reply(""))
    events = list(turn.send(alice, conversation.id, "price an ATM call"))
    stored = repo.list_messages(conversation.id)
    assert [m.role for m in stored] == ["user", "tool"]
    assert events[-1].kind == "done" and events[-1].message_id == stored[-1].id


def test_the_page_shows_the_error_and_ends_the_turn(claude, make_user):
    make_user("alice")
    claude.enqueue(Reply(raw_events=MALFORMED), Reply(raw_events=MALFORMED))
    at = open_chat("alice")
    at.chat_input(key="chat_prompt").set_value("hello").run()
    assert not at.exception, at.exception
    assert any("could not be read" in error.value for error in at.error)
    # the turn is over: no "Working…" status is left, the error is the stored reply
    assert not at.status
    assert [m.name for m in at.get("chat_message")] == ["user", "assistant"]
    assert [b.label for b in at.button if b.label == "Answer with the offline planner"]


def test_an_empty_stored_reply_is_not_drawn(claude, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    repo.add_message(conversation.id, "user", "hello")
    repo.add_message(conversation.id, "assistant", "")  # written by an older version
    at = open_chat("alice")
    at.session_state["conversation_id"] = conversation.id
    at.run()
    assert not at.exception, at.exception
    assert [m.name for m in at.get("chat_message")] == ["user"]


def test_a_waiting_turn_reports_elapsed_time(fresh_db, make_user, monkeypatch):
    release = threading.Event()
    real_send = turn.send

    def held_send(user, conversation_id, text, mode="auto"):
        release.wait(30)
        yield from real_send(user, conversation_id, text, mode=mode)

    monkeypatch.setattr(turn, "send", held_send)
    alice = make_user("alice")
    conversation = conversations.start(alice, "held")
    running = background.start_turn(alice, conversation.id, "hello", mode="offline")
    events = running.events(tick=0.01)
    try:
        assert next(events).kind == "waiting"  # nothing happened yet: a tick, not a block
        assert background.elapsed(conversation.id) is not None
        assert running.elapsed >= 0
    finally:
        release.set()
    assert {e.kind for e in events} >= {"text", "done"}
    assert background.elapsed(conversation.id) is None
