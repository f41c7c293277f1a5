"""Chat: talk to Claude (or the offline planner); requests become action calls."""

from __future__ import annotations

import json
from functools import partial

import streamlit as st

from engine import executor
from engine.actions import ActionError
from engine.chat import background, conversations, statuses, turn
from engine.chat.export import export_script, recorded_calls
from ui.claims import reply_markdown
from ui.jobs import render_job
from ui.reproduce import bundle_button, notebook_button
from ui.session import has_role, require_user
from ui.text import md_escape, stream_model_markdown, user_text

PAGE_SIZE = 20  # latest messages drawn; "Show earlier messages" adds as many again
FULL_RESULTS = 1  # older results show their summary; details on request
TICK_SECONDS = 0.5  # how often the running turn's status line and job progress refresh
OFFLINE_BUTTON = "Answer with the offline planner"
user = require_user()
can_write = has_role(user, "analyst")
mode = turn.mode_for()

# --- sidebar: conversations -------------------------------------------------------
with st.sidebar:
    st.subheader("Conversations")
    if can_write and st.button("New conversation", icon=":material/add:", key="new_conv"):
        st.session_state.pop("conversation_id", None)
    search = st.text_input("Search", key="conv_search", placeholder="title or message text")
    listing = conversations.listing(user, search)
    if listing:
        ids = [c.id for c in listing]
        current = st.session_state.get("conversation_id")
        chosen = st.radio(
            "Open",
            ids,
            index=ids.index(current) if current in ids else None,
            format_func=lambda cid: md_escape(next(c.title for c in listing if c.id == cid)),
            key="conv_radio",
            label_visibility="collapsed",
        )
        if chosen is not None:
            st.session_state["conversation_id"] = chosen
    elif search:
        st.caption("No conversation matches.")

conversation_id = st.session_state.get("conversation_id")
conversation = None
if conversation_id is not None:
    try:
        conversation = conversations.get(user, conversation_id)
    except ActionError as error:
        st.error(md_escape(error))
        st.session_state.pop("conversation_id", None)
        conversation_id = None

# --- header -----------------------------------------------------------------------
title_col, tools_col = st.columns([3, 2])
title_col.title(md_escape(conversation.title) if conversation else "Chat")
if mode == "offline":
    st.caption(
        "Offline mode: no ANTHROPIC_API_KEY is set, so a built-in planner maps your request "
        "to an action and tells you what it understood."
    )
else:
    from engine.llm.claude import check_connection

    verdict = check_connection(cached_only=True)  # the Overview's key check, if made
    if verdict is not None and not verdict.ok:
        st.warning(md_escape(verdict.message), icon=":material/key_off:")
if conversation and can_write:
    with tools_col.popover("Conversation", icon=":material/more_horiz:"):
        new_title = st.text_input("Rename", value=conversation.title, key="rename_title")
        if st.button("Save title", key="rename_save"):
            try:
                conversations.rename(user, conversation.id, new_title)
                st.rerun()
            except ActionError as error:
                st.error(md_escape(error))
        st.download_button(
            "Export as Python script",
            # built when clicked, not on every rerun (it reads the whole conversation)
            partial(export_script, user, conversation.id),
            file_name=f"conversation_{conversation.id}.py",
            mime="text/x-python",
            key="export_script",
        )
        if recorded_calls(user, conversation.id):
            bundle_button(user, "conversation", conversation.id, key="export_bundle")
            notebook_button(user, "conversation", conversation.id, key="export_notebook")
        if st.button("Delete conversation", type="primary", key="delete_conv"):
            conversations.delete(user, conversation.id)
            st.session_state.pop("conversation_id", None)
            st.rerun()


# --- history ----------------------------------------------------------------------
def _answer_offline(conversation_id: int) -> None:
    st.session_state["answer_offline"] = conversation_id


def status_text(payload: dict) -> str:
    """A tool message's status as the user reads it (a cancel asked for is not a failure)."""
    status = payload.get("status", "")
    if status == "cancelled" and payload.get("cancel_requested"):
        return "cancelled on request"
    return status


