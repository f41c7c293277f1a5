"""One chat turn: the user's message in, action calls and a reply out, all persisted.

Claude (when a key is set) or the offline planner decides which actions to call;
both go through `engine.actions.call`, so permissions, validation, policy and job
records are the same as for every other caller. Actions that need confirmation are
recorded as pending and run only when the user confirms in the UI: those that always
need it, runs whose estimate would cross a budget, and long work (training, tuning,
backtests, goal loops) estimated over ``MLTRAINER_CHAT_CONFIRM_SECONDS`` of wall time or
calling Claude, shown with its estimate. A pending call carries a token (an HMAC over
the requesting user, the action and its parameters): only that user can confirm it, and
only with those parameters.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.actions import ActionError, CallOutcome, call, get_action
from engine.actions.base import NeedsConfirmation
from engine.actions.context import UserRef
from engine.chat import conversations
from engine.chat.citations import TurnSources, check_reply, result_id
from engine.usage.budgets import scopes_for, spent_line
from engine.usage.meter import charge_llm
from storage.repositories import conversations as repo

log = logging.getLogger("mltrainer.chat")
# The budgets a chat turn spends (a spent CPU budget does not silence the chat).
CLAUDE_RESOURCES = ("tokens", "dollars")


@dataclass
class TurnEvent:
    """What the page draws as the turn unfolds."""

    # text | tool_start (an action is about to run) | tool (it was called: ``outcome``) |
    # confirm | error | waiting | done
    kind: str
    text: str = ""
    message_id: int | None = None
    action: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    outcome: CallOutcome | None = None


def mode_for(requested: str = "auto") -> str:
    from engine.config import get_settings

    if requested == "offline":
        return "offline"
    return "claude" if get_settings().anthropic_api_key else "offline"


def record_tool_call(
    user: UserRef,
    conversation_id: int,
    action: str,
    params: dict[str, Any],
    *,
    confirmed: bool = False,
) -> tuple[repo.MessageRecord, CallOutcome | None, str | None]:
    """Run one action for the chat and store it as a `tool` message."""
    from engine.config import get_settings

    payload: dict[str, Any] = {"action": action, "params": params}
    confirm_over = None if confirmed else get_settings().chat_confirm_seconds
    try:
        outcome = call(action, params, user, confirmed=confirmed, confirm_over=confirm_over)
    except NeedsConfirmation as pending:
        payload["status"] = "awaiting_confirmation"
        payload["requested_by"] = user.id
        payload["confirm_token"] = confirmation_token(user, action, params)
        estimate = confirmation_estimate(pending, action, params, user)
        if estimate is not None:
            payload["estimate"] = estimate
        message = repo.add_message(conversation_id, "tool", str(pending), payload=payload)
        return message, None, str(pending)
    except ActionError as error:
        payload.update(status="refused", error=str(error))
        message = repo.add_message(conversation_id, "tool", str(error), payload=payload)
        return message, None, str(error)
    payload.update(status=outcome.status, job_id=outcome.job_id, error=outcome.error)
    content = outcome.result.summary if outcome.result else (outcome.error or outcome.status)
    message = repo.add_message(
        conversation_id, "tool", content, payload=payload, job_id=outcome.job_id
    )
    return message, outcome, outcome.error


def confirmation_estimate(
    pending: NeedsConfirmation, action: str, params: dict[str, Any], user: UserRef
) -> dict[str, Any] | None:
    """The estimate shown with a confirmation of long work: the one the budget check
    made, else one made now (None for quick actions, or when none can be made)."""
    from engine.usage.budgets import BudgetConfirmation

    if isinstance(pending, BudgetConfirmation) and pending.estimate is not None:
        return pending.estimate
    try:
        if not get_action(action).long:
            return None
        from engine.usage.estimate import estimate_call

        return estimate_call(action, params, user).to_json()
    except Exception:  # noqa: BLE001 - no estimate: the confirmation still stands
        log.info("no estimate for the pending %s", action, exc_info=True)
        return None


def confirmation_token(user: UserRef, action: str, params: dict[str, Any]) -> str:
    """What ties a pending call to the user who asked for it and to its exact
    parameters (keyed with the server's cookie key, so no client can make one)."""
    from engine.config import get_settings

    message = json.dumps(
        {"user": user.id, "action": action, "params": params}, sort_keys=True, default=str
    )
    key = get_settings().cookie_key.encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def describe_estimate(estimate: dict[str, Any]) -> str:
    """A stored estimate as the confirmation step shows it: wall time, CPU, Claude
    tokens and dollars when it calls Claude, and what it rests on."""
    from engine.usage.estimate import PRIOR_RECORDS, format_duration

    records = int(estimate.get("records") or 0)
    bound = "at most " if estimate.get("upper_bound") else "~"
    parts = [
        f"{bound}{format_duration(float(estimate.get('wall_seconds') or 0.0))} wall time",
        f"{format_duration(float(estimate.get('cpu_seconds') or 0.0))} CPU",
    ]
    if estimate.get("tokens"):
        dollars = float(estimate.get("dollars") or 0.0)
        parts.append(f"~{int(estimate['tokens']):,} Claude tokens (${dollars:,.2f})")
    if records >= PRIOR_RECORDS:
        source = f"from {records} recorded runs"
    else:
        source = f"mostly from the prior ({records} recorded run{'s' if records != 1 else ''})"
    text = f"Estimate: {', '.join(parts)}; {source}."
    if estimate.get("basis"):
        text += f" Basis: {estimate['basis']}."
    return text


def turn_estimate(user: UserRef) -> str | None:
    """What one Claude chat turn of ``user`` is expected to cost (tokens, dollars)."""
    from engine.config import get_settings
    from engine.usage.estimate import chat_turn_estimate

    try:
        estimate = chat_turn_estimate(user.id, get_settings().claude_model)
    except Exception:  # noqa: BLE001 - a caption, never a reason to fail the page
        log.info("no chat turn estimate", exc_info=True)
        return None
    return (
        f"A Claude turn costs ~{estimate.tokens:,} tokens (${estimate.dollars:,.3f}); "
        f"{estimate.basis}."
    )


def confirm_pending(user: UserRef, conversation_id: int, message_id: int) -> TurnEvent:
    """Run an action the user has just confirmed; the pending message records the answer."""
    conversation = conversations.get(user, conversation_id)
    conversations.require_writer(user, conversation)
    pending = next((m for m in repo.list_messages(conversation_id) if m.id == message_id), None)
    payload = pending.payload if pending is not None else None
    if payload is None or payload.get("status") != "awaiting_confirmation":
        raise ActionError("There is nothing waiting for confirmation here.")
    action, params = payload["action"], payload.get("params", {})
    token = payload.get("confirm_token")
    if not isinstance(token, str) or not hmac.compare_digest(
        token, confirmation_token(user, action, params)
    ):
        # another user's request, or parameters changed since it was asked for
        raise ActionError(
            "Only the person who asked for this can confirm it, with the parameters it "
            "was asked with. Ask for it again to run it."
        )
    if not repo.transition_message_status(
        message_id, "awaiting_confirmation", {**payload, "status": "confirmed"}
    ):  # a second click (or tab) confirmed or cancelled it first
        raise ActionError("There is nothing waiting for confirmation here.")
    message, outcome, error = record_tool_call(
        user, conversation_id, action, params, confirmed=True
    )
    return TurnEvent("tool", error or "", message.id, action, params, outcome)


def decline_pending(user: UserRef, conversation_id: int, message_id: int) -> None:
    conversation = conversations.get(user, conversation_id)
    conversations.require_writer(user, conversation)
    for message in repo.list_messages(conversation_id):
        payload = message.payload or {}
        if message.id == message_id and payload.get("status") == "awaiting_confirmation":
            if payload.get("requested_by") not in (None, user.id):
                raise ActionError("Only the person who asked for this can cancel it.")
            repo.transition_message_status(
                message_id, "awaiting_confirmation", {**payload, "status": "declined"}
            )


# How far back the offline planner looks for the call a follow-up builds on, or the
# result a question asks about.
RECENT_MESSAGES = 60


def previous_offline_plan(conversation_id: int) -> Any:
    """The conversation's latest offline plan that made calls, for follow-ups ("and the
    put?", "same for MSFT"), rebuilt from the reply's stored payload."""
    from engine.llm.planner import Plan, PlannedCall

    for message in reversed(
        repo.list_messages(conversation_id, limit=RECENT_MESSAGES, newest=True)
    ):
        payload = message.payload or {}
        if (
            message.role == "assistant"
            and payload.get("mode") == "offline"
            and payload.get("calls")
        ):
            calls = [
                PlannedCall(c["action"], dict(c.get("params") or {})) for c in payload["calls"]
            ]
            return Plan(calls=calls, request=str(payload.get("request") or ""))
    return None


def recall_reply(conversation_id: int, action: str) -> tuple[str, repo.MessageRecord | None]:
    """'What did the last backtest return?': the latest recorded result of ``action`` in
    this conversation, as it was stored (nothing is re-run)."""
    from engine.actions import get_action

    for message in reversed(
        repo.list_messages(conversation_id, limit=RECENT_MESSAGES, newest=True)
    ):
        payload = message.payload or {}
        if message.role != "tool" or payload.get("action") != action:
            continue
        from engine.chat import statuses

        [message] = statuses.settle([message])  # a job that has ended since: its result
        payload = message.payload or {}
        params = ", ".join(f"{k}={v!r}" for k, v in (payload.get("params") or {}).items())
        status = payload.get("status")
        if status == "succeeded":
            return f"The last {action} ({params}) returned: {message.content}", message
        job = f" (job {message.job_id})" if message.job_id else ""
        return f"The last {action} ({params}) is {status}{job}: {message.content}", message
    try:
        title = get_action(action).name
    except KeyError:
        title = action
    return f"There is no earlier {title} result in this conversation to report.", None


def run_offline_turn(user: UserRef, conversation_id: int, text: str) -> Iterator[TurnEvent]:
    from engine.llm.planner import plan

    started = time.perf_counter()
    planned = plan(text, previous=previous_offline_plan(conversation_id))
    sources = TurnSources()
    message_text = planned.message
    if planned.recall:
        message_text, recalled = recall_reply(conversation_id, planned.recall)
        if recalled is not None:
            payload = recalled.payload or {}
            sources.references.add_text(recalled.content, result_id(recalled.job_id))
            sources.references.add_payload(payload.get("params") or {}, result_id(recalled.job_id))
    # The reply says what was understood before the results it led to.
    reply = repo.add_message(
        conversation_id,
        "assistant",
        message_text,
        payload={
            "mode": "offline",
            "understood": planned.understood,
            "request": planned.request,
            "calls": [{"action": c.action, "params": c.params} for c in planned.calls],
            "not_understood": planned.not_understood,
        },
        latency_ms=(time.perf_counter() - started) * 1000,
    )
    yield TurnEvent("text", message_text, reply.id)
    for planned_call in planned.calls:
        yield TurnEvent("tool_start", action=planned_call.action, params=planned_call.params)
        message, outcome, error = record_tool_call(
            user, conversation_id, planned_call.action, planned_call.params
        )
        sources.add_outcome(outcome, planned_call.params)
        kind = (
            "confirm"
            if (message.payload or {}).get("status") == "awaiting_confirmation"
            else "tool"
        )
        yield TurnEvent(
            kind, error or "", message.id, planned_call.action, planned_call.params, outcome
        )
    verdict = check_reply(message_text, sources, request=text, mode="offline")
    repo.update_message_payload(reply.id, {**(reply.payload or {}), "verification": verdict})
    yield TurnEvent("done", message_id=reply.id)


class ClaudeUnavailableForChat(ActionError):
    """Claude could not answer this turn; the page offers the offline planner instead."""


def run_claude_turn(user: UserRef, conversation_id: int, text: str) -> Iterator[TurnEvent]:
    from engine.llm.claude import ClaudeChat, ClaudeUnavailable, ToolOutcome
    from engine.memory import build_context

    window = build_context(conversation_id, text)
    window.recent = [m for m in window.recent if not (m.role == "user" and m.content == text)]
    history = window.as_messages()
    tool_events: list[TurnEvent] = []
    tool_message_ids: list[int] = []

    def execute_tool(name: str, tool_input: dict[str, Any]) -> ToolOutcome:
        message, outcome, error = record_tool_call(user, conversation_id, name, tool_input)
        tool_message_ids.append(message.id)
        awaiting = (message.payload or {}).get("status") == "awaiting_confirmation"
        tool_events.append(
            TurnEvent(
                "confirm" if awaiting else "tool",
                error or "",
                message.id,
                name,
                tool_input,
                outcome,
            )
        )
        if awaiting:
            return ToolOutcome.awaiting_confirmation(name, tool_input, error)
        if outcome is None:
            return ToolOutcome.failure(error or "refused", name=name)
        return ToolOutcome.from_call(outcome)

    chunks: list[str] = []
    notices: list[str] = []
    sources = TurnSources()
    usage: dict[str, Any] = {}
    latency_ms = None
    chat = ClaudeChat()
    scopes = scopes_for(user.id, None, user.username)
    spent = spent_line(scopes, CLAUDE_RESOURCES)
    if spent is not None:  # checked here, on the server, before any request
        refusal = f"Not sent to Claude: {spent}. It resets at midnight UTC."
        reply = repo.add_message(
            conversation_id,
            "assistant",
            refusal,
            payload={"mode": "claude", "error": "budget_exhausted"},
        )
        yield TurnEvent("text", refusal, reply.id)
        yield TurnEvent("done", message_id=reply.id)
        return

    def spend(request_usage: Any) -> str | None:
        """Record one request's tokens (from the API's usage) and say whether a budget
        is now spent."""
        charge_llm(
            source="chat",
            model=chat.model,
            usage=request_usage or {},
            user_id=user.id,
            count_tokens=False,  # the client counts the chat's tokens itself
        )
        return spent_line(scopes, CLAUDE_RESOURCES) if scopes else None

    try:
        for event in chat.run_turn(history, text, user, execute_tool, spend=spend):
            if event.kind in ("text", "notice"):
                piece = event.text if event.kind == "text" else f"\n\n_{event.text}_\n\n"
                chunks.append(piece)
                if event.kind == "notice":
                    notices.append(event.text)
                yield TurnEvent("text", piece)
            elif event.kind == "tool_call":
                yield TurnEvent("tool_start", action=event.name, params=event.input or {})
            elif event.kind == "tool_result":
                if event.outcome is not None:
                    sources.add_tool_result(event.outcome.content_for_claude, event.input)
                while tool_events:
                    yield tool_events.pop(0)
            elif event.kind == "done":
                usage = event.usage.to_dict() if event.usage else {}
                latency_ms = (event.latency_s or 0) * 1000
    except Exception as error:  # noqa: BLE001 - the user's message must get an answer
        if not isinstance(error, ClaudeUnavailable):
            log.exception("Claude turn failed in conversation %s", conversation_id)
            error = ClaudeUnavailable(
                f"Something went wrong while Claude was answering ({type(error).__name__}).",
                reason="internal",
            )
        repo.add_message(
            conversation_id,
            "assistant",
            f"Claude is unavailable: {error}",
            payload={"mode": "claude", "error": getattr(error, "reason", "")},
        )
        raise ClaudeUnavailableForChat(
            f"{error} You can answer this request with the offline planner instead."
        ) from None
    reply_text = "".join(chunks)
    if not reply_text.strip():
        # No empty bubble: the tool messages are the answer, or the user is told.
        yield from tool_events
        if tool_message_ids:
            yield TurnEvent("done", message_id=tool_message_ids[-1])
            return
        reply_text = "_Claude sent an empty reply. Try rephrasing the request._"
        yield TurnEvent("text", reply_text)
        tool_events = []
    verdict = check_reply(
        reply_text, sources, request=text, mode="claude", platform_text="\n".join(notices)
    )
    reply = repo.add_message(
        conversation_id,
        "assistant",
        reply_text,
        payload={"mode": "claude", "model": chat.model, **usage, "verification": verdict},
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        latency_ms=latency_ms,
    )
    yield from tool_events
    yield TurnEvent("done", message_id=reply.id)


def answer_offline(user: UserRef, conversation_id: int) -> Iterator[TurnEvent]:
    """Answer the conversation's last user message with the offline planner."""
    conversation = conversations.get(user, conversation_id)
    conversations.require_writer(user, conversation)
    last = next(
        (m for m in reversed(repo.list_messages(conversation_id)) if m.role == "user"), None
    )
    if last is None:
        raise ActionError("There is no request to answer.")
    yield from run_offline_turn(user, conversation_id, last.content)


def check_message(text: str) -> str:
    """The message a turn answers (stripped); an empty one, or one longer than
    ``MLTRAINER_CHAT_MAX_CHARS``, is refused whole before anything is stored or sent
    (never silently cut)."""
    from engine.config import get_settings

    text = text.strip()
    if not text:
        raise ActionError("Type a request first.")
    limit = get_settings().chat_max_chars
    if len(text) > limit:
        raise ActionError(
            f"This message is {len(text):,} characters; the chat accepts up to {limit:,}. "
            "Shorten it or split it into several requests (upload long data as a dataset)."
        )
    return text


def send(
    user: UserRef, conversation_id: int, text: str, *, mode: str = "auto"
) -> Iterator[TurnEvent]:
    """Store the user's message and run the turn; yields events as they happen."""
    conversation = conversations.get(user, conversation_id)
    conversations.require_writer(user, conversation)
    text = check_message(text)
    repo.add_message(conversation_id, "user", text)
    if mode_for(mode) == "claude":
        yield from run_claude_turn(user, conversation_id, text)
    else:
        yield from run_offline_turn(user, conversation_id, text)


def pending_confirmations(messages: list[repo.MessageRecord]) -> list[repo.MessageRecord]:
    return [m for m in messages if (m.payload or {}).get("status") == "awaiting_confirmation"]


def action_needs_confirmation(name: str) -> bool:
    try:
        return get_action(name).needs_confirmation
    except KeyError:
        return False
