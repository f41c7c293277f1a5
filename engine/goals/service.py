"""Goal life cycle and access rules (pages and actions both call these)."""

from __future__ import annotations

from engine.actions.base import ActionError, PermissionDenied
from engine.actions.context import UserRef
from engine.goals.spec import GoalSpec
from storage.repositories import goals as repo

TRANSITIONS = {
    "start": (("paused", "active"), "active"),
    "pause": (("active",), "paused"),
    "resume": (("paused",), "active"),
    "stop": (("active", "paused"), "stopped"),
}


def get(user: UserRef, goal_id: int) -> repo.GoalRecord:
    goal = repo.get_goal(goal_id)
    if goal is None:
        raise ActionError(f"Goal {goal_id} does not exist.")
    return goal


def require_owner(user: UserRef, goal: repo.GoalRecord) -> None:
    if user.role == "viewer":
        raise PermissionDenied("Viewers can read goals but cannot change them.")
    if user.role != "admin" and goal.user_id not in (None, user.id):
        raise PermissionDenied("This goal belongs to another user.")


def create(user: UserRef, spec: GoalSpec) -> repo.GoalRecord:
    if user.role == "viewer":
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
    return repo.get_goal(goal_id)


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


def listing(user: UserRef) -> list[repo.GoalRecord]:
    return repo.list_goals(None if user.role in ("admin", "viewer") else user.id)


def trials(user: UserRef, goal_id: int):
    """The trials run for a goal, oldest first."""
    from storage.repositories.trials import trials_for_goal

    get(user, goal_id)
    return trials_for_goal(goal_id)
