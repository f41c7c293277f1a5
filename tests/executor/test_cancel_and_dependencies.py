"""Cancellation (queued and running, with the permission check) and the dependency DAG."""

from __future__ import annotations

import time

import pytest

from engine import executor
from engine.actions import ActionError, PermissionDenied
from engine.executor.dag import find_cycle
from storage.db import session_scope
from storage.models import JobDependency
from storage.repositories import jobs
from tests.executor.conftest import wait_running

pytestmark = pytest.mark.all_databases


def test_cancel_a_running_job_stops_it_at_its_next_check(stack, system_user):
    job_id = executor.submit("test_sleep", {"seconds": 60, "step": 0.05}, system_user)
    wait_running(job_id)
    asked = time.monotonic()
    executor.cancel(job_id, by_user=system_user)
    job = executor.wait(job_id, 30)
    assert job.status == "cancelled"
    assert job.error == "Cancelled by request."
    assert time.monotonic() - asked < 10  # runner polls every 0.5 s; the action every 0.05 s
    assert job.result is None


def test_cancel_a_queued_job_it_never_starts(stack, system_user):
    blocker = executor.submit("test_sleep", {"seconds": 60}, system_user)
    waiting = executor.submit("test_echo", {"value": 1}, system_user, depends_on=[blocker])
    record = executor.cancel(waiting, by_user=system_user)
    assert record.status == "cancelled"  # at once, not at the next scheduler tick
    executor.cancel(blocker, by_user=system_user)
    assert executor.wait(blocker, 30).status == "cancelled"
    time.sleep(0.5)
    job = jobs.get_job(waiting)
    assert job.status == "cancelled"
    assert job.started_at is None and job.attempts == 0 and job.worker is None


def test_cancelling_a_settled_job_changes_nothing(stack, system_user):
    job_id = executor.submit("test_echo", {"value": 3}, system_user)
    assert executor.wait(job_id, 60).status == "succeeded"
    assert executor.cancel(job_id, by_user=system_user).status == "succeeded"
    with pytest.raises(ActionError, match="does not exist"):
        executor.cancel(10**9, by_user=system_user)


def test_only_the_owner_or_an_admin_may_cancel(stack, users):
    owner, stranger, admin = users("analyst"), users("analyst"), users("admin")
    first = executor.submit("test_sleep", {"seconds": 60}, owner)
    second = executor.submit("test_sleep", {"seconds": 60}, owner, depends_on=[first])
    with pytest.raises(PermissionDenied, match=f"Job {first} does not exist or is not visible"):
        executor.cancel(first, by_user=stranger)
    assert jobs.get_job(first).cancel_requested is False
    assert executor.cancel(second, by_user=owner).status == "cancelled"
    executor.cancel(first, by_user=admin)
    assert executor.wait(first, 30).status == "cancelled"


def test_a_failure_in_a_chain_cancels_everything_below_it(stack, system_user):
    first = executor.submit("test_echo", {"value": 1}, system_user)
    broken = executor.submit("test_fail", {"message": "bad input"}, system_user, [first])
    third = executor.submit("test_echo", {"value": 3}, system_user, [broken])
    fourth = executor.submit("test_echo", {"value": 4}, system_user, [third])
    sibling = executor.submit("test_echo", {"value": 5}, system_user, [first])

    assert executor.wait(first, 60).status == "succeeded"
    assert executor.wait(broken, 60).error == "bad input"
    assert executor.wait(sibling, 60).status == "succeeded"
    below = executor.wait(third, 60)
    assert below.status == "cancelled"
    assert below.error == f"Cancelled: it depends on job {broken} (test_fail), which failed."
    bottom = executor.wait(fourth, 60)
    assert bottom.status == "cancelled"
    assert f"job {third} (test_echo), which cancelled" in bottom.error
    assert below.started_at is None and bottom.started_at is None


def test_a_job_starts_only_after_all_its_dependencies_succeeded(stack, system_user):
    slow = executor.submit("test_sleep", {"seconds": 1.0}, system_user)
    quick = executor.submit("test_echo", {"value": 1}, system_user)
    joined = executor.submit("test_echo", {"value": 2}, system_user, [slow, quick, slow])
    assert jobs.dependencies(joined) == sorted({slow, quick})
    done = executor.wait(joined, 60)
    assert done.status == "succeeded"
    parents = [jobs.get_job(slow), jobs.get_job(quick)]
    assert done.started_at >= max(parent.finished_at for parent in parents)


def test_dependencies_on_a_cancelled_job_are_cancelled_even_if_submitted_later(stack, system_user):
    gone = executor.submit("test_sleep", {"seconds": 60}, system_user)
    executor.cancel(gone, by_user=system_user)
    assert executor.wait(gone, 30).status == "cancelled"
    late = executor.submit("test_echo", {"value": 1}, system_user, [gone])
    job = executor.wait(late, 30)
    assert job.status == "cancelled" and f"job {gone}" in job.error


def test_cycles_in_the_stored_graph_are_refused(stack, system_user):
    a = jobs.create_job("test_echo", {"value": 1}, None, status="succeeded")
    b = jobs.create_job("test_echo", {"value": 2}, None, status="succeeded", depends_on=[a])
    c = jobs.create_job("test_echo", {"value": 3}, None, status="succeeded", depends_on=[b])
    assert find_cycle([c]) is None
    with session_scope() as session:  # corrupt the graph behind the executor's back
        session.add(JobDependency(job_id=a, depends_on_id=c))
    assert find_cycle([c]) is not None
    with pytest.raises(ActionError, match="cycle"):
        executor.submit("test_echo", {}, system_user, depends_on=[b])
    diamond_top = jobs.create_job("test_echo", {}, None, status="succeeded")
    left = jobs.create_job("test_echo", {}, None, status="succeeded", depends_on=[diamond_top])
    right = jobs.create_job("test_echo", {}, None, status="succeeded", depends_on=[diamond_top])
    assert find_cycle([left, right]) is None
    job = executor.submit("test_echo", {"value": 7}, system_user, depends_on=[left, right])
    assert executor.wait(job, 60).status == "succeeded"
