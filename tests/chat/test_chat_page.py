"""The chat page end to end in AppTest (offline mode): message -> action -> result."""

from __future__ import annotations

import time

from tests.foundation.apptest_helpers import log_in, new_app


def open_chat(username: str):
    at = log_in(new_app(), username)
    at.switch_page("pages/chat.py").run()
    assert not at.exception, at.exception
    return at


def test_offline_request_renders_the_result(fresh_db, make_user):
    make_user("alice")
    at = open_chat("alice")
    assert any("Offline mode" in c.value for c in at.caption)
    at.chat_input(key="chat_prompt").set_value(
        "Backtest a 20/50 SMA crossover on AAPL with 5 bps costs from 2010 to 2015"
    ).run()
    assert not at.exception, at.exception
    texts = " ".join(m.value for m in at.markdown)
    assert "backtest_strategy" in texts
    assert any(metric.label == "sharpe" for metric in at.metric)
    assert at.session_state["conversation_id"] is not None


def test_long_action_shows_progress_then_result(fresh_db, make_user):
    """A request mapped to a long action runs as a job; the page shows it live, then done."""
    make_user("alice")
    at = open_chat("alice")
    at.chat_input(key="chat_prompt").set_value(
        "Price an American put, spot 50, strike 55, 1 year, volatility 30%, rate 4%"
    ).run()
    assert not at.exception, at.exception
    assert any(metric.label == "price" for metric in at.metric)


def test_viewer_reads_but_has_no_input(fresh_db, make_user):
    make_user("vic", "viewer")
    at = open_chat("vic")
    assert not at.chat_input
    assert any("Viewers can read" in c.value for c in at.caption)


def test_reload_restores_the_conversation(fresh_db, make_user):
    make_user("alice")
    at = open_chat("alice")
    at.chat_input(key="chat_prompt").set_value(
        "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"
    ).run()
    conversation_id = at.session_state["conversation_id"]
    fresh = open_chat("alice")  # a new browser session: pick the conversation in the sidebar
    fresh.sidebar.radio(key="conv_radio").set_value(conversation_id).run()
    assert any(metric.label == "price" for metric in fresh.metric)
    time.sleep(0)


def test_a_turn_still_running_is_shown_and_the_page_redraws_when_done(
    fresh_db, make_user, monkeypatch
):
    """A turn whose script run was stopped (another rerun came) keeps working in the
    background; the next run of the page says so, and shows its reply once stored."""
    import threading

    from engine.chat import background, conversations, turn
    from storage.repositories import conversations as repo

    release = threading.Event()
    real_send = turn.send

    def held_send(user, conversation_id, text, mode="auto"):
        release.wait(30)
        yield from real_send(user, conversation_id, text, mode=mode)

    monkeypatch.setattr(turn, "send", held_send)
    alice = make_user("alice")
    conversation = conversations.start(alice, "a held request")
    running = background.start_turn(
        alice,
        conversation.id,
        "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%",
        mode="offline",
    )
    at = open_chat("alice")
    at.session_state["conversation_id"] = conversation.id
    at.run()
    assert not at.exception, at.exception
    assert [s.label.rsplit(" ", 2)[0] for s in at.status] == ["Working on your last request…"]

    release.set()
    assert running.wait(60)
    at.run()
    assert not at.exception, at.exception
    assert not at.status
    assert [m.role for m in repo.list_messages(conversation.id)] == ["user", "assistant", "tool"]
    assert any(metric.label == "price" for metric in at.metric)


def test_a_long_conversation_draws_only_its_latest_messages(fresh_db, make_user):
    """Every rerun redraws the history, so only the newest window is drawn; older
    messages come in steps of the same size, on request."""
    from engine.chat import conversations
    from storage.repositories import conversations as repo

    alice = make_user("alice")
    conversation = conversations.start(alice, "a long one")
    for index in range(50):
        role = "user" if index % 2 == 0 else "assistant"
        repo.add_message(conversation.id, role, f"message number {index}")
    at = open_chat("alice")
    at.sidebar.radio(key="conv_radio").set_value(conversation.id).run()
    assert not at.exception, at.exception

    def drawn() -> list[str]:
        texts = []
        for message in at.chat_message:
            [text] = [e.value for e in message.children.values() if isinstance(e.value, str)]
            texts.append(text)
        return texts

    assert len(at.chat_message) == 20
    assert drawn()[0] == "message number 30" and drawn()[-1] == "message number 49"
    [earlier] = [b for b in at.button if b.label.startswith("Show earlier messages")]
    assert earlier.label == "Show earlier messages (30 more)"
    earlier.click().run()
    assert len(at.chat_message) == 40 and drawn()[0] == "message number 10"
    [earlier] = [b for b in at.button if b.label.startswith("Show earlier messages")]
    earlier.click().run()
    assert len(at.chat_message) == 50 and drawn()[0] == "message number 0"
    assert not [b for b in at.button if b.label.startswith("Show earlier messages")]
