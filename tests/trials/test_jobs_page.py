"""The Jobs page through AppTest: whose jobs are listed, live blocks, who may cancel."""

from __future__ import annotations

import pytest

from engine import executor
from storage.repositories import jobs as job_repo
from tests.foundation.apptest_helpers import log_in, new_app
from tests.trials.conftest import add_job

PAGE = "pages/jobs.py"


def jobs_page(username: str):
    at = log_in(new_app(), username)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def listed(at) -> list[int]:
    return list(at.dataframe[0].value["job"]) if at.dataframe else []


def buttons(at) -> set[str]:
    return {b.key for b in at.button if b.key}


def blocked_job(user) -> int:
    """A queued job waiting on a running parent (no worker will take either)."""
    parent = add_job(user, action="test_parent", status="running")
    return job_repo.create_job("test_child", {}, user.id, depends_on=[parent])


@pytest.fixture
def alice_jobs(people):
    alice = people["alice"]
    return {
        "done": add_job(alice, status="succeeded"),
        "failed": add_job(alice, status="failed"),
        "queued": blocked_job(alice),
    }


def test_owner_sees_live_jobs_errors_and_cancels_their_own(people, alice_jobs):
    at = jobs_page("alice")
    queued = alice_jobs["queued"]
    assert set(alice_jobs.values()) <= set(listed(at))
    assert [t.value for t in at.title] == ["Jobs"]
    # errors are Markdown-escaped (ui.text.md_escape): shown literally, so compare unescaped
    assert any("boom: the data had no rows" in e.value.replace("\\", "") for e in at.error)
    with pytest.raises(KeyError):
        at.toggle(key="jobs_all")  # only admins can list everyone's jobs
    assert f"jobs-live-{queued}-cancel" in buttons(at)
    at.button(key=f"jobs-live-{queued}-cancel").click().run()
    assert executor.status(queued).status == "cancelled"
    assert f"jobs-live-{queued}-cancel" not in buttons(at)


def test_other_analysts_neither_see_nor_cancel(people, alice_jobs):
    at = jobs_page("bob")
    assert not set(alice_jobs.values()) & set(listed(at))
    assert not any(key.endswith("-cancel") for key in buttons(at))
    with pytest.raises(executor.api.PermissionDenied):
        executor.cancel(alice_jobs["queued"], by_user=people["bob"])
    assert executor.status(alice_jobs["queued"]).status == "queued"


def test_admin_toggles_everyones_jobs_and_may_cancel_them(people, alice_jobs):
    at = jobs_page("root")
    assert not set(alice_jobs.values()) & set(listed(at))
    at.toggle(key="jobs_all").set_value(True).run()
    assert set(alice_jobs.values()) <= set(listed(at))
    table = at.dataframe[0].value
    assert set(table[table["job"].isin(alice_jobs.values())]["user"]) == {"alice"}
    queued = alice_jobs["queued"]
    at.button(key=f"jobs-live-{queued}-cancel").click().run()
    assert executor.status(queued).status == "cancelled"


def test_viewer_has_no_toggle_and_an_empty_list(people, alice_jobs):
    at = jobs_page("vic")
    with pytest.raises(KeyError):
        at.toggle(key="jobs_all")
    assert listed(at) == []
    assert any("No background jobs yet" in i.value for i in at.info)


def test_a_jobs_earlier_attempts_are_listed_with_their_errors(people):
    from engine.executor import recovery

    alice = people["alice"]
    parent = add_job(alice, action="test_parent", status="running")  # keeps it from running
    job_id = job_repo.create_job("test_retried", {}, alice.id, depends_on=[parent])
    assert job_repo.claim(job_id, "old-host:1:1")
    assert recovery.interrupt(job_id, recovery.SHUTDOWN, counted=False) == "queued"
    assert job_repo.claim(job_id, "new-host:2:1")
    assert recovery.interrupt(job_id, recovery.DIED) == "queued"
    at = jobs_page("alice")
    at.selectbox(key="jobs_inspect").set_value(job_id).run()
    assert not at.exception, at.exception
    [history] = [d.value for d in at.dataframe if "counted" in d.value.columns]
    assert list(history["attempt"]) == [1, 1]
    assert list(history["counted"]) == [False, True]
    assert list(history["error"]) == [
        f"Interrupted: {recovery.SHUTDOWN}.",
        f"Interrupted: {recovery.DIED}.",
    ]
