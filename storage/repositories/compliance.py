"""The compliance log: an append-only, hash-chained list of policy decisions.

Each event's hash is an HMAC-SHA256, keyed with the audit key (``MLTRAINER_AUDIT_KEY``,
else a secret generated once into the data directory, mode 0600), over its content, its
position ``seq``, the previous event's hash and the operator account: a person with
database access alone cannot rewrite an event and recompute a consistent chain. Events
written before the chain was keyed keep their plain SHA-256 (``hash_scheme`` NULL); they
are accepted only as the chain's prefix.

Deleting the newest events leaves a consistent shorter chain, so every append also
records the head (seq, id, hash) outside the table: a log line, a Prometheus gauge, a
small state file in the data directory and the cache. ``engine.compliance.verify_chain``
compares the chain with that checkpoint.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from storage.actor import process_actor
from storage.db import session_scope
from storage.metrics import COMPLIANCE_APPENDS as CHAIN_APPENDS
from storage.metrics import COMPLIANCE_CHAIN_LENGTH as CHAIN_LENGTH
from storage.models import ComplianceEvent, utcnow
from storage.settings import get_storage_settings, read_optional

GENESIS = "0" * 64
APPEND_ATTEMPTS = 20
KEYED = 2  # hash_scheme of HMAC-keyed events (NULL: the plain SHA-256 of older events)
AUDIT_KEY_ENV = "MLTRAINER_AUDIT_KEY"
CHECKPOINT_CACHE_KEY = "compliance:head:"

log = logging.getLogger("mltrainer.compliance")
_INSERT_EVENT = insert(cast(Table, ComplianceEvent.__table__))


@dataclass(frozen=True)
class ComplianceRecord:
    id: int
    created_at: datetime
    user_id: int | None
    username: str
    action: str
    phase: str
    rule: str
    outcome: str
    details: dict[str, Any] | None
    prev_hash: str
    hash: str
    seq: int | None = None
    hash_scheme: int | None = None
    actor: str | None = None


def _record(row: ComplianceEvent) -> ComplianceRecord:
    return ComplianceRecord(
        row.id,
        row.created_at,
        row.user_id,
        row.username,
        row.action,
        row.phase,
        row.rule,
        row.outcome,
        row.details,
        row.prev_hash,
        row.hash,
        row.seq,
        row.hash_scheme,
        row.actor,
    )


# --- the key ------------------------------------------------------------------------------

_key_cache: dict[tuple[str | None, str], bytes] = {}


def audit_key() -> bytes:
    """``MLTRAINER_AUDIT_KEY``, else ``<data dir>/audit_key`` (created once, mode 0600).
    Every replica and worker must share it, like the cookie key."""
    configured = read_optional(AUDIT_KEY_ENV)
    data_dir = get_storage_settings().data_dir
    cached = _key_cache.get((configured, str(data_dir)))
    if cached is not None:
        return cached
    if configured:
        key = configured.encode()
    else:
        path = data_dir / "audit_key"
        try:
            # O_EXCL: two processes starting together cannot both write a key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_text().strip().encode()
        else:
            text = secrets.token_hex(32)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            key = text.encode()
    if not key:
        raise RuntimeError(f"the audit key is empty; set {AUDIT_KEY_ENV} or remove {data_dir}")
    _key_cache[(configured, str(data_dir))] = key
    return key


def _canonical(fields: list[Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def _content(
    prev_hash: str,
    created_at: datetime,
    user_id: int | None,
    username: str,
    action: str,
    phase: str,
    rule: str,
    outcome: str,
    details: dict[str, Any] | None,
) -> list[Any]:
    stamp = created_at.isoformat(timespec="microseconds")
    return [prev_hash, stamp, user_id, username, action, phase, rule, outcome, details]


def event_hash(
    prev_hash: str,
    created_at: datetime,
    user_id: int | None,
    username: str,
    action: str,
    phase: str,
    rule: str,
    outcome: str,
    details: dict[str, Any] | None,
) -> str:
    """The plain SHA-256 of an event written before the chain was keyed (scheme NULL)."""
    content = _content(
        prev_hash, created_at, user_id, username, action, phase, rule, outcome, details
    )
    return hashlib.sha256(_canonical(content)).hexdigest()


def keyed_hash(
    prev_hash: str,
    created_at: datetime,
    user_id: int | None,
    username: str,
    action: str,
    phase: str,
    rule: str,
    outcome: str,
    details: dict[str, Any] | None,
    seq: int,
    actor: str | None,
    key: bytes | None = None,
) -> str:
    """The HMAC-SHA256 of an event (``hash_scheme`` 2)."""
    content = _content(
        prev_hash, created_at, user_id, username, action, phase, rule, outcome, details
    )
    message = _canonical([KEYED, *content, seq, actor])
    return hmac.new(key or audit_key(), message, hashlib.sha256).hexdigest()


def expected_hash(event: ComplianceRecord, key: bytes | None = None) -> str:
    """What ``event.hash`` must be under its own scheme."""
    content = (
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
    if event.hash_scheme is None:
        return event_hash(*content)
    if event.hash_scheme == KEYED and event.seq is not None:
        return keyed_hash(*content, event.seq, event.actor, key=key)
    return ""  # an unknown scheme never verifies


# --- the head recorded outside the table ---------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head as last appended: seq (the chain's length), id and hash;
    ``legacy``: how many unkeyed events open the chain (None: not known here)."""

    seq: int
    id: int
    hash: str
    legacy: int | None = None


