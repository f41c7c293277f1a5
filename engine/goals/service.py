"""Goal life cycle and access rules (pages and actions both call these)."""

from __future__ import annotations

from engine.actions.base import ActionError, PermissionDenied
from engine.actions.context import UserRef
from engine.auth import permissions
from engine.goals.spec import GoalSpec
from storage.repositories import goals as repo

TRANSITIONS = {
    "start": (("paused", "active", "budget_exhausted"), "active"),
    "pause": (("active",), "paused"),
    "resume": (("paused", "budget_exhausted"), "active"),
    "stop": (("active", "paused", "budget_exhausted"), "stopped"),
}


KIND = "goal"


def get(user: UserRef, goal_id: int) -> repo.GoalRecord:
    """The goal if ``user`` may read it; a missing goal and one that is not visible answer
    alike ("does not exist or is not visible to you")."""
    goal = repo.get_goal(goal_id)
    if goal is None or not permissions.can_read(user, KIND, goal.user_id):
        raise ActionError(permissions.not_found(KIND, goal_id))
    return goal


def require_owner(user: UserRef, goal: repo.GoalRecord) -> None:
    """``user`` may change ``goal`` (its owner or an admin; viewers never)."""
    if not permissions.can_write(user):
        raise PermissionDenied("Viewers can read goals but cannot change them.")
    permissions.require(
        user,
        "write",
        permissions.Resource.owned(KIND, goal.user_id),
        "This goal belongs to another user.",
    )


def create(user: UserRef, spec: GoalSpec) -> repo.GoalRecord:
    if not permissions.can_write(user):
        raise PermissionDenied("Viewers cannot create goals.")
    payload = spec.model_dump(mode="json", exclude={"name", "notes"})
    return repo.create_goal(user.id, spec.name, payload, spec.notes)


def update(user: UserRef, goal_id: int, spec: GoalSpec) -> repo.GoalRecord:
    goal = get(user, goal_id)
    require_owner(user, goal)
    repo.update_goal(
        goal_id,
        name=spec.name,
        notes=spec.notes,
        spec=spec.model_dump(mode="json", exclude={"name", "notes"}),
    )
    updated = repo.get_goal(goal_id)
    if updated is None:
        raise ActionError(f"Goal {goal_id} was deleted meanwhile.")
    return updated


def spec_of(goal: repo.GoalRecord) -> GoalSpec:
    return GoalSpec.model_validate({**goal.spec, "name": goal.name, "notes": goal.notes})


def transition(user: UserRef, goal_id: int, command: str, reason: str | None = None) -> str:
    goal = get(user, goal_id)
    require_owner(user, goal)
    if command not in TRANSITIONS:
        raise ActionError(f"Unknown goal command '{command}'.")
    allowed_from, target = TRANSITIONS[command]
    fields = {"stop_reason": reason or f"{command} by {user.username}"} if command == "stop" else {}
    if not repo.set_status_if(goal_id, allowed_from, target, **fields):
        raise ActionError(f"Cannot {command} a goal that is {goal.status}.")
    return target


def listing(user: UserRef, status: str | None = None) -> list[repo.GoalRecord]:
    return repo.list_goals(permissions.scope_for(user, KIND), status=status)


def trials(user: UserRef, goal_id: int):
    """The trials run for a goal, oldest first."""
    from storage.repositories.trials import trials_for_goal

    get(user, goal_id)
    return trials_for_goal(goal_id)
