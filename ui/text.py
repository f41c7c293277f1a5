"""Show text from users and models without letting it become HTML or load resources.

Two policies:

* ``md_escape(text)`` for every stored or user-echoed text (titles, names, errors,
  usernames, descriptions): every ASCII punctuation character is backslash-escaped, so
  Markdown shows it literally - no image, link, autolink, HTML, heading, table, list,
  emphasis, LaTeX or Streamlit directive (``:red[...]``, ``:material/x:``) can form.
* ``safe_markdown(text)`` for Claude's own replies, the only Markdown we render: it keeps
  formatting but no image can load (inline, reference-style or HTML ``<img>``), raw HTML
  is shown as text, and every link shows its real target.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Any

import streamlit as st

_PUNCTUATION = frozenset(string.punctuation)


def md_escape(text: Any) -> str:
    """``text`` shown literally by any Streamlit element that parses Markdown."""
    return "".join("\\" + ch if ch in _PUNCTUATION else ch for ch in str(text))


# --- Claude's replies ------------------------------------------------------------------

# Private-use characters that mark where a held-back code block goes back in after the
# rest is escaped (stripped from the input first, so a reply cannot forge one).
_HOLD_OPEN, _HOLD_CLOSE = "\ue000", "\ue001"
_HELD = re.compile(_HOLD_OPEN + r"(\d+)" + _HOLD_CLOSE)
# A fence at the very start of a line: never inside a list item or a block quote, whose
# end would also end the fence (an indented fence is sanitised like prose instead).
_FENCE_OPEN = re.compile(r"^(`{3,}|~{3,})(.*)$")
# Inline code is kept verbatim only when its backtick pairing cannot differ from the
# renderer's: no math ("$": a math span could take a backtick), no directive label
# (":red[...]"), and every backtick run closed on its own line (a run left open pairs
# with one on a later line, shifting every pair after it).
_DIRECTIVE = re.compile(r":[A-Za-z][\w-]*\[")
_BACKTICKS = re.compile(r"`+")
_LABEL = r"(?:\\.|[^\[\]\\])*"  # link text / label without unescaped brackets
_DEST = r"(?:<[^<>\n]*>|(?:\\.|[^\s()\\]|\((?:\\.|[^\s()\\])*\))*)"
_TITLE = r"""(?:\s+(?:"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|\((?:\\.|[^()\\])*\)))?"""
_INLINE = r"\[(" + _LABEL + r")\]\(\s*(" + _DEST + r")" + _TITLE + r"\s*\)"
_IMAGE = re.compile(r"(?<!\\)!" + _INLINE)
_LINK = re.compile(r"(?<!\\)" + _INLINE)
_DEFINITION = re.compile(r"(?<!\\)((?:\\\\)*)\[(" + _LABEL + r")\]:")
# "![", "](" and "][" not already escaped (preceded by an even number of backslashes)
_UNESCAPED_IMAGE = re.compile(r"(?<!\\)((?:\\\\)*)!\[")
_UNESCAPED_CLOSE = re.compile(r"(?<!\\)((?:\\\\)*)\]([(\[])")
_AUTOLINK_OK = re.compile(r"<(?:https?://|mailto:)[^\s<>`\ue000\ue001]*>", re.IGNORECASE)
_WEB_URL = re.compile(r"(?:https?://|mailto:)[^\s<>`\\]+", re.IGNORECASE)


def _hold_code(text: str, held: list[str]) -> str:
    """Replace fenced code blocks and code spans by numbered markers (kept verbatim: nothing
    in code renders). Only what CommonMark surely treats as code is held; anything
    doubtful is sanitised like prose (at worst a stray backslash shows)."""

    def hold(chunk: str) -> str:
        held.append(chunk)
        return f"{_HOLD_OPEN}{len(held) - 1}{_HOLD_CLOSE}"

    if "$$" in text or re.search(r"^ *:::", text, re.MULTILINE):
        return text  # a math or directive block could contain a fence line: hold nothing
    out: list[str] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        match = _FENCE_OPEN.match(lines[index])
        if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
            fence = match.group(1)
            run = re.escape(fence[0]) + "{" + str(len(fence)) + ",}"
            closing = re.compile(r"^ {0,3}" + run + r"\s*$")
            end = index + 1
            while end < len(lines) and not closing.match(lines[end]):
                end += 1
            out.append(hold("\n".join(lines[index : end + 1])))
            index = end + 1
            continue
        out.append(lines[index])
        index += 1
    prose = "\n".join(out)
    spans = _code_spans(prose)
    for start, end in reversed(spans):
        prose = prose[:start] + hold(prose[start:end]) + prose[end:]
    return prose


def _code_spans(prose: str) -> list[tuple[int, int]]:
    """(start, end) of the code spans CommonMark surely sees in ``prose`` (fences held
    already); none at all when the pairing is in doubt."""
    if "$" in prose or _DIRECTIVE.search(prose):
        return []
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in prose.split("\n"):
        runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(line)]
        index, line_spans = 0, []
        while index < len(runs):
            start, end = runs[index]
            before = line[:start]
            if (len(before) - len(before.rstrip("\\"))) % 2:
                start += 1  # outside code, an escaped backtick is literal; the rest counts
            if start == end:
                index += 1
                continue
            # Inside code a backslash is literal: the closer is the next run of the
            # same length, escaped-looking or not.
            closer = next(
                (j for j in range(index + 1, len(runs)) if runs[j][1] - runs[j][0] == end - start),
                None,
            )
            if closer is None:
                return []  # a run left open: the renderer may pair it on another line
            line_spans.append((offset + start, offset + runs[closer][1]))
            index = closer + 1
        if "|" not in line:  # a table row splits its cells before finding code
            spans.extend(line_spans)
        offset += len(line) + 1
    return spans


def _show_target(dest: str) -> str:
    dest = dest.strip()
    if dest.startswith("<") and dest.endswith(">"):
        dest = dest[1:-1]
    if _WEB_URL.fullmatch(dest):
        return f"<{dest}>"  # an autolink: its visible text is its target
    return md_escape(dest)


def _link(match: re.Match[str]) -> str:
    text, dest = match.group(1), match.group(2)
    target = _show_target(dest)
    if not text.strip() or text.strip() == dest.strip().strip("<>"):
        return target
    return f"{text} ({target})"


def _image(match: re.Match[str]) -> str:
    alt, dest = match.group(1), match.group(2)
    where = md_escape(dest.strip().strip("<>"))
    return f"\\[image not loaded: {md_escape(alt)} \\- {where}\\]"


def safe_markdown(text: str) -> str:
    """Claude's Markdown with formatting kept, but no image loads (a reply influenced by
    data or a tool result must not be able to make a browser fetch a URL) and no link
    hides its target (no "sign in again" link pointing elsewhere)."""
    text = str(text).replace(_HOLD_OPEN, "").replace(_HOLD_CLOSE, "")
    held: list[str] = []
    text = _hold_code(text, held)
    # Raw HTML (an <img>, a <a href>) shows as text; http(s)/mailto autolinks stay.
    text = re.sub(
        r"<",
        lambda m: "<" if _AUTOLINK_OK.match(text, m.start()) else "&lt;",
        text,
    )
    # Reference definitions are shown literally, so reference-style links and images
    # ("![x][logo]" with "[logo]: http://...") never resolve to a URL.
    text = _DEFINITION.sub(lambda m: f"{m.group(1)}\\[{m.group(2)}\\]:", text)
    text = _IMAGE.sub(_image, text)
    text = _UNESCAPED_IMAGE.sub(r"\1!\\[", text)  # any image form not taken above
    text = _LINK.sub(_link, text)
    # Whatever inline link or reference the patterns did not take (nested brackets...)
    text = _UNESCAPED_CLOSE.sub(r"\1\\]\2", text)
    return _HELD.sub(lambda m: held[int(m.group(1))], text)


def model_markdown(text: str) -> None:
    """Claude's reply, rendered as Markdown through ``safe_markdown``."""
    st.markdown(safe_markdown(text))


def stream_model_markdown(chunks: Iterable[str]) -> str:
    """Stream a reply: the whole text so far is re-rendered safely after each chunk (a
    construct split over chunks is judged once it is complete)."""
    slot = st.empty()
    text = ""
    for chunk in chunks:
        text += chunk
        slot.markdown(safe_markdown(text))
    return text


def user_text(text: str) -> None:
    st.text(text)
