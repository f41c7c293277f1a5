"""The permission matrix as text: what docs/security.md shows, generated from the code.

``python -m engine.auth.matrix`` prints the block that sits between the
``<!-- permission-matrix:start -->`` and ``<!-- permission-matrix:end -->`` markers of
docs/security.md; ``tests/foundation/test_permissions.py`` fails when the document and
the code disagree (a rule changed, an action was added or its ``min_role`` moved).
"""

from __future__ import annotations

from engine.actions.context import UserRef
from engine.auth.permissions import (
    ADMIN_AREAS,
    OWNED_KINDS,
    ROLES,
    Resource,
    Verb,
    allowed,
)

START = "<!-- permission-matrix:start -->"
END = "<!-- permission-matrix:end -->"

# Whose row a rule is asked about, seen from a user with id 1.
_OWNERS = (("own", 1), ("another user's", 2), ("shared (no owner)", None))


def _cell(role: str, verb: Verb, kind: str) -> str:
    user = UserRef(1, role, role)
    admitted = [
        label for label, owner in _OWNERS if allowed(user, verb, Resource.owned(kind, owner))
    ]
    if len(admitted) == len(_OWNERS):
        return "all"
    if not admitted:
        return "-"
    return " + ".join(label.split(" ")[0] for label in admitted)


def rules_table() -> str:
    """Roles x verbs x kinds of stored rows, then the admin areas."""
    header = "| kind | " + " | ".join(f"{role} read | {role} write" for role in ROLES) + " |"
    lines = [header, "|" + " --- |" * (1 + 2 * len(ROLES))]
    for kind in OWNED_KINDS:
        cells = [_cell(role, verb, kind) for role in ROLES for verb in ("read", "write")]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    for area in ADMIN_AREAS:
        cells = []
        for role in ROLES:
            user = UserRef(1, role, role)
            can = allowed(user, "administer", Resource.area(area))
            cells += ["all" if can else "-"] * 2
        lines.append(f"| {area} (area) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def catalogue_actions() -> dict[str, str]:
    """Name -> min_role of every built-in action (``engine.*``; plug-ins and approved
    dynamic actions are left out: dynamic ones always need ``analyst``)."""
    from engine.actions.registry import load_catalog

    return {
        name: action.min_role
        for name, action in sorted(load_catalog().items())
        if action.run.__module__.startswith("engine.") and not _is_dynamic(action)
    }


def _is_dynamic(action) -> bool:
    from engine.sandbox.service import DynamicRegisteredAction

    return isinstance(action, DynamicRegisteredAction)


def actions_table(actions: dict[str, str] | None = None) -> str:
    """Actions grouped by the lowest role that may run them."""
    actions = catalogue_actions() if actions is None else actions
    lines = ["| min_role | actions |", "| --- | --- |"]
    for role in ROLES:
        names = sorted(name for name, min_role in actions.items() if min_role == role)
        lines.append(f"| {role} | " + ", ".join(f"`{name}`" for name in names) + " |")
    return "\n".join(lines)


def render(actions: dict[str, str] | None = None) -> str:
    """The generated block of docs/security.md, markers included."""
    return "\n".join(
        [
            START,
            "Stored rows (`own`: rows the user owns; `another`: another user's; "
            "`shared`: rows with no owner, made by the system; `-`: never):",
            "",
            rules_table(),
            "",
            "Actions by the lowest role that may run them (a higher role may too):",
            "",
            actions_table(actions),
            END,
        ]
    )


def documented_block(text: str) -> str | None:
    """The block between the markers in ``text`` (markers included), or None."""
    start = text.find(START)
    end = text.find(END)
    if start < 0 or end < start:
        return None
    return text[start : end + len(END)]


if __name__ == "__main__":
    print(render())
