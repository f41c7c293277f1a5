"""The chat's and the Overview's honesty about Claude and about jobs (issue 21), in AppTest
and through the real anthropic SDK against the local fake Messages API:

- a rejected key (401) ends the turn: the error is the stored reply, no spinner is left,
  and "Answer with the offline planner" answers the same request offline;
- the Overview checks the key with a free Models API request (connected, rejected,
  unknown model, unreachable), cached;
- a tool message that said "queued" says how its job ended; a cancel asked for is not
  an error; a notice when one of the user's jobs ends;
- the live progress line names the fold reached and the latest metric.
"""

from __future__ import annotations

import dataclasses

import pytest

from engine.actions import call
from engine.chat import conversations, statuses, turn
from engine.config import get_settings, reset_settings
from storage.repositories import conversations as repo
from storage.repositories import jobs
from tests.chat.test_chat_page import open_chat
from tests.foundation.apptest_helpers import log_in, new_app
from tests.llm.fake_anthropic import FakeAnthropic, text_reply, tool_reply

GOOD_KEY = "sk-ant-good-key"
PRICING = "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"
OPTION = {"spot": 100, "strike": 105, "maturity_years": 0.5, "rate": 0.05, "volatility": 0.2}
OFFLINE_BUTTON = "Answer with the offline planner"


@pytest.fixture
def fake(monkeypatch):
    from engine.llm.claude import forget_connection_checks

    with FakeAnthropic(valid_keys={GOOD_KEY}) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("MLTRAINER_CLAUDE_MAX_RETRIES", "0")
        forget_connection_checks()
        yield server
    forget_connection_checks()
    reset_settings()


def use_key(monkeypatch, key: str) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    reset_settings()


# --------------------------------------------------------------------------- Claude mode


def test_a_rejected_key_ends_the_turn_and_the_offline_planner_answers_it(
    fake, monkeypatch, fresh_db, make_user
):
    use_key(monkeypatch, "sk-ant-revoked")
    make_user("alice")
    at = open_chat("alice")
    at.chat_input(key="chat_prompt").set_value(PRICING).run()
    assert not at.exception, at.exception
    assert not at.status  # no "Working…" left running
    [error] = [e.value for e in at.error if "rejected the API key" in e.value]
    assert "401" in error
    conversation_id = at.session_state["conversation_id"]
    stored = repo.list_messages(conversation_id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[-1].payload["error"] == "auth"
    assert len(fake.message_requests) == 1  # a 401 is not retried

    [button] = [b for b in at.button if b.label == OFFLINE_BUTTON]
    button.click().run()
    assert not at.exception, at.exception
    stored = repo.list_messages(conversation_id)
    assert [m.role for m in stored] == ["user", "assistant", "assistant", "tool"]
    assert stored[2].payload["mode"] == "offline"
    assert stored[3].payload["action"] == "price_option"
    assert stored[3].payload["params"]["strike"] == 105
    assert any(metric.label == "price" for metric in at.metric)
    assert len(fake.message_requests) == 1  # Claude was not asked again
    assert not [b for b in at.button if b.label == OFFLINE_BUTTON]  # answered: gone


def test_the_offline_button_is_offered_only_on_the_last_failed_reply(
    fake, monkeypatch, fresh_db, make_user
):
    use_key(monkeypatch, GOOD_KEY)
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    repo.add_message(conversation.id, "user", "hello")
    repo.add_message(
        conversation.id,
        "assistant",
        "Claude is unavailable: down",
        payload={"mode": "claude", "error": "server_error"},
    )
    repo.add_message(conversation.id, "user", "again")
    fake.enqueue(text_reply("Hello again."))
    at = open_chat("alice")
    at.session_state["conversation_id"] = conversation.id
    at.run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.label == OFFLINE_BUTTON]


def test_the_claude_turn_announces_each_tool_before_it_runs(fake, monkeypatch, fresh_db, make_user):
    use_key(monkeypatch, GOOD_KEY)
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    fake.enqueue(
        tool_reply(("price_option", OPTION), text="Pricing it."), text_reply("It is 4.58.")
    )
    events = list(turn.send(alice, conversation.id, PRICING))
    kinds = [e.kind for e in events if e.kind != "text"]
    assert kinds == ["tool_start", "tool", "done"]
    start, tool = (e for e in events if e.kind in ("tool_start", "tool"))
    assert start.action == tool.action == "price_option" and start.params == OPTION


# --------------------------------------------------------------------------- key check


def _check(**settings_changes):
    from engine.llm.claude import check_connection

    return check_connection(dataclasses.replace(get_settings(), **settings_changes))


def test_the_key_check_tells_connected_rejected_unknown_model_and_unreachable(fake, monkeypatch):
    use_key(monkeypatch, GOOD_KEY)
    connected = _check()
    assert connected.state == "connected" and connected.ok
    assert fake.requests[-1].path == f"/v1/models/{get_settings().claude_model}"
    assert fake.requests[-1].method == "GET"  # the Models API: no tokens spent
    rejected = _check(anthropic_api_key="sk-ant-wrong")
    assert rejected.state == "invalid_key" and "401" in rejected.message
    unknown = _check(claude_model="claude-nonexistent-1")
    assert unknown.state == "model_unavailable" and "claude-nonexistent-1" in unknown.message
    from tests.browser.conftest import free_port

    unreachable = _check(anthropic_base_url=f"http://127.0.0.1:{free_port()}")
    assert unreachable.state == "unreachable"
    assert _check(anthropic_api_key=None).state == "not_configured"


def test_the_key_check_is_cached(fake, monkeypatch):
    use_key(monkeypatch, GOOD_KEY)
    first = _check()
    asked = len(fake.requests)
    again = _check()
    assert again == first and len(fake.requests) == asked


