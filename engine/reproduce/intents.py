"""Offline planner intents for reproduction bundles and notebooks ("bundle trial 12",
"export goal 3 as a notebook")."""

from __future__ import annotations

import re
from typing import Any

from engine.llm.planner import Intent, MissingValue, register_intent

_SUBJECT = re.compile(r"\b(trial|job|backtest|goal|conversation|chat)\s*#?\s*(\d+)", re.I)
_KINDS = {"backtest": "job", "chat": "conversation"}


def _subject(text: str) -> dict[str, Any]:
    match = _SUBJECT.search(text)
    if not match:
        raise MissingValue("what to export (e.g. trial 12, job 40, goal 3 or conversation 5)")
    kind = match.group(1).lower()
    return {"kind": _KINDS.get(kind, kind), "id": int(match.group(2))}


_WHAT = (r"\b(?:trial|job|backtest|goal|conversation|chat)\s*#?\s*\d+", 2)

for intent in (
    Intent(
        "export_notebook",
        ((r"notebook|jupyter|ipynb", 4), _WHAT),
        _subject,
        "Export trial 12 as a Jupyter notebook",
    ),
    Intent(
        "export_bundle",
        ((r"bundle|reproduc|replicat|hand (?:it )?(?:over|to)", 3.5), _WHAT),
        _subject,
        "Make a reproduction bundle of trial 12",
    ),
):
    register_intent(intent)
