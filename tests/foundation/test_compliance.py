"""Every compliance rule passes and blocks; decisions are hash-chained; tampering shows."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from engine.actions import ActionError, PermissionDenied, UserRef, call
from engine.actions.base import ActionResult, PolicyBlocked
from engine.actions.registry import get_action
from engine.compliance import rules, verify_chain
from storage.db import get_engine
from storage.repositories import compliance as log_repo
from storage.repositories import goals as goal_repo

OPTION = {"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}
ANALYST = UserRef(None, "analyst-bot", "analyst")


def facts(action="price_option", params=None, user=ANALYST, **extra):
    return rules.CallFacts(get_action(action), params or {}, user, **extra)


def test_role_rule_passes_and_blocks():
    assert rules.role_allowed(facts()).passed
    assert not rules.role_allowed(facts(user=UserRef(1, "v", "viewer"))).passed


def test_resource_caps():
    assert rules.resource_caps(facts(params={"paths": 10_000})).passed
    blocked = rules.resource_caps(facts(params={"paths": 50_000_000}))
    assert not blocked.passed and "exceeds the cap" in blocked.message
    assert rules.resource_caps(facts(params={"spot": 1})) is None


def test_data_provenance_follows_the_goal_policy():
    real_only = {"data_policy": "real_only"}
    assert rules.data_provenance(facts(params={"source": "bundled"}, goal=real_only)).passed
    assert not rules.data_provenance(facts(params={"source": "synthetic"}, goal=real_only)).passed
    relaxed = {"data_policy": "synthetic_allowed"}
    assert rules.data_provenance(facts(params={"source": "synthetic"}, goal=relaxed)).passed
    assert rules.data_provenance(facts(params={"source": "synthetic"})) is None


def test_temporal_validation():
    prices = {"symbols": ["AAPL"], "validation": "walk_forward"}
    assert rules.temporal_validation(facts(params=prices)).passed
    shuffled = {"symbols": ["AAPL"], "validation": "kfold"}
    assert not rules.temporal_validation(facts(params=shuffled)).passed
    table = {"dataset_id": 3, "validation": "kfold"}
    assert rules.temporal_validation(facts(params=table)).passed


def test_dynamic_code_needs_approval_or_confirmation():
    from dataclasses import replace

    dynamic = replace(get_action("price_option"), category="dynamic")
    assert not rules.dynamic_code_approved(rules.CallFacts(dynamic, {}, ANALYST)).passed
    assert rules.dynamic_code_approved(rules.CallFacts(dynamic, {}, ANALYST, confirmed=True)).passed
    assert rules.dynamic_code_approved(facts()) is None


def test_after_rules_check_bounds_and_out_of_sample():
    good = ActionResult("ok", {"sharpe": 1.2, "accuracy": 0.55, "evaluation": "walk_forward"})
    assert rules.results_in_bounds(facts(result=good)).passed
    assert rules.out_of_sample(facts(result=good)).passed
    too_good = ActionResult("suspicious", {"sharpe": 45.0})
    assert "look-ahead" in rules.results_in_bounds(facts(result=too_good)).message
    in_sample = ActionResult("x", {"evaluation": "in_sample"})
    assert not rules.out_of_sample(facts(result=in_sample)).passed


def test_calls_record_decisions_and_blocks_name_the_rule(fresh_db, make_user):
    alice, vic = make_user("alice"), make_user("vic", "viewer")
    call("price_option", OPTION, alice)
    with pytest.raises(PermissionDenied, match="role_allowed"):
        call("price_option", OPTION, vic)
    with pytest.raises(PolicyBlocked, match="resource_caps"):
        call("price_option", {**OPTION, "method": "monte_carlo", "paths": 9_000_000}, alice)
    events = log_repo.search()
    outcomes = {(e.username, e.rule, e.outcome) for e in events}
    assert ("alice", "role_allowed", "pass") in outcomes
    assert ("vic", "role_allowed", "block") in outcomes
    assert ("alice", "resource_caps", "block") in outcomes
    assert verify_chain().intact


def test_goal_data_policy_blocks_synthetic_data_through_call(fresh_db, make_user):
    alice = make_user("alice")
    goal = goal_repo.create_goal(alice.id, "real only", {"data_policy": "real_only"}, None)
    params = {"symbols": ["AAPL"], "source": "synthetic", "strategy": "buy_and_hold"}
    with pytest.raises(ActionError, match="data_provenance"):
        call("backtest_strategy", params, alice, goal_id=goal.id)


def test_tampering_is_detected_at_the_first_broken_link(fresh_db, make_user):
    alice = make_user("alice")
    for _ in range(3):
        call("price_option", OPTION, alice)
    report = verify_chain()
    assert report.intact and report.events >= 3
    victim = log_repo.search(limit=1000)[-2]  # an early event
    with get_engine().begin() as connection:
        connection.execute(
            text("UPDATE compliance_events SET outcome = 'pass', rule = 'edited' WHERE id = :id"),
            {"id": victim.id},
        )
    broken = verify_chain()
    assert not broken.intact and broken.first_broken_id == victim.id
    assert "edited" in broken.reason


def test_deleting_an_event_breaks_the_next_link(fresh_db, make_user):
    alice = make_user("alice")
    for _ in range(3):
        call("price_option", OPTION, alice)
    events = sorted(log_repo.search(limit=1000), key=lambda e: e.id)
    with get_engine().begin() as connection:
        connection.execute(
            text("DELETE FROM compliance_events WHERE id = :id"), {"id": events[1].id}
        )
    report = verify_chain()
    assert not report.intact and report.first_broken_id == events[2].id


def test_a_phase_records_its_decisions_in_one_append_with_one_head_checkpoint(
    fresh_db, make_user, monkeypatch
):
    alice = make_user("alice")
    checkpoints: list[tuple[int | None, int]] = []
    original = log_repo._record_checkpoint

    def spy(event, prev_scheme, had_prev, appended=1):
        checkpoints.append((event.seq, appended))
        original(event, prev_scheme, had_prev, appended)

    monkeypatch.setattr(log_repo, "_record_checkpoint", spy)
    call("price_option", OPTION, alice)
    events = sorted(log_repo.search(limit=1000), key=lambda e: e.id)
    before = [e for e in events if e.phase == "before"]
    after = [e for e in events if e.phase == "after"]
    assert len(before) >= 2  # role_allowed and resource_caps apply to every call
    # one head checkpoint per phase, each covering all of that phase's events
    expected = [(before[-1].seq, len(before))] + ([(after[-1].seq, len(after))] if after else [])
    assert checkpoints == expected
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:], strict=False))
    report = verify_chain()
    assert report.intact and report.recorded_events == len(events)


def test_a_block_records_the_passes_before_it_and_stops(fresh_db, make_user):
    alice = make_user("alice")
    with pytest.raises(PolicyBlocked, match="resource_caps"):
        call("price_option", {**OPTION, "method": "monte_carlo", "paths": 9_000_000}, alice)
    events = sorted(log_repo.search(limit=1000), key=lambda e: e.id)
    assert [(e.rule, e.outcome) for e in events] == [
        ("role_allowed", "pass"),
        ("resource_caps", "block"),
    ]
    assert verify_chain().intact


def test_editing_an_event_inside_a_batch_is_detected(fresh_db):
    batch = [
        log_repo.PendingEvent(None, "alice", "x", "before", f"rule{n}", "pass", {"n": n})
        for n in range(4)
    ]
    records = log_repo.append_many(batch)
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert json.loads(log_repo.checkpoint_path().read_text())["seq"] == 4
    assert verify_chain().intact
    with get_engine().begin() as connection:
        connection.execute(
            text("UPDATE compliance_events SET outcome = 'block' WHERE id = :id"),
            {"id": records[2].id},
        )
    broken = verify_chain()
    assert not broken.intact and broken.first_broken_id == records[2].id


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_concurrent_appends_keep_one_chain(backend, request):
    request.getfixturevalue("fresh_db" if backend == "sqlite" else "postgres_db")

    def writer(index: int) -> None:
        for step in range(10):
            log_repo.append(None, f"w{index}", "x", "before", "rule", "pass", {"step": step})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = verify_chain()
    assert report.intact and report.events == 40


# --- the keyed chain and its recorded head -------------------------------------------------


def _append(count: int, start: int = 0) -> None:
    for step in range(start, start + count):
        log_repo.append(
            None, "alice", "price_option", "before", "role_allowed", "pass", {"n": step}
        )


def _chain_rows() -> list[dict]:
    with get_engine().begin() as connection:
        return [
            dict(row._mapping)
            for row in connection.execute(text("SELECT * FROM compliance_events ORDER BY id"))
        ]


def _rewrite_as_plain_sha(edit_seq: int) -> None:
    """What a person with database access (and without the audit key) can do: edit an
    event, then recompute a consistent plain SHA-256 chain over every event."""
    events = sorted(log_repo.search(limit=1000), key=lambda e: e.id)
    prev = log_repo.GENESIS
    with get_engine().begin() as connection:
        connection.execute(
            text("UPDATE compliance_events SET prev_hash = 'x' || id, hash = 'y' || id")
        )
        for event in events:
            outcome = "block" if event.seq == edit_seq else event.outcome
            digest = log_repo.event_hash(
                prev,
                event.created_at,
                event.user_id,
                event.username,
                event.action,
                event.phase,
                event.rule,
                outcome,
                event.details,
            )
            connection.execute(
                text(
                    "UPDATE compliance_events SET prev_hash = :prev, hash = :hash, "
                    "hash_scheme = NULL, outcome = :outcome WHERE id = :id"
                ),
                {"prev": prev, "hash": digest, "outcome": outcome, "id": event.id},
            )
            prev = digest


def test_a_keyed_chain_verifies_against_its_recorded_head(fresh_db):
    _append(5)
    report = verify_chain()
    assert report.intact and report.events == 5
    assert report.recorded_events == 5 and report.legacy_events == 0
    assert [row["seq"] for row in _chain_rows()] == [1, 2, 3, 4, 5]
    assert {row["hash_scheme"] for row in _chain_rows()} == {log_repo.KEYED}


def test_rewriting_an_event_and_recomputing_a_plain_sha_chain_is_detected(fresh_db):
    _append(5)
    _rewrite_as_plain_sha(edit_seq=2)
    report = verify_chain()
    assert not report.intact
    assert "unkeyed" in report.reason


def test_recomputing_with_a_guessed_key_is_detected(fresh_db):
    _append(4)
    rows = _chain_rows()
    prev = log_repo.GENESIS
    with get_engine().begin() as connection:
        connection.execute(
            text("UPDATE compliance_events SET prev_hash = 'x' || id, hash = 'y' || id")
        )
        for row in log_repo.search(limit=100)[::-1]:
            outcome = "block" if row.seq == 2 else row.outcome
            digest = log_repo.keyed_hash(
                prev,
                row.created_at,
                row.user_id,
                row.username,
                row.action,
                row.phase,
                row.rule,
                outcome,
                row.details,
                row.seq,
                row.actor,
                key=b"guessed",
            )
            connection.execute(
                text(
                    "UPDATE compliance_events SET prev_hash = :p, hash = :h, outcome = :o "
                    "WHERE id = :id"
                ),
                {"p": prev, "h": digest, "o": outcome, "id": row.id},
            )
            prev = digest
    report = verify_chain()
    assert not report.intact and report.first_broken_id == rows[0]["id"]
    assert "edited" in report.reason


@pytest.mark.parametrize("deleted", [1, 3])
def test_deleting_the_newest_events_is_detected_as_truncation(fresh_db, deleted):
    _append(6)
    rows = _chain_rows()
    with get_engine().begin() as connection:
        connection.execute(
            text("DELETE FROM compliance_events WHERE id >= :id"), {"id": rows[-deleted]["id"]}
        )
    report = verify_chain()
    assert not report.intact and report.truncated
    assert report.events == 6 - deleted and report.recorded_events == 6
    assert f"the newest {deleted} were deleted" in report.reason


def test_the_head_is_recorded_in_a_private_state_file_and_the_cache(fresh_db):
    import json
    import stat

    from storage.cache import get_cache

    _append(3)
    path = log_repo.checkpoint_path()
    state = json.loads(path.read_text())
    head = _chain_rows()[-1]
    assert state == {"seq": 3, "id": head["id"], "hash": head["hash"], "legacy": 0}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key_file = path.parent / "audit_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    cached = json.loads(get_cache().get(log_repo.CHECKPOINT_CACHE_KEY + path.stem.split("-")[1]))
    assert cached["seq"] == 3
    # the file alone still catches a truncation (the cache was flushed)
    get_cache().delete(log_repo.CHECKPOINT_CACHE_KEY + path.stem.split("-")[1])
    with get_engine().begin() as connection:
        connection.execute(text("DELETE FROM compliance_events WHERE id = :id"), {"id": head["id"]})
    assert verify_chain().truncated


def test_the_audit_key_comes_from_the_environment_when_set(fresh_db, monkeypatch):
    _append(2)
    assert verify_chain().intact
    monkeypatch.setenv("MLTRAINER_AUDIT_KEY", "another-key-entirely")
    report = verify_chain()
    assert not report.intact and "edited" in report.reason


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_events_written_before_the_chain_was_keyed_still_verify(
    backend, tmp_path, session_database
):
    """A database at revision 0005 with plain SHA-256 events: migrated, it verifies, and
    new keyed events extend it."""
    from datetime import UTC, datetime

    from storage.migrate import upgrade
    from tests.conftest import _drop_postgres_schema, _new_postgres_schema, use_database

    schema = None
    if backend == "postgres":
        schema, url = _new_postgres_schema()
    else:
        url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    upgrade(url, "0005")
    prev = log_repo.GENESIS
    from sqlalchemy import create_engine

    legacy_engine = create_engine(url)
    with legacy_engine.begin() as connection:
        for step in range(3):
            created = datetime(2026, 11, 30, 12, 0, step, tzinfo=UTC)
            details = {"message": f"legacy {step}"}
            digest = log_repo.event_hash(
                prev,
                created,
                None,
                "old",
                "price_option",
                "before",
                "role_allowed",
                "pass",
                details,
            )
            connection.execute(
                text(
                    "INSERT INTO compliance_events (created_at, user_id, username, action, phase, "
                    "rule, outcome, details, prev_hash, hash) VALUES (:c, NULL, 'old', "
                    "'price_option', 'before', 'role_allowed', 'pass', "
                    + ("CAST(:d AS JSON)" if schema else ":d")
                    + ", :p, :h)"
                ),
                {
                    "c": created if schema else created.replace(tzinfo=None).isoformat(sep=" "),
                    "d": json.dumps(details),
                    "p": prev,
                    "h": digest,
                },
            )
            prev = digest
    legacy_engine.dispose()
    try:
        use_database(url)  # migrates to the head revision
        assert [row["seq"] for row in _chain_rows()] == [1, 2, 3]
        report = verify_chain()
        assert report.intact and report.events == 3 and report.legacy_events == 3
        _append(2)
        report = verify_chain()
        assert report.intact and report.events == 5 and report.legacy_events == 3
        assert log_repo.recorded_checkpoint().legacy == 3
    finally:
        if schema is not None:
            _drop_postgres_schema(schema)
        use_database(session_database)


def test_the_audit_page_says_intact_truncated_or_rewritten(fresh_db, make_user):
    from tests.foundation.apptest_helpers import log_in, new_app

    make_user("root", "admin")
    _append(4)
    at = log_in(new_app(), "root")
    at.switch_page("pages/audit.py").run()
    assert not at.exception, at.exception
    assert at.success[0].value == "Hash chain intact: 4 decisions verified."
    assert "recorded outside the database: 4 decisions; found: 4" in at.caption[0].value
    last_two = [row["id"] for row in _chain_rows()][-2:]
    with get_engine().begin() as connection:
        connection.execute(
            text("DELETE FROM compliance_events WHERE id >= :id"), {"id": last_two[0]}
        )
    at.run()
    assert not at.success
    assert at.error[0].value.startswith("Hash chain truncated: the chain ends at event 2 but 4")
    assert "found: 2" in at.caption[0].value
    _append(2, start=10)  # appending again does not hide the edit below
    _rewrite_as_plain_sha(edit_seq=1)
    at.run()
    assert at.error[0].value.startswith("Hash chain broken at event")


def test_an_event_from_an_older_version_is_flagged_and_does_not_block_appends(fresh_db):
    """A replica still on the old code (during a rolling upgrade) writes an unnumbered,
    unkeyed event: later appends still work, and the Audit page flags that event."""
    _append(2)
    head = _chain_rows()[-1]
    created = datetime.now(UTC)
    digest = log_repo.event_hash(
        head["hash"], created, None, "old", "price_option", "before", "role_allowed", "pass", None
    )
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO compliance_events (created_at, user_id, username, action, phase, "
                "rule, outcome, details, prev_hash, hash) VALUES (:c, NULL, 'old', "
                "'price_option', 'before', 'role_allowed', 'pass', NULL, :p, :h)"
            ),
            {"c": created.replace(tzinfo=None).isoformat(sep=" "), "p": head["hash"], "h": digest},
        )
    _append(1, start=5)
    assert [row["seq"] for row in _chain_rows()] == [1, 2, None, 4]
    report = verify_chain()
    assert not report.intact and "unkeyed event follows keyed ones" in report.reason


def test_the_head_recorded_in_redis_catches_truncation_without_the_state_file(
    fresh_db, redis_url, monkeypatch
):
    """Replicas with their own data directories share the head through Redis."""
    from engine.config import reset_settings
    from storage.cache import get_cache, reset_cache

    monkeypatch.setenv("REDIS_URL", redis_url)
    reset_settings()
    reset_cache()
    try:
        assert get_cache().backend == "redis"
        _append(3)
        log_repo.checkpoint_path().unlink()  # another replica's data directory
        head = _chain_rows()[-1]
        with get_engine().begin() as connection:
            connection.execute(
                text("DELETE FROM compliance_events WHERE id = :id"), {"id": head["id"]}
            )
        report = verify_chain()
        assert report.truncated and report.recorded_events == 3 and report.events == 2
    finally:
        monkeypatch.delenv("REDIS_URL")
        reset_settings()
        reset_cache()


def test_an_audit_key_from_the_environment_is_redacted_from_logs(monkeypatch):
    from engine.config import get_settings, reset_settings

    monkeypatch.setenv("MLTRAINER_AUDIT_KEY", "audit-key-for-the-test")
    reset_settings()
    try:
        assert "audit-key-for-the-test" in get_settings().secret_values()
    finally:
        monkeypatch.delenv("MLTRAINER_AUDIT_KEY")
        reset_settings()
