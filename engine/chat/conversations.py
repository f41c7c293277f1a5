"""Conversation access rules, checked here for every caller (pages only draw).

Analysts and admins own conversations; admins may read and delete any; viewers may
read every conversation (it is the team's record) but cannot post or start actions.
"""

from __future__ import annotations

from engine.actions.base import ActionError, PermissionDenied
from engine.actions.context import UserRef
from engine.auth import permissions
from storage.repositories import conversations as repo

TITLE_LENGTH = 60
KIND = "conversation"


def get(user: UserRef, conversation_id: int) -> repo.ConversationRecord:
    """The conversation if ``user`` may read it; a missing one and another analyst's one
    answer alike (``PermissionDenied``, "does not exist or is not visible to you")."""
    conversation = repo.get_conversation(conversation_id)
    if conversation is None or not permissions.can_read(user, KIND, conversation.user_id):
        raise PermissionDenied(permissions.not_found(KIND, conversation_id))
    return conversation


def require_writer(user: UserRef, conversation: repo.ConversationRecord | None = None) -> None:
    """``user`` may post (start actions) at all, and in ``conversation`` when given."""
    if not permissions.can_write(user):
        raise PermissionDenied("Viewers can read conversations but cannot start actions.")
    if conversation is not None:
        permissions.require(
            user,
            "write",
            permissions.Resource.owned(KIND, conversation.user_id),
            "This conversation belongs to another user.",
        )


def listing(user: UserRef, search: str | None = None) -> list[repo.ConversationRecord]:
    return repo.list_conversations(permissions.scope_for(user, KIND), search=search or None)


def start(user: UserRef, first_message: str | None = None) -> repo.ConversationRecord:
    require_writer(user)
    if user.id is None:
        raise ActionError("The built-in system user cannot hold conversations.")
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
    """Pin (or unpin) a message of a conversation ``user`` may write; the message must
    belong to that conversation (checked in the same UPDATE)."""
    conversation = get(user, conversation_id)
    require_writer(user, conversation)
    if not repo.set_pinned(conversation.id, message_id, pinned):
        raise ActionError(f"Message {message_id} is not in conversation {conversation_id}.")


def usage_report(actor: UserRef) -> list[dict]:
    """Claude token usage and latency per user (admins only)."""
    permissions.require(
        actor, "read", permissions.Resource.area("usage"), "Only administrators can see usage."
    )
    from storage.repositories.users import get_user_by_id

    rows = repo.usage_by_user()
    for row in rows:
        user = get_user_by_id(row["user_id"])
        row["user"] = user.username if user else f"#{row['user_id']}"
    return rows