@pytest.mark.parametrize(
    ("key", "kind", "text"),
    [(GOOD_KEY, "success", "Claude is connected"), ("sk-ant-bad", "error", "rejected the API key")],
)
def test_the_overview_says_whether_the_key_works(
    fake, monkeypatch, fresh_db, make_user, key, kind, text
):
    use_key(monkeypatch, key)
    make_user("alice")
    at = log_in(new_app(), "alice")
    at.switch_page("pages/home.py").run()
    assert not at.exception, at.exception
    assert any(text in element.value for element in at.get(kind))
    assert not any("Claude is connected" in e.value for e in [*at.error, *at.info])


# --------------------------------------------------------------------------- statuses


def _tool_message(conversation_id: int, job_id: int, status: str = "queued"):
    return repo.add_message(
        conversation_id,
        "tool",
        status,
        payload={"action": "price_option", "params": OPTION, "status": status, "job_id": job_id},
        job_id=job_id,
    )


def _captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_a_queued_tool_message_shows_how_its_job_ended(fresh_db, make_user):
    alice = make_user("alice")
    done = call("price_option", OPTION, alice)  # a real result to finish the job with
    conversation = conversations.start(alice, PRICING)
    repo.add_message(conversation.id, "user", PRICING)
    job_id = jobs.create_job("price_option", OPTION, alice.id, status="running")
    message = _tool_message(conversation.id, job_id)
    at = open_chat("alice")
    at.session_state["conversation_id"] = conversation.id
    at.run()
    assert not at.exception, at.exception
    assert f"R{job_id} · price\\_option · queued" in _captions(at)

    finished = jobs.get_job(done.job_id)
    assert jobs.finish(job_id, "succeeded", result=finished.result)
    at.run()
    assert not at.exception, at.exception
    assert f"R{job_id} · price\\_option · succeeded" in _captions(at)
    assert any(metric.label == "price" for metric in at.metric)
    [stored] = [m for m in repo.list_messages(conversation.id) if m.id == message.id]
    assert stored.payload["status"] == "succeeded"  # the record, not only the page
    assert stored.payload["summary"] == stored.content == done.result.summary


def test_recalling_a_result_reads_the_job_that_ended_since(fresh_db, make_user):
    alice = make_user("alice")
    done = call("price_option", OPTION, alice)
    conversation = conversations.start(alice, PRICING)
    job_id = jobs.create_job("price_option", OPTION, alice.id, status="running")
    _tool_message(conversation.id, job_id)
    text, _ = turn.recall_reply(conversation.id, "price_option")
    assert "is queued" in text
    assert jobs.finish(job_id, "succeeded", result=jobs.get_job(done.job_id).result)
    text, message = turn.recall_reply(conversation.id, "price_option")
    assert "returned" in text and done.result.summary in text
    assert message.payload["status"] == "succeeded"


def test_a_cancel_asked_for_is_not_an_error(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "cancel me")
    job_id = jobs.create_job("price_option", OPTION, alice.id, status="running")
    _tool_message(conversation.id, job_id)
    jobs.request_cancel(job_id)
    assert jobs.finish(job_id, "cancelled", error="Cancelled by request.")
    at = open_chat("alice")
    at.session_state["conversation_id"] = conversation.id
    at.run()
    assert not at.exception, at.exception
    assert f"R{job_id} · price\\_option · cancelled on request" in _captions(at)
    assert not at.error
    assert any("Cancelled on request" in i.value for i in at.info)


def test_settle_leaves_a_running_job_as_it_is(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    running = jobs.create_job("price_option", OPTION, alice.id, status="running")
    pending = _tool_message(conversation.id, running)
    settled = statuses.settle(repo.list_messages(conversation.id))
    assert [m.payload["status"] for m in settled] == ["queued"]
    assert settled == [pending]


def _watcher_page(user_id: int, username: str) -> None:
    """What app.py draws in the sidebar on every page, alone (AppTest's switch_page runs
    the page file without the main script's sidebar)."""
    from engine.actions import UserRef
    from ui.jobs import watch_jobs

    watch_jobs(UserRef(user_id, username, "analyst"))


def test_a_notice_when_one_of_my_jobs_ends(fresh_db, make_user):
    from streamlit.testing.v1 import AppTest

    alice = make_user("alice")
    bob = make_user("bob")
    job_id = jobs.create_job("price_option", OPTION, alice.id, status="running")
    other = jobs.create_job("price_option", OPTION, bob.id, status="running")
    at = AppTest.from_function(_watcher_page, args=(alice.id, "alice"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert not at.toast
    assert at.session_state["watched_jobs"] == {job_id: "price_option"}  # not bob's
    assert jobs.finish(job_id, "failed", error="boom")
    assert jobs.finish(other, "succeeded", result={})
    at.run()
    assert not at.exception, at.exception
    assert [t.value for t in at.toast] == [f"Job {job_id} (price_option) failed."]
    at.run()
    assert not at.toast  # once
    assert at.session_state["watched_jobs"] == {}


# --------------------------------------------------------------------------- live progress


def test_the_live_progress_line_says_which_fold_finished_and_its_metric():
    from ui.jobs import progress_line

    points = [
        {"elapsed_s": 1.0, "fraction": 0.2, "fold": 0.0, "balanced_accuracy": 0.52},
        {"elapsed_s": 2.0, "fraction": 0.4, "fold": 1.0, "balanced_accuracy": 0.55},
        {"elapsed_s": 3.0, "fraction": 0.6, "fold": 2.0, "balanced_accuracy": 0.51},
    ]

    class Job:
        action, status, progress = "train_model", "running", 0.6

    line = progress_line(Job, points)
    assert "fold 3 done" in line and "balanced_accuracy 0.51" in line and "60%" in line
