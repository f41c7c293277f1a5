"""Chat: talk to Claude (or the offline planner); requests become action calls."""

from __future__ import annotations

from functools import partial

import streamlit as st

from engine.actions import ActionError
from engine.chat import background, conversations, turn
from engine.chat.export import export_script, recorded_calls
from ui.claims import reply_markdown
from ui.jobs import render_job
from ui.reproduce import bundle_button, notebook_button
from ui.session import has_role, require_user
from ui.text import md_escape, stream_model_markdown, user_text

PAGE_SIZE = 20  # latest messages drawn; "Show earlier messages" adds as many again
FULL_RESULTS = 1  # older results show their summary; details on request
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
def draw_message(message, full: bool) -> None:
    payload = message.payload or {}
    if message.role == "user":
        with st.chat_message("user"):
            user_text(message.content)
    elif message.role == "assistant":
        if not message.content.strip():  # stored by older versions; nothing to show
            return
        with st.chat_message("assistant"):
            reply_markdown(message.content, payload.get("verification"))
    elif message.role == "tool":
        with st.chat_message("assistant", avatar=":material/build:"):
            action = payload.get("action", "action")
            cited_as = f"R{payload['job_id']} · " if payload.get("job_id") else ""
            st.caption(md_escape(f"{cited_as}{action} · {payload.get('status', '')}"))
            with st.expander("Parameters", expanded=False):
                st.json(payload.get("params", {}))
            status = payload.get("status")
            if status == "awaiting_confirmation":
                st.warning(f"'{md_escape(action)}' needs your confirmation before it runs.")
                if estimate := payload.get("estimate"):  # long work: what it would cost
                    st.caption(md_escape(f"{message.content} ({estimate.get('basis')})"))
                if can_write:
                    yes, no = st.columns(2)
                    if yes.button("Confirm", key=f"confirm-{message.id}", type="primary"):
                        turn.confirm_pending(user, message.conversation_id, message.id)
                        st.rerun()
                    if no.button("Decline", key=f"decline-{message.id}"):
                        turn.decline_pending(user, message.conversation_id, message.id)
                        st.rerun()
            elif status == "refused":
                st.error(md_escape(payload.get("error") or message.content))
            elif payload.get("job_id"):
                if full or st.toggle("Show result", key=f"show-{message.id}"):
                    render_job(payload["job_id"], key=f"msg-{message.id}")
                else:
                    st.text(message.content)


if conversation:
    total = turn.repo.count_messages(conversation.id)
    shown = st.session_state.get("shown_messages", PAGE_SIZE)
    if total > shown and st.button(f"Show earlier messages ({total - shown} more)"):
        st.session_state["shown_messages"] = shown + PAGE_SIZE
        st.rerun()
    history = conversations.messages(user, conversation.id, limit=shown)
    tool_ids = [m.id for m in history if m.role == "tool"]
    recent_tools = set(tool_ids[-FULL_RESULTS:])
    for message in history:
        draw_message(message, full=message.id in recent_tools)
    if background.in_progress(conversation.id):
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
            if conversation is None:
                conversation = conversations.start(user, prompt)
            # Started before anything is drawn: a rerun can stop this script at any
            # drawing call, and the turn must still reach its end.
            running = background.start_turn(user, conversation.id, prompt)
            st.session_state["conversation_id"] = conversation.id
            with st.chat_message("user"):
                user_text(prompt)
            with st.chat_message("assistant"):
                activity = st.status("Working…", expanded=False)

                def reply_text():
                    for event in running.events(tick=1.0):
                        if event.kind == "text":
                            yield event.text
                        elif event.kind == "waiting":
                            activity.update(label=f"Working… {running.elapsed:.0f} s")
                        elif event.kind in ("tool", "confirm"):
                            activity.write(md_escape(f"{event.action}: {event.text or 'started'}"))

                try:
                    stream_model_markdown(reply_text())
                except Exception:
                    activity.update(label=f"Stopped after {running.elapsed:.0f} s", state="error")
                    raise
                activity.update(label=f"Done in {running.elapsed:.0f} s", state="complete")
        except ActionError as error:
            st.error(md_escape(error))
        except Exception:  # noqa: BLE001 - logged by the turn; never a raw traceback here
            st.error("Something went wrong while answering. Try again; the server log has details.")
        else:
            st.rerun()
