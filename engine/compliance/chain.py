"""Verify the compliance log: recompute every hash and check every link."""

from __future__ import annotations

from dataclasses import dataclass

from storage.repositories import compliance as log_repo


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    events: int
    first_broken_id: int | None = None
    reason: str = ""


def verify_chain() -> ChainReport:
    expected_prev = log_repo.GENESIS
    count = 0
    for event in log_repo.iterate_chain():
        count += 1
        if event.prev_hash != expected_prev:
            return ChainReport(
                False, count, event.id, "the link to the previous event does not match"
            )
        digest = log_repo.event_hash(
            event.prev_hash,
            event.created_at,
            event.user_id,
            event.username,
            event.action,
            event.phase,
            event.rule,
            event.outcome,
            event.details,
        )
        if digest != event.hash:
            return ChainReport(
                False, count, event.id, "the event's content does not match its hash (edited)"
            )
        expected_prev = event.hash
    return ChainReport(True, count)
