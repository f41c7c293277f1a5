"""Replies the SDK cannot read and endpoints that hang, through the real anthropic SDK
against the fake Messages API: each ends the turn with a ClaudeUnavailable the chat can
show (never a raw JSONDecodeError or AssertionError), within the turn's deadline."""

from __future__ import annotations

import json
import threading

import pytest

from engine.llm.claude import ClaudeUnavailable
from tests.llm.conftest import SYSTEM_USER
from tests.llm.fake_anthropic import Reply, text_reply

pytestmark = pytest.mark.usefixtures("llm_test_actions")


def _start(message_id: str = "msg_fault") -> tuple[str, str]:
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    return "message_start", json.dumps({"type": "message_start", "message": message})


def _text_block(index: int = 0) -> tuple[str, str]:
    block = {
        "type": "content_block_start",
        "index": index,
        "content_block": {"type": "text", "text": ""},
    }
    return "content_block_start", json.dumps(block)


MALFORMED_STREAMS = {
    "invalid JSON in an event": [
        _start(),
        _text_block(),
        ("content_block_delta", '{"type": "content_block_delta", "index": 0, "delta": {"type"'),
    ],
    "a delta before message_start": [
        (
            "content_block_delta",
            json.dumps(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "x"},
                }
            ),
        ),
    ],
    "a delta for a block that was never started": [
        _start(),
        (
            "content_block_delta",
            json.dumps(
                {
                    "type": "content_block_delta",
                    "index": 3,
                    "delta": {"type": "text_delta", "text": "x"},
                }
            ),
        ),
    ],
    "a stream that ends without its message": [],
}


def _turn(chat):
    return list(chat.run_turn([], "hello", SYSTEM_USER, lambda name, params: None))


@pytest.mark.parametrize("fault", sorted(MALFORMED_STREAMS))
def test_a_malformed_stream_is_a_clear_unavailable_error(fault, fake, make_chat):
    fake.enqueue(*[Reply(raw_events=MALFORMED_STREAMS[fault]) for _ in range(3)])
    with pytest.raises(ClaudeUnavailable) as raised:
        _turn(make_chat(max_retries=2))
    assert raised.value.reason == "bad_response"
    assert "could not be read" in str(raised.value)
    assert len(fake.message_requests) == 3  # retried like a server error, then reported


def test_a_malformed_stream_is_retried_and_the_retry_answers(fake, make_chat):
    fake.enqueue(Reply(raw_events=MALFORMED_STREAMS["invalid JSON in an event"]), text_reply("Hi"))
    events = _turn(make_chat(max_retries=2))
    assert events[-1].kind == "done" and events[-1].text == "Hi"


WRONG_SHAPES = {
    "content is a string": {"type": "message", "role": "assistant", "content": "oops"},
    "content is missing": {"type": "message", "role": "assistant", "stop_reason": "end_turn"},
    "a block without a type": {
        "type": "message",
        "role": "assistant",
        "content": [{"text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    },
    "a tool call without a name": {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "input": {}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    },
    "not a message at all": [1, 2, 3],
}


@pytest.mark.parametrize("shape", sorted(WRONG_SHAPES))
def test_a_reply_of_the_wrong_shape_is_a_clear_unavailable_error(shape, fake, make_chat):
    fake.enqueue(*[Reply(raw_body=WRONG_SHAPES[shape]) for _ in range(2)])
    with pytest.raises(ClaudeUnavailable) as raised:
        _turn(make_chat(stream=False, max_retries=1))
    assert raised.value.reason == "bad_response"


@pytest.fixture
def release():
    """The event a hanging reply waits on; set at the end so the server thread ends."""
    event = threading.Event()
    yield event
    event.set()


def test_a_hung_endpoint_ends_at_the_turn_deadline_not_after_every_retry(fake, make_chat, release):
    # Without a turn deadline this waits timeout × (retries + 1) = 4 × 60 s.
    fake.enqueue(*[Reply(content=[], hang=release) for _ in range(4)])
    with pytest.raises(ClaudeUnavailable) as raised:
        _turn(make_chat(timeout=60.0, max_retries=3, turn_deadline=0.5))
    assert raised.value.reason == "deadline"
    assert "0.5 s" in str(raised.value) and "MLTRAINER_CLAUDE_TURN_DEADLINE" in str(raised.value)
    assert len(fake.message_requests) == 1  # no retry started past the deadline


def test_a_stream_that_only_sends_pings_ends_at_the_turn_deadline(fake, make_chat, release):
    # Each ping resets the per-read timeout, so only the turn deadline can end this.
    fake.enqueue(Reply(content=[], hang=release, ping_every=0.05))
    with pytest.raises(ClaudeUnavailable) as raised:
        _turn(make_chat(timeout=60.0, max_retries=0, turn_deadline=0.5))
    assert raised.value.reason == "deadline"


def test_the_turn_deadline_comes_from_the_environment(monkeypatch):
    from engine.llm.claude import ClaudeOptions

    monkeypatch.setenv("MLTRAINER_CLAUDE_TURN_DEADLINE", "42")
    assert ClaudeOptions.from_env().turn_deadline == 42.0
    monkeypatch.delenv("MLTRAINER_CLAUDE_TURN_DEADLINE")
    assert ClaudeOptions.from_env().turn_deadline == 90.0
