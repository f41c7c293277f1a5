"""`python -m engine`: a stable JSON interface for operators, scripts and tests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out  # exactly one JSON object on stdout
    return code, json.loads(out[0])


def test_action_prints_one_json_object(fresh_db, capsys):
    params = '{"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}'
    code, payload = run_cli(capsys, "action", "price_option", "--params", params)
    assert code == 0 and payload["ok"] is True and payload["action"] == "price_option"
    assert payload["values"]["price"] == pytest.approx(10.450583572185565, abs=1e-12)
    assert isinstance(payload["job_id"], int) and isinstance(payload["tables"], dict)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["action", "price_option", "--params", "{not json"], "not valid JSON"),
        (["action", "price_option", "--params", "[1, 2]"], "JSON object"),
        (["action", "price_optoin"], "Did you mean price_option"),
        (
            [
                "action",
                "price_option",
                "--params",
                '{"spot": 100, "strike": 100, '
                '"maturity_years": 1, "rate": 0.05, "volatility": -0.2}',
            ],
            "volatility",
        ),
        (["action", "price_option", "--user", "ghost", "--params", "{}"], "No active user"),
    ],
)
def test_errors_exit_2_with_a_clear_message(fresh_db, capsys, argv, fragment):
    code, payload = run_cli(capsys, *argv)
    assert code == 2 and payload["ok"] is False and fragment in payload["error"]


def test_viewer_cannot_run_actions_from_the_cli(fresh_db, capsys, make_user):
    make_user("vic", "viewer")
    params = '{"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}'
    code, payload = run_cli(capsys, "action", "price_option", "--user", "vic", "--params", params)
    assert code == 2 and "cannot run" in payload["error"]


def test_actions_lists_the_registry_with_schemas(fresh_db, capsys):
    code, payload = run_cli(capsys, "actions")
    names = {action["name"]: action for action in payload["actions"]}
    assert code == 0 and "price_option" in names
    assert names["price_option"]["parameters"]["type"] == "object"


def test_create_user_reads_the_password_from_stdin(fresh_db, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Str0ng-enough-pass\n"))
    code, payload = run_cli(capsys, "create-user", "carol", "--role", "analyst")
    assert code == 0 and payload["username"] == "carol"
    from engine import auth

    assert auth.login("carol", "Str0ng-enough-pass").ok


def test_exit_status_seen_by_a_real_process(tmp_path):
    env = dict(
        os.environ,
        MLTRAINER_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
    )
    done = subprocess.run(
        [sys.executable, "-m", "engine", "action", "nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and json.loads(done.stdout)["ok"] is False
