"""Who is at the keyboard: the operating-system account of a command-line process.

The web app never sets it (its users are the application's own accounts). The command
line sets it once at start-up (``python -m engine ...``), and the storage layer writes it
beside the application user on every job and compliance decision made by that process,
so ``--user`` impersonation or the built-in ``system`` user always name the real operator.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_actor: str | None = None
# A worker running a job submitted from the command line acts for that job's operator.
_NO_JOB = "\x00"  # not running a job: the process's operator applies
_job_actor: ContextVar[str | None] = ContextVar("mltrainer_job_actor", default=_NO_JOB)
MAX_LENGTH = 64


def os_account() -> str:
    """The real (not the environment's claimed) account of this process: the name of its
    real uid, with the uid; ``sudo`` also names the account that invoked it."""
    uid = os.getuid()
    try:
        import pwd

        name = pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        name = "?"
    text = f"{name} (uid {uid})"
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and uid == 0:
        text += f" via sudo by {sudo_user}"
    return text[:MAX_LENGTH]


def set_process_actor(actor: str | None) -> None:
    global _actor
    _actor = actor[:MAX_LENGTH] if actor else None


def process_actor() -> str | None:
    """The operator to record now: the running job's (None for a job from the web app,
    even in a worker started from the command line), else this process's (None: web)."""
    job_actor = _job_actor.get()
    return _actor if job_actor == _NO_JOB else job_actor


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    """Record ``actor`` (a job's operator) on what this thread writes inside the block."""
    token = _job_actor.set(actor)
    try:
        yield
    finally:
        _job_actor.reset(token)
