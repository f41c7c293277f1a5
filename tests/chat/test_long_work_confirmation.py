"""Long work asked for in the chat stops at a confirmation showing its estimate (issue 20):
no job exists until the requester confirms; confirming runs exactly the call asked for;
quick actions run at once; nobody else can confirm, nor confirm altered parameters.
Also: a message over the chat's length cap is refused whole, before anything is stored."""

from __future__ import annotations

import pytest

from engine.actions import ActionError
from engine.chat import background, conversations, turn
from engine.config import reset_settings
from storage.access import OwnerScope
from storage.repositories import conversations as repo
from storage.repositories import jobs
from tests.usage.test_estimates import seed_family

TRAIN = "Train a decision tree on AAPL from 2015 to 2018, 3 splits"
OPTION = "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"


def _jobs(action: str) -> list:
    return jobs.list_jobs(OwnerScope.all_rows(), action=action, limit=100)


@pytest.fixture
def slow_trees(fresh_db):
    # The tree family's recorded evaluations cost minutes on data of this size: the
    # estimate (fitted on them, not the prior) is far above the 30-second threshold.
    seed_family("tree", 25, scale=1000)


def _ask(user, text):
    conversation = conversations.start(user, text)
    events = list(turn.send(user, conversation.id, text, mode="offline"))
    return conversation, events


def test_long_training_shows_its_estimate_and_waits_for_confirmation(slow_trees, make_user):
    alice = make_user("alice")
    conversation, events = _ask(alice, TRAIN)
    pending = next(e for e in events if e.kind == "confirm")
    assert pending.action == "train_model"
    assert _jobs("train_model") == []  # nothing runs before the user confirms
    [stored] = turn.pending_confirmations(repo.list_messages(conversation.id))
    estimate = stored.payload["estimate"]
    assert estimate["wall_seconds"] > 30 and estimate["records"] == 25
    shown = turn.describe_estimate(estimate)
    assert "wall time" in shown and "CPU" in shown and "from 25 recorded runs" in shown
    assert "long work" in stored.content and "Claude tokens" not in shown

    done = turn.confirm_pending(alice, conversation.id, stored.id)
    [job] = _jobs("train_model")
    assert done.outcome.job_id == job.id and job.user_id == alice.id
    for key, value in stored.payload["params"].items():
        assert job.params[key] == value  # exactly the confirmed call
    # the confirmation is spent: it cannot run the work twice
    with pytest.raises(ActionError, match="nothing waiting"):
        turn.confirm_pending(alice, conversation.id, stored.id)
    assert len(_jobs("train_model")) == 1


def test_the_estimate_says_when_it_leans_on_the_prior(fresh_db, make_user, monkeypatch):
    monkeypatch.setenv("MLTRAINER_CHAT_CONFIRM_SECONDS", "0")  # every long run asks
    reset_settings()
    try:
        alice = make_user("alice")
        conversation, events = _ask(alice, TRAIN)
        assert any(e.kind == "confirm" for e in events)
        [stored] = turn.pending_confirmations(repo.list_messages(conversation.id))
        assert "mostly from the prior (0 recorded runs)" in turn.describe_estimate(
            stored.payload["estimate"]
        )
    finally:
        reset_settings()


def test_a_short_estimate_runs_without_asking(fresh_db, make_user):
    alice = make_user("alice")  # no history: the prior's estimate is a second or so
    conversation, events = _ask(alice, TRAIN)
    assert not any(e.kind == "confirm" for e in events)
    assert len(_jobs("train_model")) == 1


def test_a_quick_action_runs_without_confirmation(slow_trees, make_user):
    alice = make_user("alice")
    conversation, events = _ask(alice, OPTION)
    assert [e.kind for e in events] == ["text", "tool_start", "tool", "done"]
    assert events[2].outcome.status == "succeeded"
    assert turn.pending_confirmations(repo.list_messages(conversation.id)) == []


def test_another_user_or_altered_parameters_cannot_confirm(slow_trees, make_user):
    alice = make_user("alice")
    admin = make_user("root", "admin")
    bob = make_user("bob")
    conversation, _ = _ask(alice, TRAIN)
    [stored] = turn.pending_confirmations(repo.list_messages(conversation.id))
    for other in (admin, bob):
        with pytest.raises(ActionError):
            turn.confirm_pending(other, conversation.id, stored.id)
        with pytest.raises(ActionError):
            turn.decline_pending(other, conversation.id, stored.id)
    # the stored parameters changed after the user was asked: the token no longer fits
    tampered = {**stored.payload, "params": {**stored.payload["params"], "n_splits": 9}}
    repo.update_message_payload(stored.id, tampered)
    with pytest.raises(ActionError, match="parameters it was asked with"):
        turn.confirm_pending(alice, conversation.id, stored.id)
    assert _jobs("train_model") == []
    [still] = turn.pending_confirmations(repo.list_messages(conversation.id))
    assert still.payload["status"] == "awaiting_confirmation"


