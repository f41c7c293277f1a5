"""Who may do what: the one module that compares roles.

``allowed(user, verb, resource)`` answers every permission question of the app:
actions (``run``), stored things a user owns (``read``/``write``), and admin-only
areas. ``scope_for(user, kind)`` gives the ownership filter that repositories apply
inside their listing queries, so a page never filters rows after loading them.

The rules (docs/security.md has the matrix, ``tests/foundation/test_permissions.py``
checks it):

- ``viewer`` reads the team's record (conversations, trials, goals, datasets, models)
  and may run read-only actions; it never creates, changes or spends quota.
- ``analyst`` reads and changes what it owns, plus shared rows (owner NULL) it may
  read; it runs analyst actions. Analysts do not see each other's rows.
- ``admin`` reads and changes everything and owns the admin areas.
- A job belongs to whoever started it: its owner (any role) or an admin may cancel it.
- A dynamic action's drafts belong to their author; approved versions are the
  catalogue every user sees (the repository adds ``status = 'approved'``).
- An upload belongs to its uploader; data from a provider is shared
  (:func:`dataset_owner`); ``engine.actions.call`` refuses a call naming a dataset the
  user may not read.

A row that exists but is not visible answers exactly like a missing one
(:func:`not_found`), so ids cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine.actions.base import PermissionDenied
from engine.actions.context import UserRef
from storage.access import PRIVATE_DATASET_SOURCES, OwnerScope

ROLES = ("viewer", "analyst", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}

Verb = Literal["run", "read", "write", "administer"]
OwnedKind = Literal["conversation", "trial", "job", "goal", "dataset", "dynamic_action", "model"]
OWNED_KINDS: tuple[str, ...] = (
    "conversation",
    "trial",
    "job",
    "goal",
    "dataset",
    "dynamic_action",
    "model",
)
# Areas only administrators enter (no owner): users, audit log, usage, approvals.
ADMIN_AREAS: tuple[str, ...] = ("users", "audit", "usage", "approvals", "all_jobs")
# Kinds whose rows every signed-in user may read, whoever made them; a job is
# private to its owner (its parameters may name another analyst's files).
TEAM_READABLE: frozenset[str] = frozenset({"conversation", "trial", "goal", "dataset", "model"})
# Kinds whose rows without an owner are not shared with analysts either (a system job,
# a draft nobody owns); admins see them.
PRIVATE_KINDS: frozenset[str] = frozenset({"conversation", "job", "dynamic_action"})


@dataclass(frozen=True)
class Resource:
    """What a permission question is about.

    - an action: ``Resource.action(name, min_role)``
    - a stored row: ``Resource.owned(kind, owner_id)`` (owner None: made by the system)
    - an admin area or a page: ``Resource.area(name)`` / ``Resource.page(path, min_role)``
    """

    kind: str
    owner_id: int | None = None
    name: str | None = None
    min_role: str | None = None

    @classmethod
    def action(cls, name: str, min_role: str) -> Resource:
        return cls("action", name=name, min_role=min_role)

    @classmethod
    def owned(cls, kind: str, owner_id: int | None) -> Resource:
        if kind not in OWNED_KINDS:
            raise ValueError(f"unknown resource kind {kind!r}")
        return cls(kind, owner_id=owner_id)

    @classmethod
    def area(cls, name: str) -> Resource:
        if name not in ADMIN_AREAS:
            raise ValueError(f"unknown admin area {name!r}")
        return cls("area", name=name, min_role="admin")

    @classmethod
    def page(cls, path: str, min_role: str) -> Resource:
        return cls("page", name=path, min_role=min_role)


def role_at_least(role: str | None, min_role: str) -> bool:
    """``role`` is ``min_role`` or above (unknown roles have none; unknown ``min_role``
    is a programming error)."""
    return ROLE_RANK.get(role or "", -1) >= ROLE_RANK[min_role]


def is_role(role: str) -> bool:
    """``role`` is one of :data:`ROLES`."""
    return role in ROLE_RANK


def has_role(user: UserRef | None, min_role: str) -> bool:
    """The user's role is ``min_role`` or above (unknown roles have none)."""
    if user is None:
        return False
    return role_at_least(user.role, min_role)


def is_viewer(user: UserRef | None) -> bool:
    """The user reads only (signed in with the lowest role)."""
    return user is not None and user.role == "viewer"


def is_admin(user: UserRef | None) -> bool:
    return has_role(user, "admin")


def can_write(user: UserRef | None) -> bool:
    """The user may create things at all (viewers never do)."""
    return has_role(user, "analyst")


