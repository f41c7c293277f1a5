"""The tool-use loop driven through the real anthropic SDK against the fake Messages API."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from engine.actions import UserRef
from engine.llm.claude import (
    ClaudeAuthError,
    ClaudeChat,
    ClaudeOptions,
    ClaudeUnavailable,
    ToolOutcome,
    action_executor,
)
from engine.observability.metrics import LLM_REQUESTS, LLM_TOKENS
from tests.llm.conftest import CONFIRMED_RUNS, SYSTEM_USER
from tests.llm.fake_anthropic import (
    Reply,
    error_reply,
    overloaded,
    rate_limited,
    server_error,
    text_reply,
    tool_reply,
    validate_messages_request,
)

pytestmark = pytest.mark.usefixtures("llm_test_actions")


class Recorder:
    """An execute_tool that runs actions through engine.actions.call and remembers calls."""

    def __init__(self, user: UserRef = SYSTEM_USER):
        self.calls: list[tuple[str, dict]] = []
        self._execute = action_executor(user)

    def __call__(self, name: str, params: dict) -> ToolOutcome:
        self.calls.append((name, params))
        return self._execute(name, params)


def run(chat: ClaudeChat, message: str = "hello", history=(), execute=None, user=SYSTEM_USER):
    return list(chat.run_turn(list(history), message, user, execute or Recorder()))


def squash(events):
    """Consecutive text events joined into one (streaming splits text into deltas)."""
    merged = []
    for event in events:
        if event.kind == "text" and merged and merged[-1].kind == "text":
            merged[-1] = dataclasses.replace(merged[-1], text=merged[-1].text + event.text)
        else:
            merged.append(event)
    return merged


def kinds(events):
    return [event.kind for event in squash(events)]


def counter(metric, label) -> float:
    return metric.labels(label)._value.get()


def results_sent(request) -> list[dict]:
    blocks = request.body["messages"][-1]["content"]
    return [block for block in blocks if block["type"] == "tool_result"]


# --------------------------------------------------------------------------- replies


def test_plain_reply_without_streaming_sends_cached_system_and_tools(fake, make_chat):
    fake.enqueue(text_reply("Hello, I can load prices and price options."))
    events = run(make_chat(stream=False), "what can you do?")
    assert kinds(events) == ["text", "done"]
    assert events[0].text == "Hello, I can load prices and price options."
    done = events[-1]
    assert done.text == events[0].text and done.stop_reason == "end_turn" and done.steps == 1
    assert done.usage.input_tokens == 120 and done.usage.output_tokens == 30
    assert done.latency_s > 0 and done.llm_seconds > 0

    (request,) = fake.message_requests
    body = request.body
    assert "stream" not in body or body["stream"] is False
    assert body["model"] == "claude-sonnet-5-5"
    auth = request.headers.get("x-api-key") or request.headers.get("authorization")
    assert auth in ("sk-ant-test-key", "Bearer sk-ant-test-key")
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "walk-forward" in body["system"][0]["text"]
    assert "'system' with role 'admin'" in body["system"][1]["text"]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "llmtest_add" in [tool["name"] for tool in body["tools"]]
    last = body["messages"][-1]
    assert last["role"] == "user"
    assert last["content"] == [
        {"type": "text", "text": "what can you do?", "cache_control": {"type": "ephemeral"}}
    ]
    assert "tool_choice" not in body and "temperature" not in body


def test_streamed_text_deltas_arrive_in_order_before_the_stream_ends(fake, make_chat):
    gate = threading.Event()
    reply = text_reply("AAPL closed higher on the last day.", chunks=4, gate=gate)
    fake.enqueue(reply)
    stream = make_chat().run_turn([], "how did AAPL close?", SYSTEM_USER, Recorder())
    first = next(stream)
    # The server holds the rest of the stream until the gate opens: the first delta
    # reached us while the response was still being written.
    assert first.kind == "text" and first.text == "AAPL clos"
    assert not reply.finished.is_set()
    gate.set()
    rest = list(stream)
    texts = [first.text] + [e.text for e in rest if e.kind == "text"]
    assert texts == ["AAPL clos", "ed higher", " on the l", "ast day."]
    assert "".join(texts) == rest[-1].text == "AAPL closed higher on the last day."
    assert fake.message_requests[0].body["stream"] is True


def test_history_is_sent_before_the_new_message(fake, make_chat):
    fake.enqueue(text_reply("Still 5."))
    history = [
        {"role": "user", "content": "add 2 and 3"},
        {"role": "assistant", "content": "2 + 3 = 5."},
    ]
    run(make_chat(), "and now?", history=history)
    messages = fake.message_requests[0].body["messages"]
    assert messages[0] == {"role": "user", "content": "add 2 and 3"}
    assert messages[1] == {"role": "assistant", "content": "2 + 3 = 5."}
    assert messages[2]["content"][0]["text"] == "and now?"


# --------------------------------------------------------------------------- tool use


@pytest.mark.parametrize("stream", [True, False])
def test_tool_use_round_trip_runs_the_action_and_returns_its_result(fake, make_chat, stream):
    fake.enqueue(
        tool_reply(("toolu_01", "llmtest_add", {"a": 2, "b": 3.5}), text="Let me add them."),
        text_reply("2 + 3.5 = 5.5."),
    )
    recorder = Recorder()
    events = squash(run(make_chat(stream=stream), "add 2 and 3.5", execute=recorder))
    assert kinds(events) == ["text", "tool_call", "tool_result", "text", "done"]
    call, result = events[1], events[2]
    assert (call.name, call.input, call.id) == ("llmtest_add", {"a": 2, "b": 3.5}, "toolu_01")
    assert recorder.calls == [("llmtest_add", {"a": 2, "b": 3.5})]
    outcome = result.outcome
    assert outcome.ok and not outcome.is_error and result.id == "toolu_01"
    assert outcome.call_outcome.status == "succeeded"
    assert outcome.call_outcome.result.values == {"sum": 5.5}
    assert outcome.call_outcome.job_id > 0
    assert events[3].text == "\n\n2 + 3.5 = 5.5."  # the second step starts on a new paragraph
    done = events[-1]
    assert done.text == "Let me add them.\n\n2 + 3.5 = 5.5." and done.steps == 2
    assert done.usage.input_tokens == 240 and done.usage.output_tokens == 60

    first, second = fake.message_requests
    assert second.body["messages"][-2] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me add them."},
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "llmtest_add",
                "input": {"a": 2, "b": 3.5},
            },
        ],
    }
    (sent,) = results_sent(second)
    assert sent["tool_use_id"] == "toolu_01" and "is_error" not in sent
    assert sent["cache_control"] == {"type": "ephemeral"}  # the rolling breakpoint moved here
    payload = json.loads(sent["content"])
    assert payload["values"] == {"sum": 5.5} and payload["status"] == "succeeded"
    assert (
        payload["summary"] == "2 + 3.5 = 5.5" and payload["job_id"] == outcome.call_outcome.job_id
    )
    # only one conversation breakpoint per request: the old one was not left behind
    assert "cache_control" not in second.body["messages"][0]["content"][0]
    # the turn's transcript is valid to send again
    follow_up = [*first.body["messages"][:1], *done.messages]
    follow_up.append({"role": "user", "content": "thanks"})
    assert validate_messages_request({**second.body, "messages": follow_up}) is None


def test_parallel_tool_calls_are_all_run_and_answered_in_one_message(fake, make_chat):
    fake.enqueue(
        tool_reply(
            ("toolu_a", "llmtest_add", {"a": 1, "b": 1}),
            ("toolu_b", "llmtest_table", {"rows": 3}),
            ("toolu_c", "llmtest_add", {"a": 10, "b": -4}),
        ),
        text_reply("1 + 1 = 2, 10 - 4 = 6, and the table has 3 rows."),
    )
    recorder = Recorder()
    events = run(make_chat(), "do three things", execute=recorder)
    assert kinds(events) == ["tool_call", "tool_result"] * 3 + ["text", "done"]
    assert [name for name, _ in recorder.calls] == ["llmtest_add", "llmtest_table", "llmtest_add"]
    second = fake.message_requests[1]
    assert second.body["messages"][-1]["role"] == "user"
    sent = results_sent(second)
    assert [block["tool_use_id"] for block in sent] == ["toolu_a", "toolu_b", "toolu_c"]
    assert [json.loads(block["content"]).get("values") for block in sent] == [
        {"sum": 2},
        {"rows": 3},
        {"sum": 6},
    ]
    table = json.loads(sent[1]["content"])["tables"]["prices"]
    assert table["columns"] == ["date", "close"] and table["rows_shown"] == 3


def test_unknown_tool_and_invalid_input_go_back_to_claude_as_errors(fake, make_chat):
    fake.enqueue(
        tool_reply(
            ("toolu_x", "no_such_tool", {}),
            ("toolu_y", "llmtest_add", {"a": "two", "b": 3}),
            ("toolu_z", "llmtest_add", {"a": 1, "b": 2, "c": 3}),
            ("toolu_p", "llmtest_admin_only", {"a": 1, "b": 2}),
        ),
        text_reply("Sorry, let me fix that."),
    )
    recorder = Recorder(UserRef(None, "system", "admin"))
    events = run(make_chat(), "break things", execute=recorder)
    assert kinds(events)[-2:] == ["text", "done"]
    outcomes = [e.outcome for e in events if e.kind == "tool_result"]
    assert [o.is_error for o in outcomes] == [True, True, True, False]
    assert "no_such_tool" not in [name for name, _ in recorder.calls]  # never reached the app
    sent = results_sent(fake.message_requests[1])
    assert [block.get("is_error", False) for block in sent] == [True, True, True, False]
    errors = [json.loads(block["content"]).get("error", "") for block in sent]
    assert errors[0].startswith("Unknown tool 'no_such_tool'") and "llmtest_add" in errors[0]
    assert "Invalid parameters" in errors[1] and "a:" in errors[1]
    assert "c: is not a parameter" in errors[2]


def test_tools_the_role_may_not_use_are_neither_offered_nor_run(fake, make_chat):
    viewer = UserRef(None, "system", "viewer")
    fake.enqueue(tool_reply(("toolu_1", "llmtest_admin_only", {"a": 1, "b": 2})), text_reply("ok"))
    recorder = Recorder(viewer)
    events = run(make_chat(), "run the admin thing", execute=recorder, user=viewer)
    offered = [tool["name"] for tool in fake.message_requests[0].body["tools"]]
    assert "llmtest_admin_only" not in offered and "price_option" not in offered
    assert recorder.calls == []
    assert next(e for e in events if e.kind == "tool_result").outcome.is_error


def test_a_crashing_execute_tool_is_reported_not_raised(fake, make_chat):
    def explode(name, params):
        raise RuntimeError("database is down")

    fake.enqueue(tool_reply(("toolu_1", "llmtest_add", {"a": 1, "b": 2})), text_reply("Failed."))
    events = run(make_chat(), "add", execute=explode)
    result = next(e for e in events if e.kind == "tool_result")
    assert result.outcome.is_error and "database is down" in result.outcome.error
    (sent,) = results_sent(fake.message_requests[1])
    assert sent["is_error"] is True and "RuntimeError" in sent["content"]


def test_actions_needing_confirmation_wait_for_the_user(fake, make_chat):
    CONFIRMED_RUNS.clear()
    fake.enqueue(
        tool_reply(("toolu_g", "llmtest_confirm", {"goal": "Sharpe > 1"})),
        text_reply("Press Confirm to set the goal."),
    )
    events = run(make_chat(), "set a goal: Sharpe above 1")
    result = next(e for e in events if e.kind == "tool_result")
    assert result.outcome.needs_confirmation and not result.outcome.is_error
    assert result.outcome.call_outcome is None and CONFIRMED_RUNS == []
    (sent,) = results_sent(fake.message_requests[1])
    assert "is_error" not in sent
    payload = json.loads(sent["content"])
    assert payload["status"] == "awaiting_confirmation" and "Confirm" in payload["note"]


@pytest.mark.parametrize("thinking", ["add first", ""])  # "" is what display=omitted sends
def test_thinking_blocks_are_passed_back_unchanged(fake, make_chat, thinking):
    fake.enqueue(
        tool_reply(("toolu_t", "llmtest_add", {"a": 1, "b": 2}), thinking=thinking),
        text_reply("3."),
    )
    events = run(make_chat(), "think, then add")
    assert [e.text for e in events if e.kind == "thinking"] == ([thinking] if thinking else [])
    assistant = fake.message_requests[1].body["messages"][-2]
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": thinking,
        "signature": "sig-" + thinking,
    }


def test_the_step_limit_stops_the_loop_with_a_valid_transcript(fake, make_chat):
    fake.enqueue(
        tool_reply(("toolu_1", "llmtest_add", {"a": 1, "b": 1})),
        tool_reply(("toolu_2", "llmtest_add", {"a": 2, "b": 2})),
        text_reply("never requested"),
    )
    recorder = Recorder()
    events = run(make_chat(max_steps=2), "loop forever", execute=recorder)
    assert len(fake.message_requests) == 2 and fake.pending == 1
    assert recorder.calls == [
        ("llmtest_add", {"a": 1, "b": 1})
    ]  # the last request's call is not run
    notice = next(e for e in events if e.kind == "notice")
    assert "2 tool steps" in notice.text
    done = events[-1]
    assert done.kind == "done" and done.stop_reason == "step_limit" and done.steps == 2
    last = done.messages[-1]
    assert last["role"] == "user" and last["content"][0]["tool_use_id"] == "toolu_2"
    assert last["content"][0]["is_error"] is True
    transcript = [{"role": "user", "content": "loop forever"}, *done.messages]
    transcript.append({"role": "user", "content": "go on"})
    body = {"model": "m", "max_tokens": 10, "messages": transcript}
    assert validate_messages_request(body) is None


def test_max_tokens_stop_is_reported(fake, make_chat):
    fake.enqueue(text_reply("The answer is", stop_reason="max_tokens"))
    events = squash(run(make_chat(), "long answer please"))
    assert kinds(events) == ["text", "notice", "done"]
    assert events[-1].stop_reason == "max_tokens" and "cut off" in events[1].text


# --------------------------------------------------------------------------- failures


def test_rate_limit_is_retried_then_succeeds(fake, make_chat):
    ok_before = counter(LLM_REQUESTS, "ok")
    fake.enqueue(rate_limited("1"), overloaded(), text_reply("Done."))
    events = run(make_chat(max_retries=2), "hi")
    assert events[-1].text == "Done."
    assert len(fake.message_requests) == 3
    assert counter(LLM_REQUESTS, "ok") == ok_before + 1


def test_repeated_server_errors_raise_claude_unavailable(fake, make_chat):
    before = counter(LLM_REQUESTS, "server_error")
    fake.enqueue(*[server_error() for _ in range(3)], text_reply("too late"))
    with pytest.raises(ClaudeUnavailable) as caught:
        run(make_chat(max_retries=2), "hi")
    error = caught.value
    assert error.reason == "server_error" and error.status_code == 500
    assert "server errors (500)" in str(error) and "3 attempts" in str(error)
    assert len(fake.message_requests) == 3 and fake.pending == 1
    assert counter(LLM_REQUESTS, "server_error") == before + 1


def test_persistent_overload_and_rate_limits_name_the_cause(fake, make_chat):
    fake.enqueue(overloaded(), overloaded())
    with pytest.raises(ClaudeUnavailable) as caught:
        run(make_chat(max_retries=1), "hi")
    assert caught.value.reason == "overloaded" and "overloaded" in str(caught.value)
    fake.enqueue(rate_limited(), rate_limited())
    with pytest.raises(ClaudeUnavailable) as caught:
        run(make_chat(max_retries=1), "hi")
    assert caught.value.reason == "rate_limited" and "429" in str(caught.value)


def test_a_rejected_key_is_not_retried_and_names_the_variable(fake, make_chat):
    fake.enqueue(error_reply(401, "authentication_error", "invalid x-api-key"))
    with pytest.raises(ClaudeAuthError) as caught:
        run(make_chat(max_retries=3), "hi")
    assert "ANTHROPIC_API_KEY" in str(caught.value) and caught.value.reason == "auth"
    assert isinstance(caught.value, ClaudeUnavailable)
    assert len(fake.message_requests) == 1


def test_a_missing_key_is_a_clear_error(settings):
    with pytest.raises(ClaudeAuthError) as caught:
        ClaudeChat(dataclasses.replace(settings, anthropic_api_key=None))
    assert "ANTHROPIC_API_KEY is not set" in str(caught.value)


def test_bad_requests_and_unknown_models_are_not_retried(fake, make_chat):
    fake.enqueue(error_reply(404, "not_found_error", "model: claude-nope"))
    with pytest.raises(ClaudeUnavailable) as caught:
        run(make_chat(model="claude-nope"), "hi")
    assert caught.value.reason == "not_found" and "MLTRAINER_CLAUDE_MODEL" in str(caught.value)
    assert fake.message_requests[-1].body["model"] == "claude-nope"
    fake.enqueue(error_reply(400, "invalid_request_error", "messages: bad"))
    with pytest.raises(ClaudeUnavailable) as caught:
        run(make_chat(), "hi")
    assert caught.value.reason == "bad_request" and "messages: bad" in str(caught.value)
    assert len(fake.message_requests) == 2


def test_a_timeout_is_retried_then_reported(fake, make_chat):
    fake.enqueue(Reply(stall=1.0), Reply(stall=1.0))
    with pytest.raises(ClaudeUnavailable) as caught:
        run(make_chat(max_retries=1, timeout=0.2), "hi")
    assert caught.value.reason == "timeout" and "0.2 s" in str(caught.value)
    assert len(fake.message_requests) == 2


def test_an_unreachable_server_is_a_connection_error(settings):
    closed = dataclasses.replace(settings, anthropic_base_url="http://127.0.0.1:9")
    chat = ClaudeChat(closed, options=ClaudeOptions(max_retries=1, max_retry_delay=0.01))
    with pytest.raises(ClaudeUnavailable) as caught:
        run(chat, "hi")
    assert caught.value.reason == "connection" and "127.0.0.1:9" in str(caught.value)


def test_a_stream_that_fails_before_any_text_is_retried(fake, make_chat):
    fake.enqueue(
        Reply(content=[{"type": "text", "text": "x"}], stream_error="overloaded_error"),
        text_reply("Recovered."),
    )
    events = run(make_chat(), "hi")
    assert events[-1].text == "Recovered." and len(fake.message_requests) == 2


def test_a_stream_that_fails_after_text_is_reported_as_interrupted(fake, make_chat):
    fake.enqueue(
        Reply(
            content=[{"type": "text", "text": "Half an answer"}, {"type": "text", "text": "y"}],
            stream_error="overloaded_error",
            stream_error_after=1,
        ),
        text_reply("not used"),
    )
    seen = []
    with pytest.raises(ClaudeUnavailable) as caught:
        for event in make_chat().run_turn([], "hi", SYSTEM_USER, Recorder()):
            seen.append(event)
    assert "".join(e.text for e in seen) == "Half an answer"
    assert "interrupted" in str(caught.value) and len(fake.message_requests) == 1


# --------------------------------------------------------------------------- accounting


def test_usage_with_cache_tokens_is_summed_and_counted(fake, make_chat):
    usage = {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 0,
    }
    cached = {**usage, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2000}
    before = {
        d: counter(LLM_TOKENS, d) for d in ("input", "output", "cache_read", "cache_creation")
    }
    fake.enqueue(
        tool_reply(("toolu_1", "llmtest_add", {"a": 1, "b": 2}), usage=usage),
        text_reply("3", usage=cached),
    )
    done = run(make_chat(), "add")[-1]
    assert done.usage.to_dict() == {
        "input_tokens": 20,
        "output_tokens": 10,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 2000,
    }
    after = {d: counter(LLM_TOKENS, d) for d in before}
    assert after["input"] - before["input"] == 20
    assert after["output"] - before["output"] == 10
    assert after["cache_read"] - before["cache_read"] == 2000
    assert after["cache_creation"] - before["cache_creation"] == 2000


def test_model_comes_from_settings_and_models_can_be_listed(fake, settings):
    chat = ClaudeChat(dataclasses.replace(settings, claude_model="claude-opus-5-5"))
    assert chat.model == "claude-opus-5-5"
    assert chat.list_models() == ["claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-4-5"]
    fake.enqueue(text_reply("hi"))
    run(chat, "hi")
    assert fake.message_requests[0].body["model"] == "claude-opus-5-5"


def test_effort_and_thinking_options_are_passed_through(fake, make_chat):
    fake.enqueue(text_reply("ok"))
    run(make_chat(effort="medium", thinking={"type": "adaptive"}, max_tokens=1234), "hi")
    body = fake.message_requests[0].body
    assert body["output_config"] == {"effort": "medium"}
    assert body["thinking"] == {"type": "adaptive"} and body["max_tokens"] == 1234


def test_old_cache_breakpoints_in_history_are_dropped(fake, make_chat):
    marked = {"type": "text", "text": "earlier", "cache_control": {"type": "ephemeral"}}
    history = [
        {"role": "user", "content": [marked, marked]},
        {"role": "assistant", "content": [{**marked, "text": "reply"}]},
        {"role": "user", "content": [marked]},
        {"role": "assistant", "content": "ok"},
    ]
    fake.enqueue(text_reply("fine"))
    assert run(make_chat(), "next", history=history)[-1].text == "fine"
    body = fake.message_requests[0].body
    assert json.dumps(body).count('"cache_control"') == 3  # tools, system, newest message
    assert history[0]["content"][0]["cache_control"]  # the caller's history is untouched


def test_an_oversized_custom_tool_result_is_truncated(fake, make_chat):
    def huge(name, params):
        return ToolOutcome(True, {"blob": "x" * 100_000})

    fake.enqueue(tool_reply(("toolu_1", "llmtest_add", {"a": 1, "b": 2})), text_reply("ok"))
    run(make_chat(tool_result_max_chars=1000), "go", execute=huge)
    (sent,) = results_sent(fake.message_requests[1])
    assert len(sent["content"]) < 2100 and sent["content"].endswith("full result)")


def test_a_stream_that_stalls_before_any_text_is_retried(fake, make_chat):
    fake.enqueue(Reply(content=[{"type": "text", "text": "x"}], pause_after_start=1.0))
    fake.enqueue(text_reply("Second try."))
    events = run(make_chat(timeout=0.2, max_retries=1), "hi")
    assert events[-1].text == "Second try." and len(fake.message_requests) == 2


def test_a_stream_that_stalls_after_text_is_reported(fake, make_chat):
    never = threading.Event()
    fake.enqueue(text_reply("Partial answer", gate=never))
    seen = []
    with pytest.raises(ClaudeUnavailable) as caught:
        for event in make_chat(timeout=0.2).run_turn([], "hi", SYSTEM_USER, Recorder()):
            seen.append(event)
    never.set()
    assert [e.kind for e in seen] == ["text"] and caught.value.reason == "timeout"
    assert "interrupted" in str(caught.value)


def test_an_api_error_event_mid_stream_is_a_server_error(fake, make_chat):
    fake.enqueue(*[Reply(content=[{"type": "text", "text": "x"}], stream_error="api_error")] * 2)
    with pytest.raises(ClaudeUnavailable) as caught:
        run(make_chat(max_retries=1), "hi")
    assert caught.value.reason == "server_error" and "api_error" in str(caught.value)
    assert len(fake.message_requests) == 2


def test_a_real_finance_action_comes_back_as_compact_data(fake, make_chat):
    params = {"spot": 100, "strike": 100, "maturity_years": 1, "volatility": 0.2, "rate": 0.05}
    fake.enqueue(tool_reply(("toolu_o", "price_option", params)), text_reply("About 10.45."))
    events = run(make_chat(), "price an ATM 1y call, vol 20%, rate 5%")
    outcome = next(e for e in events if e.kind == "tool_result").outcome
    assert outcome.ok and outcome.call_outcome.status == "succeeded"
    (sent,) = results_sent(fake.message_requests[1])
    payload = json.loads(sent["content"])
    assert len(sent["content"]) <= 8000 and "figures" not in payload
    assert "10.45" in json.dumps(payload)  # Black-Scholes price of this call: 10.4506