def draw_message(message, full: bool, last: bool = False) -> None:
    payload = message.payload or {}
    if message.role == "user":
        with st.chat_message("user"):
            user_text(message.content)
    elif message.role == "assistant":
        if not message.content.strip():  # stored by older versions; nothing to show
            return
        with st.chat_message("assistant"):
            if payload.get("mode") == "claude" and payload.get("error"):
                # Claude could not answer: the turn ended; the same request can be
                # answered by the offline planner instead
                st.error(md_escape(message.content), icon=":material/cloud_off:")
                if last and can_write:
                    st.button(
                        OFFLINE_BUTTON,
                        key=f"offline-{message.id}",
                        icon=":material/auto_fix_high:",
                        on_click=_answer_offline,
                        args=(message.conversation_id,),
                    )
                return
            reply_markdown(message.content, payload.get("verification"))
    elif message.role == "tool":
        with st.chat_message("assistant", avatar=":material/build:"):
            action = payload.get("action", "action")
            cited_as = f"R{payload['job_id']} · " if payload.get("job_id") else ""
            st.caption(md_escape(f"{cited_as}{action} · {status_text(payload)}"))
            with st.expander("Parameters", expanded=False):
                # plain text: a JSON tree widget per message is costly for the browser
                st.text(json.dumps(payload.get("params", {}), indent=2, default=str))
            status = payload.get("status")
            if status == "awaiting_confirmation":
                st.warning(f"'{md_escape(action)}' needs your confirmation before it runs.")
                if estimate := payload.get("estimate"):  # long work: what it would cost
                    st.text(message.content)
                    st.caption(md_escape(turn.describe_estimate(estimate)))
                if can_write and payload.get("requested_by") in (None, user.id):
                    yes, no = st.columns(2)
                    if yes.button("Run", key=f"confirm-{message.id}", type="primary"):
                        try:
                            turn.confirm_pending(user, message.conversation_id, message.id)
                        except ActionError as error:
                            st.error(md_escape(error))
                        else:
                            st.rerun()
                    if no.button("Cancel", key=f"decline-{message.id}"):
                        turn.decline_pending(user, message.conversation_id, message.id)
                        st.rerun()
            elif status == "refused":
                st.error(md_escape(payload.get("error") or message.content))
            elif payload.get("job_id"):
                if full or st.toggle("Show result", key=f"show-{message.id}"):
                    render_job(payload["job_id"], key=f"msg-{message.id}", light=True)
                else:
                    st.text(payload.get("summary") or payload.get("error") or message.content)


def stream_turn(running: background.BackgroundTurn) -> None:
    """Draw a running turn as it happens: its reply streaming in, and above it which
    action is running, then each action's outcome; a background job's line is its live
    progress bar (the executor's progress), refreshed while the turn runs."""
    with st.chat_message("assistant"):
        activity = st.status("Working…", expanded=True)
        jobs: dict[int, tuple] = {}  # job id -> (its progress slot, action)
        state = {"doing": "Working", "slot": None}

        def refresh_jobs() -> None:
            for job_id, (slot, action) in list(jobs.items()):
                job = executor.status(job_id)
                if job is None:
                    continue
                fraction = min(max(job.progress, 0.0), 1.0)
                slot.progress(
                    fraction, text=md_escape(f"R{job_id} · {action}: {job.status} · {fraction:.0%}")
                )
                if job.terminal:
                    del jobs[job_id]

        def reply_text():
            for event in running.events(tick=TICK_SECONDS):
                if event.kind == "text":
                    state["doing"] = "Writing the reply" if mode == "claude" else "Working"
                    yield event.text
                elif event.kind == "waiting":
                    refresh_jobs()
                elif event.kind == "tool_start":
                    state["doing"] = f"Running {event.action}"
                    state["slot"] = activity.empty()
                    state["slot"].markdown(md_escape(f"Running {event.action}…"))
                elif event.kind in ("tool", "confirm"):
                    slot = state["slot"] or activity.empty()
                    state["slot"] = None
                    outcome = event.outcome
                    if event.kind == "confirm":
                        slot.markdown(md_escape(f"{event.action}: waiting for your confirmation"))
                    elif outcome is not None and outcome.job_id and not outcome.result:
                        jobs[outcome.job_id] = (slot, event.action)
                        slot.progress(
                            0.0,
                            text=md_escape(f"R{outcome.job_id} · {event.action}: {outcome.status}"),
                        )
                    elif outcome is not None:
                        cited = f"R{outcome.job_id} · " if outcome.job_id else ""
                        slot.markdown(md_escape(f"{cited}{event.action}: {outcome.status}"))
                    else:
                        slot.markdown(md_escape(f"{event.action}: {event.text or 'refused'}"))
                    state["doing"] = "Writing the reply" if mode == "claude" else "Working"
                activity.update(label=f"{state['doing']}… {running.elapsed:.0f} s")

        try:
            stream_model_markdown(reply_text())
        except turn.ClaudeUnavailableForChat:
            # stored as the conversation's last message, with the offline planner's button
            activity.update(label="Claude could not answer", state="error", expanded=False)
            st.rerun()
        except Exception:
            activity.update(label=f"Stopped after {running.elapsed:.0f} s", state="error")
            raise
        activity.update(label=f"Done in {running.elapsed:.0f} s", state="complete")


