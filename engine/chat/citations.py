"""Result ids and the verdict on a reply's numbers, for both Claude and the planner.

Every action call of a chat is a job, and its result is cited as ``R<job id>`` (R7):
short, stable across reloads and conversations, and the same id the page shows on the
result. Claude reads the id in each tool result and the system prompt asks it to cite
it after each number it takes from one; :mod:`engine.chat.verify` then checks every
number of the reply against the turn's results, and the verdict is stored with the
message (``payload["verification"]``) for the page to mark.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.chat.verify import References, Verification, verify

if TYPE_CHECKING:
    from engine.actions.dispatch import CallOutcome

log = logging.getLogger("mltrainer.chat")

RESULT_ROWS = 30  # table rows of a result a reply may quote (what Claude is sent)


def result_id(job_id: int | None) -> str | None:
    return f"R{job_id}" if job_id else None


class TurnSources:
    """The numbers a turn's tools produced and were called with, by result id."""

    def __init__(self) -> None:
        self.references = References()
        self.ids: list[str] = []

    def add_tool_result(self, content: Mapping[str, Any], params: Any = None) -> None:
        """A tool result as Claude read it (``result_id`` inside), and the call's input."""
        source = content.get("result_id")
        source = source if isinstance(source, str) else None
        if source:
            self.ids.append(source)
        self.references.add_payload(dict(content), source)
        if params:
            self.references.add_payload(params, source)

    def add_outcome(self, outcome: CallOutcome | None, params: Any = None) -> None:
        """An action's outcome as the page shows it (the planner's path)."""
        if outcome is None:
            if params:
                self.references.add_payload(params, None)
            return
        source = result_id(outcome.job_id)
        if source:
            self.ids.append(source)
        result = outcome.result
        if result is not None:
            self.references.add_text(result.summary or "", source)
            self.references.add_payload(result.values, source)
            for frame in result.tables.values():
                head = frame.head(RESULT_ROWS)
                for column in head.columns:
                    if head[column].dtype.kind in "iuf":
                        for value in head[column].tolist():
                            self.references.add(float(value), source)
        if params:
            self.references.add_payload(params, source)


def check_reply(
    reply: str, sources: TurnSources, *, request: str, mode: str, platform_text: str = ""
) -> dict[str, Any]:
    """The stored verdict on ``reply``; counts it in the chat-numbers metric."""
    verdict = verify(reply, sources.references, request=request, platform_text=platform_text)
    _count(verdict, mode)
    return verdict.to_json()


def _count(verdict: Verification, mode: str) -> None:
    try:
        from engine.observability.metrics import CHAT_NUMBERS
    except Exception:  # noqa: BLE001 - metrics must never break the chat
        return
    counts = Counter(claim.status for claim in verdict.claims)
    for status, count in counts.items():
        CHAT_NUMBERS.labels(status=status, mode=mode).inc(count)
