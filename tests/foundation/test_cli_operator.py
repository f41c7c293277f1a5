"""The command line is an operator tool (the built-in system user, ``--user`` to act as
anyone), so every job and compliance decision it writes names the real OS account, and
the Jobs and Audit pages show it."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys

import pytest
from sqlalchemy import text

from engine.__main__ import main
from storage.actor import os_account, process_actor
from storage.db import get_engine
from tests.foundation.apptest_helpers import ROOT, log_in, new_app
from ui.text import md_escape

OPTION = '{"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}'
REAL = f"{pwd.getpwuid(os.getuid()).pw_name} (uid {os.getuid()})"


def rows(query: str, **params) -> list[dict]:
    with get_engine().begin() as connection:
        return [dict(r._mapping) for r in connection.execute(text(query), params)]


def run_cli(capsys, *argv: str) -> dict:
    code = main(list(argv))
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, payload
    return payload


def test_the_os_account_is_the_real_uid_not_the_environment(monkeypatch):
    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    assert os_account() == REAL


@pytest.mark.parametrize("as_user", [None, "alice"])
def test_jobs_and_decisions_from_the_cli_name_the_operator(fresh_db, capsys, make_user, as_user):
    make_user("alice", "analyst")
    argv = ["action", "price_option", "--params", OPTION]
    payload = run_cli(capsys, *(argv + (["--user", as_user] if as_user else [])))
    job = rows("SELECT user_id, actor FROM jobs WHERE id = :id", id=payload["job_id"])[0]
    assert job["actor"] == REAL
    decisions = rows("SELECT username, actor FROM compliance_events")
    assert decisions and {d["actor"] for d in decisions} == {REAL}
    assert {d["username"] for d in decisions} == {as_user or "system"}
    assert process_actor() is None  # nothing left behind for the next caller in-process


def test_calls_from_the_app_have_no_operator(fresh_db, make_user):
    from engine.actions import call

    alice = make_user("alice", "analyst")
    outcome = call("price_option", json.loads(OPTION), alice)
    assert rows("SELECT actor FROM jobs WHERE id = :id", id=outcome.job_id)[0]["actor"] is None
    assert {d["actor"] for d in rows("SELECT actor FROM compliance_events")} == {None}


def test_a_real_cli_process_records_its_account_despite_a_spoofed_user(fresh_db, make_user):
    make_user("alice", "analyst")
    env = {**os.environ, "DATABASE_URL": fresh_db, "USER": "mallory", "LOGNAME": "mallory"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "action",
            "price_option",
            "--user",
            "alice",
            "--params",
            OPTION,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    job_id = json.loads(done.stdout.strip().splitlines()[-1])["job_id"]
    assert rows("SELECT actor FROM jobs WHERE id = :id", id=job_id)[0]["actor"] == REAL
    from engine.compliance import verify_chain

    assert verify_chain().intact  # the subprocess keyed its events with the same audit key


def test_the_jobs_and_audit_pages_show_the_operator(fresh_db, capsys, make_user):
    from storage.actor import acting_as
    from storage.repositories import jobs as job_repo

    make_user("root", "admin")
    alice = make_user("alice", "analyst")
    run_cli(capsys, "action", "price_option", "--user", "alice", "--params", OPTION)
    with acting_as(REAL):  # a background job submitted from the command line
        background = job_repo.create_job("train_model", {}, alice.id)
    job_repo.claim(background, "test-worker")
    job_repo.finish(background, "failed", error="no rows", only_from=("running",))
    at = log_in(new_app(), "root")
    at.switch_page("pages/jobs.py").run()
    at.toggle(key="jobs_all").set_value(True).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    row = table[table["job"] == background].iloc[0]
    assert row["operator"] == REAL and row["user"] == "alice"
    shown = md_escape(f"run by {REAL} from the command line")  # stored text is escaped
    assert any(shown in e.value for e in at.error)
    at.switch_page("pages/audit.py").run()
    assert not at.exception, at.exception
    events = at.dataframe[-1].value
    assert set(events["operator (OS account)"]) == {REAL}
    assert set(events["user"]) == {"alice"}


def test_a_worker_started_from_the_cli_records_each_jobs_own_operator():
    """`python -m engine worker` runs as some OS account, but a job submitted from the
    web app has no operator and a CLI job keeps the one who submitted it."""
    from storage.actor import acting_as, set_process_actor

    set_process_actor("svc-worker (uid 999)")
    try:
        assert process_actor() == "svc-worker (uid 999)"
        with acting_as(None):
            assert process_actor() is None
        with acting_as(REAL):
            assert process_actor() == REAL
        assert process_actor() == "svc-worker (uid 999)"
    finally:
        set_process_actor(None)
