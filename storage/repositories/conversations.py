"""Conversations and their messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from storage.access import OwnerScope
from storage.db import rows_matched, session_scope
from storage.models import ChatMessage, Conversation, utcnow


@dataclass(frozen=True)
class ConversationRecord:
    id: int
    user_id: int
    title: str
    summary: str | None
    summary_upto_id: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MessageRecord:
    id: int
    conversation_id: int
    role: str
    content: str
    payload: dict[str, Any] | None
    job_id: int | None
    pinned: bool
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float | None
    created_at: datetime


def _conversation(row: Conversation) -> ConversationRecord:
    return ConversationRecord(
        row.id,
        row.user_id,
        row.title,
        row.summary,
        row.summary_upto_id,
        row.created_at,
        row.updated_at,
    )


def _message(row: ChatMessage) -> MessageRecord:
    return MessageRecord(
        row.id,
        row.conversation_id,
        row.role,
        row.content,
        row.payload,
        row.job_id,
        row.pinned,
        row.input_tokens,
        row.output_tokens,
        row.latency_ms,
        row.created_at,
    )


def create_conversation(user_id: int, title: str) -> ConversationRecord:
    with session_scope() as session:
        row = Conversation(user_id=user_id, title=title[:200])
        session.add(row)
        session.flush()
        return _conversation(row)


def get_conversation(conversation_id: int) -> ConversationRecord | None:
    with session_scope() as session:
        row = session.get(Conversation, conversation_id)
        return _conversation(row) if row else None


def list_conversations(
    scope: OwnerScope, search: str | None = None, limit: int = 100
) -> list[ConversationRecord]:
    """Newest first, of the conversations ``scope`` admits; ``search`` matches titles and
    message text (case-insensitive)."""
    with session_scope() as session:
        query = select(Conversation).order_by(Conversation.updated_at.desc()).limit(limit)
        owned = scope.where(Conversation.user_id)
        if owned is not None:
            query = query.where(owned)
        if search:
            pattern = f"%{search.lower()}%"
            matching = select(ChatMessage.conversation_id).where(
                func.lower(ChatMessage.content).like(pattern)
            )
            query = query.where(
                or_(func.lower(Conversation.title).like(pattern), Conversation.id.in_(matching))
            )
        return [_conversation(row) for row in session.scalars(query)]


def rename_conversation(conversation_id: int, title: str) -> None:
    with session_scope() as session:
        session.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(title=title[:200])
        )


def delete_conversation(conversation_id: int) -> None:
    with session_scope() as session:
        session.execute(delete(ChatMessage).where(ChatMessage.conversation_id == conversation_id))
        session.execute(delete(Conversation).where(Conversation.id == conversation_id))


def add_message(
    conversation_id: int,
    role: str,
    content: str,
    *,
    payload: dict[str, Any] | None = None,
    job_id: int | None = None,
    pinned: bool = False,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    latency_ms: float | None = None,
) -> MessageRecord:
    with session_scope() as session:
        row = ChatMessage(
            conversation_id=conversation_id,
            role=role,
            content=content,
            payload=payload,
            job_id=job_id,
            pinned=pinned,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=latency_ms,
        )
        session.add(row)
        session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(updated_at=utcnow())
        )
        session.flush()
        return _message(row)


def update_message_payload(
    message_id: int, payload: dict[str, Any], *, content: str | None = None
) -> None:
    """Replace a message's payload (and its text, when ``content`` is given)."""
    values: dict[str, Any] = {"payload": payload}
    if content is not None:
        values["content"] = content
    with session_scope() as session:
        session.execute(update(ChatMessage).where(ChatMessage.id == message_id).values(**values))


def transition_message_status(message_id: int, expected: str, payload: dict[str, Any]) -> bool:
    """Replace a message's payload only while its ``status`` is still ``expected``, in one
    conditional UPDATE: of two requests racing to confirm (or cancel) the same pending
    call, exactly one gets True."""
    with session_scope() as session:
        changed = rows_matched(
            session.execute(
                update(ChatMessage)
                .where(
                    ChatMessage.id == message_id,
                    ChatMessage.payload["status"].as_string() == expected,
                )
                .values(payload=payload)
            )
        )
        return bool(changed)


def set_pinned(conversation_id: int, message_id: int, pinned: bool) -> bool:
    """Pin or unpin a message *of that conversation*; False (nothing changed) when the
    message does not exist or belongs to another conversation."""
    with session_scope() as session:
        changed = rows_matched(
            session.execute(
                update(ChatMessage)
                .where(ChatMessage.id == message_id, ChatMessage.conversation_id == conversation_id)
                .values(pinned=pinned)
            )
        )
        return bool(changed)


def list_messages(
    conversation_id: int,
    *,
    after_id: int | None = None,
    limit: int | None = None,
    newest: bool = False,
) -> list[MessageRecord]:
    """Messages in order; ``newest`` with ``limit`` gives the last ``limit`` messages."""
    with session_scope() as session:
        query = select(ChatMessage).where(ChatMessage.conversation_id == conversation_id)
        if after_id is not None:
            query = query.where(ChatMessage.id > after_id)
        if newest and limit:
            rows = list(session.scalars(query.order_by(ChatMessage.id.desc()).limit(limit)))
            rows.reverse()
        else:
            query = query.order_by(ChatMessage.id)
            if limit:
                query = query.limit(limit)
            rows = list(session.scalars(query))
        return [_message(row) for row in rows]


def count_messages(conversation_id: int) -> int:
    with session_scope() as session:
        return (
            session.scalar(
                select(func.count()).where(ChatMessage.conversation_id == conversation_id)
            )
            or 0
        )


def save_summary(conversation_id: int, summary: str, upto_id: int) -> None:
    with session_scope() as session:
        session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(summary=summary, summary_upto_id=upto_id)
        )


def usage_by_user(limit: int = 100) -> list[dict[str, Any]]:
    """Token usage and latency of Claude replies per user (admin page)."""
    with session_scope() as session:
        rows = session.execute(
            select(
                Conversation.user_id,
                func.count(ChatMessage.id),
                func.coalesce(func.sum(ChatMessage.input_tokens), 0),
                func.coalesce(func.sum(ChatMessage.output_tokens), 0),
                func.avg(ChatMessage.latency_ms),
            )
            .join(Conversation, Conversation.id == ChatMessage.conversation_id)
            .where(ChatMessage.role == "assistant", ChatMessage.input_tokens.is_not(None))
            .group_by(Conversation.user_id)
            .limit(limit)
        )
        return [
            {"user_id": u, "replies": n, "input_tokens": i, "output_tokens": o, "avg_latency_ms": a}
            for u, n, i, o, a in rows
        ]