busy = False
if conversation:
    # Whether a turn is running is read before the history, so a turn that ends in
    # between is either in the history drawn or redraws the page when seen done.
    busy = background.in_progress(conversation.id)
    total = turn.repo.count_messages(conversation.id)
    shown = st.session_state.get("shown_messages", PAGE_SIZE)
    if total > shown and st.button(f"Show earlier messages ({total - shown} more)"):
        st.session_state["shown_messages"] = shown + PAGE_SIZE
        st.rerun()
    history = statuses.settle(conversations.messages(user, conversation.id, limit=shown))
    tool_ids = [m.id for m in history if m.role == "tool"]
    recent_tools = set(tool_ids[-FULL_RESULTS:])
    for index, message in enumerate(history):
        last = index == len(history) - 1 and not busy
        draw_message(message, full=message.id in recent_tools, last=last)
    offline_for = st.session_state.pop("answer_offline", None)
    if offline_for == conversation.id and can_write and not busy:
        try:
            stream_turn(background.start_offline_answer(user, conversation.id))
        except ActionError as error:
            st.error(md_escape(error))
        except Exception:  # noqa: BLE001 - logged by the turn; never a raw traceback here
            st.error("Something went wrong while answering. Try again; the server log has details.")
        else:
            st.rerun()
    if busy:
        # A turn whose script run was stopped by a rerun is still working: show it, and
        # redraw the conversation when it is done.
        @st.fragment(run_every=1.0)
        def _turn_in_progress(conversation_id: int) -> None:
            if not background.in_progress(conversation_id):
                st.rerun(scope="app")
            seconds = background.elapsed(conversation_id) or 0
            with st.chat_message("assistant"):
                st.status(f"Working on your last request… {seconds:.0f} s", state="running")

        _turn_in_progress(conversation.id)
else:
    st.info(
        "Ask for analysis in plain words, for example: “Backtest a 20/50 SMA crossover on AAPL "
        "with 5 bps costs”, “Risk report for JPM with 99% VaR over 10 days”, “Price an American "
        "put, spot 50, strike 55, 1 year, vol 30%, rate 4%”."
    )

# --- input ------------------------------------------------------------------------
if not can_write:
    st.caption("Viewers can read conversations but cannot start actions.")
else:
    if mode == "claude" and (cost := turn.turn_estimate(user)):
        st.caption(md_escape(cost))
    prompt = st.chat_input("Ask mlTrainer…", key="chat_prompt")
    if prompt:
        try:
            turn.check_message(prompt)  # too long: refused before a conversation exists
            if conversation is None:
                conversation = conversations.start(user, prompt)
            # Started before anything is drawn: a rerun can stop this script at any
            # drawing call, and the turn must still reach its end.
            running = background.start_turn(user, conversation.id, prompt)
            st.session_state["conversation_id"] = conversation.id
            with st.chat_message("user"):
                user_text(prompt)
            stream_turn(running)
        except ActionError as error:
            st.error(md_escape(error))
        except Exception:  # noqa: BLE001 - logged by the turn; never a raw traceback here
            st.error("Something went wrong while answering. Try again; the server log has details.")
        else:
            st.rerun()
