"""A reply with each of its numbers marked by where it came from.

The verdict stored with the message (``engine.chat.verify``) says, for each number,
which result backs it (R7) or that none does. After the number the page shows the
result id (the same id as on the result card) or an "unverified" mark; numbers the user
wrote themselves get no mark. The reply still goes through ``safe_markdown``: marks are
private-use placeholders while it runs (stripped from the reply first, so the model
cannot forge one) and become Streamlit badges after, and the reply's own use of the
badge syntax is escaped so it cannot fake a "verified" mark either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import streamlit as st

from ui.text import safe_markdown

_MARK_OPEN, _MARK_CLOSE = "\ue010", "\ue011"
_MARK = re.compile(_MARK_OPEN + r"(\d+)" + _MARK_CLOSE)
_FOLLOWING_CITATION = re.compile(r"\s?\[(R\d+)\]")
_SOURCE = re.compile(r"R\d+")
_BADGE_SYNTAX = re.compile(r"(?<!\\):(?=(?:blue|orange|gray|grey)-background\[)")
UNVERIFIED_BADGE = ":orange-background[unverified]"


def _clean(segment: str) -> str:
    segment = segment.replace(_MARK_OPEN, "").replace(_MARK_CLOSE, "")
    return _BADGE_SYNTAX.sub(r"\\:", segment)


def _badge(claim: Mapping[str, Any]) -> str:
    if claim.get("status") == "unverified":
        return " " + UNVERIFIED_BADGE
    source = claim.get("source")
    if claim.get("status") == "verified" and isinstance(source, str) and _SOURCE.fullmatch(source):
        return f" :blue-background[{source}]"
    return ""


def marked_reply(text: str, verification: Mapping[str, Any] | None) -> str:
    """``safe_markdown`` of the reply with a badge after each checked number."""
    text = str(text)
    claims = sorted(
        (c for c in (verification or {}).get("claims", []) if isinstance(c, Mapping)),
        key=lambda c: int(c.get("start", 0)),
    )
    pieces: list[str] = []
    badges: list[str] = []
    position = 0
    for claim in claims:
        start, end = int(claim.get("start", -1)), int(claim.get("end", -1))
        if not (position <= start < end <= len(text)) or text[start:end] != claim.get("text"):
            continue  # a verdict that does not fit the text marks nothing
        badge = _badge(claim)
        pieces.append(_clean(text[position:end]))
        position = end
        cited = _FOLLOWING_CITATION.match(text, end)
        if cited and badge.endswith(f"[{cited.group(1)}]"):
            position = cited.end()  # the reply's own citation becomes the badge
        if badge:
            pieces.append(f"{_MARK_OPEN}{len(badges)}{_MARK_CLOSE}")
            badges.append(badge)
    pieces.append(_clean(text[position:]))
    rendered = safe_markdown("".join(pieces))
    return _MARK.sub(lambda m: badges[int(m.group(1))], rendered)


def reply_markdown(text: str, verification: Mapping[str, Any] | None) -> None:
    st.markdown(marked_reply(text, verification))
    unverified = (verification or {}).get("unverified") or 0
    if unverified:
        st.caption(
            f"{unverified} number(s) in this reply match no result of its turn and are "
            "marked unverified: check them before you rely on them."
        )
