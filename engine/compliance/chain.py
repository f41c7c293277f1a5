"""Verify the compliance log: recompute every (keyed) hash, check every link and position,
and compare the chain with the head recorded outside the table (truncation)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.repositories import compliance as log_repo


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    events: int
    first_broken_id: int | None = None
    reason: str = ""
    truncated: bool = False  # the newest events are missing (fewer than recorded)
    recorded_events: int | None = None  # the chain's length as last recorded outside it
    legacy_events: int = 0  # unkeyed events (written before the chain was keyed)

    @property
    def checked_against_record(self) -> bool:
        return self.recorded_events is not None


def verify_chain() -> ChainReport:
    checkpoint = log_repo.recorded_checkpoint()
    recorded = checkpoint.seq if checkpoint else None
    key = log_repo.audit_key()
    expected_prev = log_repo.GENESIS
    count = legacy = 0
    hash_at_checkpoint: str | None = None
    id_at_checkpoint: int | None = None

    def broken(event, reason: str) -> ChainReport:
        return ChainReport(False, count, event.id, reason, False, recorded, legacy)

    for event in log_repo.iterate_chain():
        count += 1
        if event.prev_hash != expected_prev:
            return broken(event, "the link to the previous event does not match")
        if event.seq is not None and event.seq != count:
            return broken(event, f"the event says it is number {event.seq}, it is {count}")
        if event.hash_scheme is None:
            legacy += 1
            if legacy != count:
                return broken(event, "an unkeyed event follows keyed ones (rewritten)")
            if checkpoint and checkpoint.legacy is not None and legacy > checkpoint.legacy:
                return broken(
                    event, f"only {checkpoint.legacy} unkeyed events were recorded (rewritten)"
                )
        if log_repo.expected_hash(event, key) != event.hash:
            return broken(event, "the event's content does not match its hash (edited)")
        if count == recorded:
            hash_at_checkpoint, id_at_checkpoint = event.hash, event.id
        expected_prev = event.hash
    if checkpoint is not None:
        if count < checkpoint.seq:
            return ChainReport(
                False,
                count,
                None,
                f"the chain ends at event {count} but {checkpoint.seq} were recorded "
                f"(the newest {checkpoint.seq - count} were deleted)",
                True,
                recorded,
                legacy,
            )
        if hash_at_checkpoint != checkpoint.hash or id_at_checkpoint != checkpoint.id:
            return ChainReport(
                False,
                count,
                id_at_checkpoint,
                f"event {checkpoint.seq} is not the one recorded as the head "
                "(rewritten, or truncated and appended to again)",
                False,
                recorded,
                legacy,
            )
    return ChainReport(True, count, None, "", False, recorded, legacy)
