"""Drive app.py through Streamlit's AppTest like a person would."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PASSWORD = "Correct-h0rse-1"


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def submit_form(at: AppTest, values: dict[str, str]) -> AppTest:
    for key, value in values.items():
        at.text_input(key=key).input(value)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def log_in(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    return submit_form(at, {"login_username": username, "login_password": password})


def titles(at: AppTest) -> list[str]:
    return [title.value for title in at.title]


def errors(at: AppTest) -> list[str]:
    return [error.value for error in at.error]