def allowed(user: UserRef | None, verb: Verb, resource: Resource) -> bool:
    """The single permission question. Unknown verbs, kinds or roles answer False."""
    if user is None or user.role not in ROLE_RANK:
        return False
    if resource.kind == "action":
        return verb == "run" and has_role(user, resource.min_role or "admin")
    if resource.kind == "page":
        return verb == "read" and has_role(user, resource.min_role or "admin")
    if resource.kind == "area":
        return verb in ("read", "administer") and is_admin(user)
    if resource.kind not in OWNED_KINDS or verb not in ("read", "write"):
        return False
    if is_admin(user):
        return True
    owns = user.id is not None and resource.owner_id == user.id
    if verb == "write":
        # A job is its starter's request: they may cancel it whatever their role.
        # Other rows made by the system (owner None) are changed by admins only.
        return owns and (resource.kind == "job" or can_write(user))
    if owns:
        return True
    if is_viewer(user):
        return resource.kind in TEAM_READABLE
    # Analysts keep their research private from each other; rows made by the system
    # (bundled datasets, CLI goals) are shared, PRIVATE_KINDS never are.
    return resource.owner_id is None and _shared_kind(resource.kind)


def _shared_kind(kind: str) -> bool:
    return kind not in PRIVATE_KINDS


def require(
    user: UserRef | None, verb: Verb, resource: Resource, message: str | None = None
) -> None:
    """Raise ``PermissionDenied`` (with ``message`` or a generic one) unless allowed."""
    if not allowed(user, verb, resource):
        raise PermissionDenied(message or _default_message(user, verb, resource))


def _default_message(user: UserRef | None, verb: Verb, resource: Resource) -> str:
    role = user.role if user is not None else "signed out"
    if resource.kind == "action":
        return f"Your role '{role}' cannot run '{resource.name}' (needs {resource.min_role})."
    if resource.kind in ("area", "page"):
        return f"This needs the '{resource.min_role}' role; you are '{role}'."
    if verb == "write" and is_viewer(user):
        return "Viewers can read but cannot create or change anything."
    return f"This {resource.kind.replace('_', ' ')} does not exist or is not visible to you."


def not_found(kind: str, ident: object) -> str:
    """The one message for a row that is missing *or* not visible (never reveal which)."""
    if kind not in OWNED_KINDS:
        raise ValueError(f"unknown resource kind {kind!r}")
    return f"{kind.replace('_', ' ').capitalize()} {ident} does not exist or is not visible to you."


def can_read(user: UserRef | None, kind: str, owner_id: int | None) -> bool:
    return allowed(user, "read", Resource.owned(kind, owner_id))


def can_change(user: UserRef | None, kind: str, owner_id: int | None) -> bool:
    return allowed(user, "write", Resource.owned(kind, owner_id))


def dataset_owner(source: str, user_id: int | None) -> int | None:
    """Whose a dataset row is for access: an upload's uploader; nobody (shared) for data
    from a provider (see ``storage.access.PRIVATE_DATASET_SOURCES``)."""
    return user_id if source in PRIVATE_DATASET_SOURCES else None


def can_read_dataset(user: UserRef | None, source: str, user_id: int | None) -> bool:
    return can_read(user, "dataset", dataset_owner(source, user_id))


def scope_for(user: UserRef | None, kind: str) -> OwnerScope:
    """The rows of ``kind`` a listing may show ``user`` (applied inside the query).

    It agrees with ``allowed(user, "read", Resource.owned(kind, owner))`` row by row
    (``tests/foundation/test_permissions.py`` checks both against the same matrix).
    """
    if kind not in OWNED_KINDS:
        raise ValueError(f"unknown resource kind {kind!r}")
    if user is None or user.role not in ROLE_RANK:
        return OwnerScope(everyone=False, owner_id=None, include_shared=False)
    if is_admin(user) or (is_viewer(user) and kind in TEAM_READABLE):
        return OwnerScope(everyone=True)
    return OwnerScope(everyone=False, owner_id=user.id, include_shared=_shared_kind(kind))


def own_rows(user: UserRef | None, kind: str) -> OwnerScope:
    """Only the rows ``user`` owns ("my jobs"): narrower than :func:`scope_for`, never wider.
    The built-in system user (id None, admin) owns no rows of its own, so it gets its scope."""
    scope = scope_for(user, kind)
    if user is None or user.id is None or not scope.admits(user.id):
        return scope
    return OwnerScope(everyone=False, owner_id=user.id)


def history_of(owner_id: int | None) -> OwnerScope:
    """One owner's own rows (system rows when ``owner_id`` is None), for statistics about
    that owner's history — how many trials a goal's owner tried on its data — never a
    listing shown to anyone."""
    if owner_id is None:
        return OwnerScope(everyone=False, owner_id=None, include_shared=True)
    return OwnerScope(everyone=False, owner_id=owner_id)