def _checkpoint_name() -> str:
    # One state per database: a test's or a new deployment's database starts its own.
    url = get_storage_settings().database_url
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def checkpoint_path() -> Path:
    return get_storage_settings().data_dir / f"audit_head-{_checkpoint_name()}.json"


def _parse_checkpoint(raw: Any) -> Checkpoint | None:
    try:
        data = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
        legacy = data.get("legacy")
        return Checkpoint(
            int(data["seq"]),
            int(data["id"]),
            str(data["hash"]),
            None if legacy is None else int(legacy),
        )
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def _file_checkpoint() -> Checkpoint | None:
    try:
        return _parse_checkpoint(checkpoint_path().read_text())
    except OSError:
        return None


def _cache_checkpoint() -> Checkpoint | None:
    from storage.cache import get_cache

    try:
        return _parse_checkpoint(get_cache().get(CHECKPOINT_CACHE_KEY + _checkpoint_name()))
    except Exception:  # a cache outage must not stop verification
        return None


def recorded_checkpoint() -> Checkpoint | None:
    """The furthest head recorded by the state file or the cache (None: nothing yet)."""
    found = [c for c in (_file_checkpoint(), _cache_checkpoint()) if c is not None]
    if not found:
        return None
    best = max(found, key=lambda c: c.seq)
    legacy = next((c.legacy for c in found if c.legacy is not None), None)
    return Checkpoint(best.seq, best.id, best.hash, legacy)


def _record_checkpoint(
    event: ComplianceRecord, prev_scheme: int | None, had_prev: bool, appended: int = 1
) -> None:
    """After a committed append of ``appended`` events ending at ``event``: the log line,
    the metrics, the state file (under a lock, never moving backwards) and the cache.
    ``prev_scheme``/``had_prev``: the head before the batch."""
    log.info(
        "compliance chain head",
        extra={"chain_seq": event.seq, "chain_id": event.id, "chain_hash": event.hash},
    )
    CHAIN_APPENDS.inc(appended)
    CHAIN_LENGTH.set(event.seq or 0)
    path = checkpoint_path()
    lock_path = path.with_suffix(".lock")
    try:
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = _file_checkpoint()
            if current is not None and current.seq >= (event.seq or 0):
                return
            legacy: int | None
            if not had_prev:
                legacy = 0
            elif prev_scheme is None:  # the first keyed batch: everything before is legacy
                legacy = (event.seq or appended) - appended
            else:
                legacy = current.legacy if current is not None else None
            state = {"seq": event.seq, "id": event.id, "hash": event.hash, "legacy": legacy}
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(state, handle)
            os.replace(temporary, path)
    except OSError:
        log.exception("could not record the compliance chain head in %s", path)
        state = {"seq": event.seq, "id": event.id, "hash": event.hash, "legacy": None}
    _write_cache_checkpoint(state)


def _write_cache_checkpoint(state: dict[str, Any]) -> None:
    from storage.cache import get_cache

    try:
        cache = get_cache()
        key = CHECKPOINT_CACHE_KEY + _checkpoint_name()
        current = _parse_checkpoint(cache.get(key))
        if current is None or current.seq < state["seq"]:
            cache.set(key, json.dumps(state))
    except Exception:
        log.exception("could not record the compliance chain head in the cache")


@dataclass(frozen=True)
class PendingEvent:
    """One decision to append (its chain fields are computed by :func:`append_many`)."""

    user_id: int | None
    username: str
    action: str
    phase: str
    rule: str
    outcome: str
    details: dict[str, Any] | None


