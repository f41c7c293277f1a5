"""A live progress chart (the Jobs page, a trial's live view, "Running now") refreshes
from what changed: each refresh reads only the progress events newer than the last one
it saw, never the job's whole history."""

from __future__ import annotations

from engine import executor
from engine.executor import api
from storage.repositories import jobs as job_repo
from tests.trials.conftest import add_job


def test_each_refresh_reads_only_new_events(fresh_db, make_user, monkeypatch):
    alice = make_user("alice")
    job_id = add_job(alice, status="running", events=120)
    reads: list[tuple[int, int]] = []  # (after id, rows read)
    real = job_repo.read_events_after

    def spy(job, after_id=0, limit=200_000):
        rows = real(job, after_id, limit)
        reads.append((after_id, len(rows)))
        return rows

    monkeypatch.setattr(job_repo, "read_events_after", spy)
    api._series.clear()
    first = executor.events(job_id, 50)
    assert reads == [(0, 120)] and len(first) <= 50
    last_id = max(event_id for event_id, *_ in real(job_id))
    executor.events(job_id, 50)
    assert reads[-1] == (last_id, 0)  # nothing new: nothing read
    job_repo.append_events(job_id, [(20.0, 0.99, {"loss": 0.01, "score": 0.9})] * 5)
    points = executor.events(job_id, 50)
    assert reads[-1] == (last_id, 5)
    assert points[-1]["loss"] == 0.01 and points[-1]["elapsed_s"] == 20.0  # the end kept
