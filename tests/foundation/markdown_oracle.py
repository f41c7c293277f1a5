"""An independent CommonMark parser (markdown-it-py) used as an oracle: what would a
Markdown renderer make of a string that the app hands to Streamlit?"""

from __future__ import annotations

from urllib.parse import unquote

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# Structure that stored text must never produce once escaped.
_STRUCTURE = {
    "heading_open",
    "table_open",
    "em_open",
    "strong_open",
    "s_open",
    "bullet_list_open",
    "ordered_list_open",
    "blockquote_open",
    "hr",
    "fence",
}


def _walk(tokens):
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


def problems(source: str, *, literal: bool) -> list[str]:
    """Images, raw HTML and links whose visible text is not their target, in ``source``.

    ``literal=True`` (stored text): any link or Markdown structure at all is a problem.
    """
    found: list[str] = []
    tokens = list(_walk(_MD.parse(source)))
    for index, token in enumerate(tokens):
        if token.type == "image":
            found.append(f"image {token.attrs.get('src')!r}")
        elif token.type in ("html_inline", "html_block"):
            found.append(f"html {token.content!r}")
        elif token.type == "link_open":
            href = unquote(str(token.attrs.get("href") or ""))
            shown = ""
            for follower in tokens[index + 1 :]:
                if follower.type == "link_close":
                    break
                shown += follower.content
            shown = unquote(shown)
            if literal or (shown != href and "mailto:" + shown != href):
                found.append(f"link {shown!r} -> {href!r}")
        elif literal and token.type in _STRUCTURE:
            found.append(token.type)
    return found
