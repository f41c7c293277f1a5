"""The ownership filter that repositories apply inside their queries.

Only ``engine.auth.permissions.scope_for`` builds one from a user; repositories take
it as a required argument so that no listing can forget whose rows it may return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Dataset rows whose ``source`` is one of these belong to whoever made them (an upload
# is an analyst's own file). Rows of every other source (bundled, Polygon, FRED,
# synthetic) are the team's: they are de-duplicated by fingerprint, so their owner is
# only whoever happened to load that data first.
PRIVATE_DATASET_SOURCES: tuple[str, ...] = ("upload",)


@dataclass(frozen=True)
class OwnerScope:
    """Rows a listing may return: every owner's (``everyone``) or only ``owner_id``'s.

    ``include_shared`` also returns rows that belong to nobody (``user_id IS NULL``:
    rows made by the system, e.g. goals or datasets created from the CLI).
    """

    everyone: bool
    owner_id: int | None = None
    include_shared: bool = False

    @classmethod
    def all_rows(cls) -> OwnerScope:
        """For operators and maintenance code paths that are not a user's request."""
        return cls(everyone=True)

    def where(self, owner_column: Any) -> Any | None:
        """A SQLAlchemy condition on ``owner_column``, or None when every row is visible."""
        if self.everyone:
            return None
        if self.owner_id is None:
            return owner_column.is_(None) if self.include_shared else owner_column.in_([])
        condition = owner_column == self.owner_id
        if self.include_shared:
            condition = condition | owner_column.is_(None)
        return condition

    def admits(self, owner_id: int | None) -> bool:
        if self.everyone:
            return True
        if owner_id is None:
            return self.include_shared
        return owner_id == self.owner_id