def append(
    user_id: int | None,
    username: str,
    action: str,
    phase: str,
    rule: str,
    outcome: str,
    details: dict[str, Any] | None,
    *,
    actor: str | None = None,
) -> ComplianceRecord:
    """Append one decision; retries when another writer took the same chain head.
    ``actor``: the operator account (default: this process's, set by the command line)."""
    event = PendingEvent(user_id, username, action, phase, rule, outcome, details)
    return append_many([event], actor=actor)[-1]


def append_many(events: list[PendingEvent], *, actor: str | None = None) -> list[ComplianceRecord]:
    """Append events in order, in one transaction: each is chained to the one before
    exactly as single appends would chain them, and the head is recorded outside the
    table once, after the commit (a call's decisions cost one commit and one checkpoint
    write, not one per rule). Retries the whole batch when another writer took the same
    chain head."""
    if not events:
        return []
    actor = actor or process_actor()
    key = audit_key()
    for _ in range(APPEND_ATTEMPTS):
        try:
            with session_scope() as session:
                head = session.execute(
                    select(ComplianceEvent.hash, ComplianceEvent.seq, ComplianceEvent.hash_scheme)
                    .order_by(ComplianceEvent.id.desc())
                    .limit(1)
                ).first()
                prev_hash = head.hash if head else GENESIS
                if head is None:
                    seq = 1
                elif head.seq is not None:
                    seq = head.seq + 1
                else:  # written by a version before seq (a rolling upgrade): count
                    seq = (session.scalar(select(func.count(ComplianceEvent.id))) or 0) + 1
                # Core inserts on the session's connection (no unit of work), one per
                # row: ids must follow the chain's order
                connection = session.connection()
                records = []
                for offset, event in enumerate(events):
                    created_at = utcnow()
                    digest = keyed_hash(
                        prev_hash,
                        created_at,
                        event.user_id,
                        event.username,
                        event.action,
                        event.phase,
                        event.rule,
                        event.outcome,
                        event.details,
                        seq + offset,
                        actor,
                        key=key,
                    )
                    values: dict[str, Any] = {
                        "created_at": created_at,
                        "user_id": event.user_id,
                        "username": event.username,
                        "action": event.action,
                        "phase": event.phase,
                        "rule": event.rule,
                        "outcome": event.outcome,
                        "details": event.details,
                        "prev_hash": prev_hash,
                        "hash": digest,
                        "seq": seq + offset,
                        "hash_scheme": KEYED,
                        "actor": actor,
                    }
                    inserted = connection.execute(_INSERT_EVENT, values).inserted_primary_key
                    assert inserted is not None  # an INSERT of one row
                    records.append(ComplianceRecord(id=inserted[0], **values))
                    prev_hash = digest
            _record_checkpoint(
                records[-1], head.hash_scheme if head else None, head is not None, len(records)
            )
            return records
        except IntegrityError:
            continue
    raise RuntimeError("could not append to the compliance log: too much contention")


def iterate_chain(batch: int = 5000):
    """Every event in id order, in batches (the chain can be long)."""
    last_id = 0
    while True:
        with session_scope() as session:
            rows = list(
                session.scalars(
                    select(ComplianceEvent)
                    .where(ComplianceEvent.id > last_id)
                    .order_by(ComplianceEvent.id)
                    .limit(batch)
                )
            )
            records = [_record(row) for row in rows]
        if not records:
            return
        yield from records
        last_id = records[-1].id


def search(
    *,
    action: str | None = None,
    outcome: str | None = None,
    rule: str | None = None,
    username: str | None = None,
    limit: int = 500,
) -> list[ComplianceRecord]:
    with session_scope() as session:
        query = select(ComplianceEvent).order_by(ComplianceEvent.id.desc()).limit(limit)
        for column, value in (
            (ComplianceEvent.action, action),
            (ComplianceEvent.outcome, outcome),
            (ComplianceEvent.rule, rule),
            (ComplianceEvent.username, username),
        ):
            if value:
                query = query.where(column == value)
        return [_record(row) for row in session.scalars(query)]


def counts_by_rule() -> list[tuple[str, str, int]]:
    with session_scope() as session:
        rows = session.execute(
            select(ComplianceEvent.rule, ComplianceEvent.outcome, func.count()).group_by(
                ComplianceEvent.rule, ComplianceEvent.outcome
            )
        )
        return [(rule, outcome, count) for rule, outcome, count in rows]
