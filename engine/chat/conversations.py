"""Conversation access rules, checked here for every caller (pages only draw).

Analysts and admins own conversations; admins may read and delete any; viewers may
read every conversation (it is the team's record) but cannot post or start actions.
"""

from __future__ import annotations

from engine.actions.base import ActionError, PermissionDenied
from engine.actions.context import UserRef
from storage.repositories import conversations as repo

TITLE_LENGTH = 60


def _can_read(user: UserRef, conversation: repo.ConversationRecord) -> bool:
    return user.role in ("admin", "viewer") or conversation.user_id == user.id


def get(user: UserRef, conversation_id: int) -> repo.ConversationRecord:
    conversation = repo.get_conversation(conversation_id)
    if conversation is None:
        raise ActionError(f"Conversation {conversation_id} does not exist.")
    if not _can_read(user, conversation):
        raise PermissionDenied("This conversation belongs to another user.")
    return conversation


def require_writer(user: UserRef, conversation: repo.ConversationRecord | None = None) -> None:
    if user.role == "viewer":
        raise PermissionDenied("Viewers can read conversations but cannot start actions.")
    if conversation is not None and conversation.user_id != user.id and user.role != "admin":
        raise PermissionDenied("This conversation belongs to another user.")


def listing(user: UserRef, search: str | None = None) -> list[repo.ConversationRecord]:
    owner = None if user.role in ("admin", "viewer") else user.id
    return repo.list_conversations(owner, search=search or None)


def start(user: UserRef, first_message: str | None = None) -> repo.ConversationRecord:
    require_writer(user)
    title = (first_message or "New conversation").strip().splitlines()[0][:TITLE_LENGTH]
    return repo.create_conversation(user.id, title or "New conversation")


def rename(user: UserRef, conversation_id: int, title: str) -> None:
    conversation = get(user, conversation_id)
    require_writer(user, conversation)
    if not title.strip():
        raise ActionError("A title cannot be empty.")
    repo.rename_conversation(conversation_id, title.strip())


def delete(user: UserRef, conversation_id: int) -> None:
    conversation = get(user, conversation_id)
    require_writer(user, conversation)
    repo.delete_conversation(conversation_id)


def messages(user: UserRef, conversation_id: int, limit: int | None = None):
    get(user, conversation_id)
    return repo.list_messages(conversation_id, limit=limit, newest=limit is not None)


def pin(user: UserRef, conversation_id: int, message_id: int, pinned: bool) -> None:
    conversation = get(user, conversation_id)
    require_writer(user, conversation)
    repo.set_pinned(message_id, pinned)


def usage_report(actor: UserRef) -> list[dict]:
    """Claude token usage and latency per user (admins only)."""
    if actor.role != "admin":
        raise PermissionDenied("Only administrators can see usage.")
    from storage.repositories.users import get_user_by_id

    rows = repo.usage_by_user()
    for row in rows:
        user = get_user_by_id(row["user_id"])
        row["user"] = user.username if user else f"#{row['user_id']}"
    return rows