def test_an_overlong_message_is_refused_whole(fresh_db, make_user):
    alice = make_user("alice")
    conversation = conversations.start(alice, "x")
    before = repo.count_messages(conversation.id)
    text = "Price a call " + "x" * 100_000
    with pytest.raises(ActionError, match="accepts up to 8,000"):
        list(turn.send(alice, conversation.id, text))
    running = background.start_turn(alice, conversation.id, text)  # the page's path
    with pytest.raises(ActionError, match="characters"):
        list(running.events())
    assert repo.count_messages(conversation.id) == before  # nothing stored, nothing sent
    # at the cap it is accepted
    accepted = list(turn.send(alice, conversation.id, "a" * 8000, mode="offline"))
    assert accepted[-1].kind == "done"


def test_the_chat_page_shows_the_estimate_with_run_and_cancel(slow_trees, make_user):
    from tests.foundation.apptest_helpers import log_in, new_app

    make_user("alice")
    at = log_in(new_app(), "alice")
    at.switch_page("pages/chat.py").run()
    at.chat_input(key="chat_prompt").set_value(TRAIN).run()
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.caption).replace("\\", "")  # markdown-escaped
    assert "Estimate:" in captions and "from 25 recorded runs" in captions
    assert _jobs("train_model") == []
    run = next(b for b in at.button if b.label == "Run")
    assert any(b.label == "Cancel" for b in at.button)
    run.click().run()
    assert not at.exception, at.exception
    assert len(_jobs("train_model")) == 1
    # an overlong message is refused with the reason, and nothing is stored
    conversation_id = at.session_state["conversation_id"]
    before = repo.count_messages(conversation_id)
    at.chat_input(key="chat_prompt").set_value("x" * 9000).run()
    assert any("accepts up to 8,000" in e.value.replace("\\", "") for e in at.error)
    assert repo.count_messages(conversation_id) == before


@pytest.fixture
def claude(monkeypatch, fresh_db):
    from tests.llm.fake_anthropic import FakeAnthropic

    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        reset_settings()
        yield server
    reset_settings()


def test_long_work_claude_asks_for_waits_for_the_same_confirmation(claude, slow_trees, make_user):
    from tests.llm.fake_anthropic import text_reply, tool_reply

    alice = make_user("alice")
    conversation = conversations.start(alice, "train")
    params = {
        "model_id": "sklearn.DecisionTreeClassifier",
        "symbols": ["AAPL"],
        "start": "2015-01-01",
        "end": "2018-12-31",
        "n_splits": 3,
    }
    claude.enqueue(tool_reply(("train_model", params)), text_reply("Confirm to start it."))
    events = list(turn.send(alice, conversation.id, "Train a decision tree on AAPL"))
    pending = next(e for e in events if e.kind == "confirm")
    assert _jobs("train_model") == []
    # what Claude was told: the call waits for the user, with its estimate
    [result] = [
        b
        for m in claude.message_requests[1].body["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if b.get("type") == "tool_result"
    ]
    assert "awaiting_confirmation" in str(result["content"])
    done = turn.confirm_pending(alice, conversation.id, pending.message_id)
    [job] = _jobs("train_model")
    assert done.outcome.job_id == job.id and job.params["n_splits"] == 3


def test_only_one_of_two_racing_transitions_of_a_pending_call_wins(any_db, make_user):
    alice = make_user("alice")
    conversation = repo.create_conversation(alice.id, "race")
    pending = {"status": "awaiting_confirmation", "action": "train_model", "params": {}}
    message = repo.add_message(conversation.id, "tool", "waiting", payload=pending)
    outcomes = [
        repo.transition_message_status(
            message.id, "awaiting_confirmation", {**pending, "status": status}
        )
        for status in ("confirmed", "declined")
    ]
    assert outcomes == [True, False]
    [stored] = [m for m in repo.list_messages(conversation.id) if m.id == message.id]
    assert stored.payload["status"] == "confirmed"


def test_two_simultaneous_confirmations_run_the_work_once(slow_trees, make_user, monkeypatch):
    import threading

    alice = make_user("alice")
    conversation, _ = _ask(alice, TRAIN)
    [stored] = turn.pending_confirmations(repo.list_messages(conversation.id))
    # Both clicks read the message while it still awaits confirmation, before either
    # records the answer: the interleaving a double-click or two tabs can produce.
    both_read = threading.Barrier(2, timeout=30)
    read_messages = repo.list_messages

    def read_then_wait(*args, **kwargs):
        messages = read_messages(*args, **kwargs)
        both_read.wait()
        return messages

    monkeypatch.setattr(turn.repo, "list_messages", read_then_wait)
    outcomes: list[str] = []

    def click() -> None:
        try:
            turn.confirm_pending(alice, conversation.id, stored.id)
            outcomes.append("ran")
        except ActionError:
            outcomes.append("refused")

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["ran", "refused"]
    assert len(_jobs("train_model")) == 1
