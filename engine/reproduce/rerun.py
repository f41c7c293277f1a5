"""The Re-run button of the Trials and Jobs pages: what to call again, and the diff of
the new run against the original (identical, or which numbers moved and why: a library
version, a data revision).

The call itself goes through ``engine.actions.call`` like any other (the page's
``run_action``), so the role check, compliance and the job record are the usual ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.actions.base import ActionError, PermissionDenied
from engine.actions.context import UserRef
from engine.auth import permissions
from engine.reproduce import observe
from engine.reproduce.compare import compare_step
from engine.trials.record import Trial


@dataclass
class RerunDiff:
    table: pd.DataFrame  # metric | recorded | re-run | difference | match
    identical: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def moved(self) -> pd.DataFrame:
        return self.table[~self.table["match"]]


def _diff(action: str, before, after, error: str | None = None) -> RerunDiff:
    step = compare_step(1, action, before, after, error)
    return RerunDiff(step.frame(), step.identical, step.reasons)


def trial_diff(original: Trial, again: Trial) -> RerunDiff:
    """The new trial's numbers against the original's, and the recorded differences in
    library versions and data fingerprint."""
    return _diff(original.action, observe.of_trials([original]), observe.of_trials([again]))


def job_rerun_call(user: UserRef, job_id: int) -> tuple[str, dict[str, Any]]:
    """The action and parameters of a finished job ``user`` may read."""
    from storage.repositories import jobs

    job = jobs.get_job(job_id)
    if job is None or not permissions.can_read(user, "job", job.user_id):
        raise PermissionDenied(permissions.not_found("job", job_id))
    if not job.terminal:
        raise ActionError(f"Job {job_id} is still {job.status}; re-run it when it has finished.")
    return job.action, dict(job.params or {})


def job_diff(user: UserRef, original_id: int, again_id: int) -> RerunDiff:
    """A re-run job's numbers against the original job's (both must be readable)."""
    from storage.repositories import jobs

    for job_id in (original_id, again_id):
        job = jobs.get_job(job_id)
        if job is None or not permissions.can_read(user, "job", job.user_id):
            raise PermissionDenied(permissions.not_found("job", job_id))
    again = jobs.get_job(again_id)
    error = again.error if again is not None and again.status != "succeeded" else None
    original = jobs.get_job(original_id)
    action = original.action if original is not None else ""
    return _diff(action, observe.of_job(original_id), observe.of_job(again_id), error)
