"""executor.wait() sleeps on this process's change notifications without losing one."""

from __future__ import annotations

from engine.executor import api, service


def test_a_notification_between_the_status_read_and_the_sleep_is_not_lost(monkeypatch):
    """The job ends (and the service notifies) right after wait() read 'running': wait()
    must read the status again at once instead of sleeping through its pause."""
    states = iter(["running", "succeeded"])

    def status_then_notify(job_id: int) -> str:
        state = next(states)
        if state == "running":
            service.notify_changed()  # the service saw the job end meanwhile
        return state

    sleeps: list[float | None] = []
    real_wait = service.changed.wait

    def recorded_wait(timeout=None):
        sleeps.append(timeout)
        return real_wait(0)

    monkeypatch.setattr(api.jobs, "get_status", status_then_notify)
    monkeypatch.setattr(api, "_require", lambda job_id: f"record of {job_id}")
    monkeypatch.setattr(service.changed, "wait", recorded_wait)
    assert api.wait(7, timeout=60) == "record of 7"
    assert sleeps == []


def test_without_a_notification_wait_sleeps_and_rechecks(monkeypatch):
    states = iter(["queued", "running", "failed"])
    sleeps: list[float | None] = []
    real_wait = service.changed.wait

    def recorded_wait(timeout=None):
        sleeps.append(timeout)
        return real_wait(0)

    monkeypatch.setattr(api.jobs, "get_status", lambda job_id: next(states))
    monkeypatch.setattr(api, "_require", lambda job_id: f"record of {job_id}")
    monkeypatch.setattr(service.changed, "wait", recorded_wait)
    assert api.wait(8, timeout=60) == "record of 8"
    assert len(sleeps) == 2 and sleeps[0] < sleeps[1] <= api.RECHECK_SECONDS
