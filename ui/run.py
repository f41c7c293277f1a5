"""Call an action from a page: the same `engine.actions.call` every caller uses,
with user-facing errors shown cleanly and unexpected ones logged, never dumped."""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from engine.actions import ActionError, CallOutcome, call
from ui.session import require_user
from ui.text import md_escape

log = logging.getLogger("mltrainer.app")


def run_action(
    name: str, params: dict[str, Any], *, confirmed: bool = False, goal_id: int | None = None
) -> CallOutcome | None:
    """Run ``name`` for the logged-in user; draws an error and returns None on failure."""
    user = require_user()
    try:
        outcome = call(name, params, user, confirmed=confirmed, goal_id=goal_id)
    except ActionError as error:
        st.error(md_escape(error))
        return None
    except Exception:
        log.exception("action %s failed unexpectedly", name)
        st.error(f"'{md_escape(name)}' failed unexpectedly. The details are in the server log.")
        return None
    if outcome.status in ("failed", "cancelled", "interrupted"):
        st.error(md_escape(outcome.error or f"'{name}' ended as {outcome.status}."))
        return None
    if outcome.status == "budget_exhausted":  # stopped cleanly; what it finished is kept
        st.warning(md_escape(outcome.error or "Stopped: the daily budget is spent."))
    return outcome
