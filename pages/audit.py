"""Audit: every compliance decision, filterable, and the integrity of their hash chain."""

import pandas as pd
import streamlit as st

from engine.compliance import verify_chain
from storage.repositories import compliance as compliance_log
from ui.session import require_role

require_role("admin")
st.title("Audit")

report = verify_chain()
legacy = (
    f" ({report.legacy_events:,} from before the chain was keyed)" if report.legacy_events else ""
)
if report.intact:
    st.success(f"Hash chain intact: {report.events:,} decisions verified{legacy}.")
elif report.truncated:
    st.error(
        f"Hash chain truncated: {report.reason}. The remaining {report.events:,} decisions "
        "verify, but decisions were removed."
    )
else:
    where = f" at event {report.first_broken_id}" if report.first_broken_id else ""
    st.error(f"Hash chain broken{where}: {report.reason}. Events from there on cannot be trusted.")
if report.checked_against_record:
    st.caption(
        f"Head recorded outside the database: {report.recorded_events:,} decisions; "
        f"found: {report.events:,}."
    )
else:
    st.caption(
        "No head recorded outside the database yet (no decision since the chain was keyed): "
        "deleting the newest decisions could not be detected."
    )

counts = pd.DataFrame(compliance_log.counts_by_rule(), columns=["rule", "outcome", "decisions"])
if not counts.empty:
    st.dataframe(
        counts.pivot_table(index="rule", columns="outcome", values="decisions", fill_value=0),
        width="stretch",
    )

c1, c2, c3, c4 = st.columns(4)
outcome = c1.selectbox("Outcome", ["", "pass", "block"], key="audit_outcome")
rule = c2.selectbox(
    "Rule", [""] + sorted(counts["rule"].unique()) if not counts.empty else [""], key="audit_rule"
)
action = c3.text_input("Action", key="audit_action")
username = c4.text_input("User", key="audit_user")
events = compliance_log.search(
    action=action or None, outcome=outcome or None, rule=rule or None, username=username or None
)
st.dataframe(
    pd.DataFrame(
        [
            {
                "id": e.id,
                "time": e.created_at,
                "user": e.username,
                "operator (OS account)": e.actor or "",
                "action": e.action,
                "phase": e.phase,
                "rule": e.rule,
                "outcome": e.outcome,
                "message": (e.details or {}).get("message", ""),
                "hash": e.hash[:12],
            }
            for e in events
        ]
    ),
    hide_index=True,
    width="stretch",
)
